"""NVCF's control server: readiness and the STUN/TURN credentials NVCF pushes."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from stream_app.app_state import STATE, StreamAppState
from stream_app.creds import CredsError, parse_creds

logger = logging.getLogger(__name__)

_MAX_BODY = 16 * 1024


async def ready(request: web.Request) -> web.Response:
    """200 when a session can start now, 500 while one runs (NVCF routes on this)."""
    state = request.app[STATE]
    if state.slot.busy:
        return web.json_response({"ready": False, "reason": "a streaming session is running"}, status=500)
    return web.json_response({"ready": True})


async def creds(request: web.Request) -> web.Response:
    """Validate and cache `{"stunIp", "stunPort", "username", "password"}`; a bad body changes nothing."""
    state = request.app[STATE]
    try:
        body = json.loads(await request.read())
    except ValueError as exc:
        return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
    try:
        state.creds = parse_creds(body)
    except CredsError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    logger.info("cached STUN/TURN credentials for %s:%s", state.creds.stun_ip, state.creds.stun_port)
    return web.json_response({"status": "ok"})


def make_control_app(state: StreamAppState) -> web.Application:
    """The control server: `GET /v1/streaming/ready`, `POST /v1/streaming/creds`."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[STATE] = state
    app.router.add_get("/v1/streaming/ready", ready)
    app.router.add_post("/v1/streaming/creds", creds)
    return app
