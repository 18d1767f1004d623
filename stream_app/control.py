"""NVCF's control server: readiness and the STUN/TURN credentials NVCF pushes."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from observability import set_log_context
from stream_app.app_state import STATE, StreamAppState
from stream_app.creds import CredsError, parse_creds
from stream_app.endsession import (
    AWAITING_RESUME,
    COMPLETE,
    EndSessionAction,
    EndSessionError,
    decide_end_session,
    parse_end_session,
)
from stream_app.session import REASON_ENDSESSION

logger = logging.getLogger(__name__)

_MAX_BODY = 16 * 1024
_SETTLE_TIMEOUT = 2.0


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
    """NVCF's end-session call (see `stream_app.endsession`): 200 ``{"sessionStatus": ...}``.

    ``AWAITING_RESUME`` while the session may still be resumed; ``COMPLETE`` once there is none, or
    after ``"gracefulShutdown": true`` has ended it and released its ports.
    """
    try:
        asked = parse_end_session(await request.read())
    except EndSessionError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    slot = request.app[STATE].slot
    session = slot.current
    if session is not None and session.connection_closing:
        # The sidecar calls right after the connection closed: answer for the session as the close
        # leaves it (ended by a clean close, or waiting for a resume), not as it was a moment before.
        await session.phase_change(_SETTLE_TIMEOUT)
    if session is not None and session.ended:
        # Ended, still releasing its ports (closing the peer connection takes a moment): it is
        # no session to keep; answer once it is gone.
        await session.over.wait()
        session = slot.current
    if session is not None:
        set_log_context(session_id=session.id)
    action = decide_end_session(asked, has_session=session is not None)
    logger.info(
        "endsession (sessionId %s, gracefulShutdown %s): %s",
        asked.session_id or "none",
        str(asked.graceful).lower(),
        action.value,
    )
    if session is None:
        return web.json_response({"sessionStatus": COMPLETE})
    if action is EndSessionAction.KEEP:
        return web.json_response({"sessionStatus": AWAITING_RESUME, "sessionId": session.id})
    await session.end(REASON_ENDSESSION)
    return web.json_response({"sessionStatus": COMPLETE, "sessionId": session.id, "reason": session.end_reason})


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


async def metrics(request: web.Request) -> web.Response:
    """The stream app's Prometheus metrics (docs/observability.md)."""
    body = generate_latest(request.app[STATE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _stop_metrics(app: web.Application) -> None:
    await app[STATE].metrics.close()


def make_control_app(state: StreamAppState) -> web.Application:
    """The control server: `GET /v1/streaming/ready`, `GET /v1/streaming/startup`,
    `POST /v1/streaming/creds`, `POST /v1/streaming/endsession`, and `GET /metrics`."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[STATE] = state
    app.router.add_get("/v1/streaming/ready", ready)
    app.router.add_post("/v1/streaming/creds", creds)
    app.router.add_get("/v1/streaming/startup", startup)
    app.router.add_post("/v1/streaming/endsession", endsession)
    app.router.add_get("/metrics", metrics)
    app.on_cleanup.append(_stop_metrics)
    return app
