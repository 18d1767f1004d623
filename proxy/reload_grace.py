"""Upstream sessions kept open for a few seconds after their page unloaded, for that tab's reload.

A page that unloads (a reload, or a closed tab: it cannot tell which) closes with 4001. Passing
that on would leave the stream app holding the session for its whole resume window (a closed
tab's instance stays busy, so the next visitor hears "No capacity"); ending it would make a
reload start from nothing. So the proxy keeps the upstream connection open for `grace` seconds:
the same tab's reload, offering `resume` with its signed cookie, gets it back at once (the proxy
closes it with 1001, which the app keeps in its resume window, and resumes); otherwise it is
closed with 1000 and the app frees itself. Held sessions live in this process only: a reload
that lands on another replica waits out the grace and then starts a fresh session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import aiohttp

logger = logging.getLogger("proxy.session")

PAGE_CLOSED: Final = b"page closed"
PAGE_RELOADED: Final = b"page reloaded"


class HeldSessions:
    """Upstream WebSockets by upstream session id, each ended after `grace` seconds unless resumed."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._held: dict[str, tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]] = {}

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, session_id: str, upstream: aiohttp.ClientWebSocketResponse) -> None:
        """Keep `upstream` open for the grace time, then close it with 1000."""
        ending = asyncio.create_task(self._end_after_grace(session_id, upstream), name=f"held {session_id}")
        self._held[session_id] = (upstream, ending)

    async def _end_after_grace(self, session_id: str, upstream: aiohttp.ClientWebSocketResponse) -> None:
        await asyncio.sleep(self.grace)
        self._held.pop(session_id, None)
        logger.info("held session %s: no reload within %gs, ending it", session_id, self.grace)
        await upstream.close(code=1000, message=PAGE_CLOSED)

    async def release_for_resume(self, session_id: str) -> bool:
        """If `session_id` is held, close it with 1001 (the app keeps it to be resumed); True if it was."""
        held = self._held.pop(session_id, None)
        if held is None:
            return False
        upstream, ending = held
        ending.cancel()
        await asyncio.gather(ending, return_exceptions=True)
        await upstream.close(code=1001, message=PAGE_RELOADED)
        return True

    async def end_all(self) -> None:
        """Close every held session with 1000 (the proxy is stopping)."""
        held, self._held = list(self._held.values()), {}
        for upstream, ending in held:
            ending.cancel()
            await asyncio.gather(ending, return_exceptions=True)
            await upstream.close(code=1000, message=PAGE_CLOSED)
