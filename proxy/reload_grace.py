"""Upstream sessions kept open for a few seconds after their page unloaded, for that tab's reload.

A page that unloads (a reload, or a closed tab: it cannot tell which) closes with 4001. Passing
that on would leave the stream app holding the session for its whole resume window (a closed
tab's instance stays busy, so the next visitor hears "No capacity"); ending it would make a
reload start from nothing. So the proxy keeps the upstream connection open for `grace` seconds:
the same tab's reload, offering `resume` with its signed cookie, gets it back at once (the proxy
closes it with 1001, which the app keeps in its resume window, and resumes); otherwise it is
closed with 1000 and the app frees itself. Held sessions live in this process; with Redis
(`shared_holds.RedisHolds`) a reload that lands on another replica asks this one to let its
session go, and without Redis it waits out the grace and then starts a fresh session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Final

import aiohttp

from proxy.closecodes import CloseCode
from proxy.shared_holds import RedisHolds

logger = logging.getLogger("proxy.session")

PAGE_CLOSED: Final = b"page closed"
PAGE_RELOADED: Final = b"page reloaded"
# How long a replica waits for another to let go of a held session.
RELEASE_WAIT: Final = 1.0


class HeldSessions:
    """Upstream WebSockets by upstream session id, each ended after `grace` seconds unless resumed."""

    def __init__(self, grace: float, shared: RedisHolds | None = None) -> None:
        self.grace = grace
        self.shared = shared
        self._held: dict[str, tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        if shared is not None:
            shared.start(self.release_here)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, session_id: str, upstream: aiohttp.ClientWebSocketResponse) -> None:
        """Keep `upstream` open for the grace time, then close it with 1000."""
        ending = asyncio.create_task(self._end_after_grace(session_id, upstream), name=f"held {session_id}")
        self._held[session_id] = (upstream, ending)
        if self.shared is not None:
            self._in_background(self.shared.announce(session_id, self.grace))

    async def _end_after_grace(self, session_id: str, upstream: aiohttp.ClientWebSocketResponse) -> None:
        await asyncio.sleep(self.grace)
        self._held.pop(session_id, None)
        logger.info("held session %s: no reload within %gs, ending it", session_id, self.grace)
        await upstream.close(code=CloseCode.NORMAL, message=PAGE_CLOSED)
        if self.shared is not None:
            await self.shared.forget(session_id)

    async def release_for_resume(self, session_id: str) -> bool:
        """If `session_id` is held here or (with Redis) by another replica, have it closed with 1001
        (the app keeps it to be resumed); True once it is."""
        if await self.release_here(session_id):
            return True
        return self.shared is not None and await self.shared.release_elsewhere(session_id, RELEASE_WAIT)

    async def release_here(self, session_id: str) -> bool:
        """If this process holds `session_id`, close it with 1001; True if it did."""
        held = self._held.pop(session_id, None)
        if held is None:
            return False
        upstream, ending = held
        ending.cancel()
        await asyncio.gather(ending, return_exceptions=True)
        await upstream.close(code=CloseCode.GOING_AWAY, message=PAGE_RELOADED)
        if self.shared is not None:
            await self.shared.forget(session_id)
        return True

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run(), name="held-session bookkeeping")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def end_all(self) -> None:
        """Close every held session with 1000 (the proxy is stopping)."""
        held, self._held = list(self._held.values()), {}
        for upstream, ending in held:
            ending.cancel()
            await asyncio.gather(ending, return_exceptions=True)
            await upstream.close(code=CloseCode.NORMAL, message=PAGE_CLOSED)
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.shared is not None:
            await self.shared.close()
