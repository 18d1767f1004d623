"""The streaming server: the WebSocket sign-in at `STREAMING_START_ENDPOINT`, one session at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiortc import MediaStreamTrack

from stream_app.app_state import STATE, StreamAppState
from stream_app.session import CLOSE_BUSY, StreamingSession

logger = logging.getLogger(__name__)

SUBPROTOCOL = "nvcf-stream-v1"
TRACK_FACTORY: web.AppKey[Callable[[], MediaStreamTrack]] = web.AppKey("track_factory")

# Larger than any valid signaling message, so an oversized one is answered with an error
# message (see signaling.MAX_MESSAGE_BYTES) rather than by aiohttp closing the session.
_MAX_WS_MESSAGE = 1024 * 1024


async def sign_in(request: web.Request) -> web.WebSocketResponse:
    """Accept the sign-in WebSocket and run a session on it, or close it at once when busy."""
    state = request.app[STATE]
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=_MAX_WS_MESSAGE, heartbeat=20)
    await ws.prepare(request)
    if state.slot.busy:
        logger.info("refused a sign-in: a session is running")
        await ws.close(code=CLOSE_BUSY, message=b"stream app busy")
        return ws
    session = StreamingSession(ws, state.config, state.creds, request.app[TRACK_FACTORY])
    # No await since the check above, so no other sign-in can have taken the slot.
    claimed = state.slot.claim(session)
    assert claimed
    logger.info("session %s: started (from %s)", session.id, request.remote)
    try:
        await session.run()
    finally:
        state.slot.release(session)
        logger.info("session %s: ended", session.id)
    return ws


async def _close_session(app: web.Application) -> None:
    session = app[STATE].slot.current
    if session is not None:
        await session.close()


def make_streaming_app(state: StreamAppState, make_track: Callable[[], MediaStreamTrack]) -> web.Application:
    """The streaming server; `make_track` makes the video track for each session."""
    app = web.Application()
    app[STATE] = state
    app[TRACK_FACTORY] = make_track
    app.router.add_get(state.config.start_endpoint, sign_in)
    app.on_shutdown.append(_close_session)
    return app
