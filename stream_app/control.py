"""NVCF's control server: readiness and the STUN/TURN credentials NVCF pushes."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from stream_app.app_state import STATE, StreamAppState
from stream_app.creds import CredsError, parse_creds
from stream_app.lifecycle import REASON_ENDSESSION

logger = logging.getLogger(__name__)

_MAX_BODY = 16 * 1024


async def ready(request: web.Request) -> web.Response:
    """200 when a session can start now, 500 while one runs (NVCF routes on this)."""
    state = request.app[STATE]
    session = state.slot.current
    if session is not None:
        reason = "a streaming session is waiting to resume" if session.waiting else "a streaming session is running"
        return web.json_response({"ready": False, "reason": reason}, status=500)
    return web.json_response({"ready": True})


async def startup(request: web.Request) -> web.Response:
    """200 once the servers listen and the app has been made, 503 before."""
    if request.app[STATE].started:
        return web.json_response({"started": True})
    return web.json_response({"started": False, "reason": "the stream app is starting"}, status=503)


async def endsession(request: web.Request) -> web.Response:
    """End the running (or resume-waiting) session: 200 with its id, 404 when there is none."""
    session = await request.app[STATE].slot.end_current(REASON_ENDSESSION)
    if session is None:
        return web.json_response({"error": "no streaming session is running"}, status=404)
    return web.json_response({"ended": session.id, "reason": session.end_reason})


async def creds(request: web.Request) -> web.Response:
    """Validate and cache `{"stunIp", "stunPort", "username", "password"}`; a bad body changes nothing."""
    state = request.app[STATE]
    try:
        body = json.loads(await request.read())
    except ValueError as exc:
        return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
    except RecursionError:
        return web.json_response({"error": "body is not JSON: nested too deeply"}, status=400)
    try:
        state.creds = parse_creds(body)
    except CredsError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    logger.info("cached STUN/TURN credentials for %s:%s", state.creds.stun_ip, state.creds.stun_port)
    return web.json_response({"status": "ok"})


def make_control_app(state: StreamAppState) -> web.Application:
    """The control server: `GET /v1/streaming/ready`, `GET /v1/streaming/startup`,
    `POST /v1/streaming/creds`, `POST /v1/streaming/endsession`."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[STATE] = state
    app.router.add_get("/v1/streaming/ready", ready)
    app.router.add_post("/v1/streaming/creds", creds)
    app.router.add_get("/v1/streaming/startup", startup)
    app.router.add_post("/v1/streaming/endsession", endsession)
    return app
