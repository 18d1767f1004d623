"""The streaming server: the WebSocket sign-in at `STREAMING_START_ENDPOINT`, one session at a time."""

from __future__ import annotations

import logging

from aiohttp import web

from observability import set_log_context
from stream_app.app_state import STATE, StreamAppState
from stream_app.client_connection import ClientConnection
from stream_app.closecodes import CloseCode
from stream_app.session import REASON_SHUTDOWN

logger = logging.getLogger(__name__)

SUBPROTOCOL = "nvcf-stream-v1"

# How long closing waits for the client to answer the close frame (aiohttp's default is 10 s).
_CLOSE_TIMEOUT = 2.0
# Larger than any valid signaling message, so an oversized one is answered with an error
# message (see signaling.MAX_MESSAGE_BYTES) rather than by aiohttp closing the session.
_MAX_WS_MESSAGE = 1024 * 1024


async def sign_in(request: web.Request) -> web.WebSocketResponse:
    """Accept the sign-in WebSocket: start a session, resume the waiting one, or close with 1013."""
    state = request.app[STATE]
    ws = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,), max_msg_size=_MAX_WS_MESSAGE, heartbeat=20, timeout=_CLOSE_TIMEOUT
    )
    await ws.prepare(request)
    # No await from here until the session is attached, so two sign-ins cannot both take the slot.
    session = state.slot.current
    if session is None:
        session = state.slot.start(state.app, state.config)
        set_log_context(session_id=session.id)  # every line of this connection names its session
        state.metrics.follow(session)
        resumed = False
        logger.info("session %s: started (from %s)", session.id, request.remote)
    elif session.waiting:
        set_log_context(session_id=session.id)
        resumed = True
    else:
        logger.info("refused a sign-in: a session is running")
        await ws.close(code=CloseCode.BUSY, message=b"stream app busy")
        return ws
    connection = ClientConnection(ws, session, state.creds, resumed)
    session.attach(connection)
    end_reason: str | None = None
    try:
        end_reason = await connection.run()
    finally:
        await session.connection_over(connection, end_reason)
    return ws


async def _end_session(app: web.Application) -> None:
    await app[STATE].slot.end_current(REASON_SHUTDOWN)


def make_streaming_app(state: StreamAppState) -> web.Application:
    """The streaming server; the session's media comes from `state.app`."""
    app = web.Application()
    app[STATE] = state
    app.router.add_get(state.config.start_endpoint, sign_in)
    app.on_shutdown.append(_end_session)
    return app
