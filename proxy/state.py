"""What one proxy app holds while it runs: keys, limits, sessions, metrics, drain state.

Kept in the app under `STATE` (a typed `web.AppKey`); nothing lives in module globals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import aiohttp
from aiohttp import web

from proxy.bridge import BridgeResult
from proxy.config import ProxyConfig
from proxy.limits import Limits
from proxy.metrics import ProxyMetrics
from proxy.preauth import PreAuthGate
from proxy.reload_grace import HeldSessions
from proxy.resume import ResumeSigner
from proxy.tokens import TokenHeader


class Keys(Protocol):
    """A key source that can also say whether it is ready (`proxy.signing_keys`)."""

    @property
    def ready(self) -> bool: ...

    async def key_for(self, header: TokenHeader) -> Any: ...


@dataclass(eq=False)  # Kept in a set: identity is what matters.
class Session:
    """One bridged session: the browser's WebSocket and the bridge task moving its messages."""

    ws: web.WebSocketResponse
    bridging: asyncio.Task[BridgeResult]
    stop: asyncio.Future[tuple[int, str]]
    """Given a (code, reason), the bridge closes both sides with it."""

    def end(self, code: int, reason: str) -> None:
        """Ask the bridge to close both sides with `code` and `reason`."""
        if not self.stop.done():
            self.stop.set_result((code, reason))


UPSTREAM_OK_SECONDS: Final = 5.0
"""How long a readiness probe's view of a reachable upstream is reused (probes come often)."""
UPSTREAM_DOWN_SECONDS: Final = 1.0
"""How long an unreachable upstream stays the answer: short, so recovery shows at once."""


class UpstreamCheck:
    """Whether the upstream's TCP port answers: one check in flight at a time, its result cached.

    However many probes arrive together, at most one connection is opened; a reachable upstream
    is not checked again for `UPSTREAM_OK_SECONDS`, an unreachable one for `UPSTREAM_DOWN_SECONDS`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._result: tuple[bool, float] | None = None  # (reachable, when)
        self._running: asyncio.Task[bool] | None = None

    async def reachable(self, check: Callable[[], Awaitable[bool]]) -> bool:
        """The cached result while fresh, else the result of the check in flight (or of a new one)."""
        if self._result is not None:
            ok, at = self._result
            if self._clock() - at < (UPSTREAM_OK_SECONDS if ok else UPSTREAM_DOWN_SECONDS):
                return ok
        if self._running is None:
            self._running = asyncio.ensure_future(self._run(check))
        # Shielded: one probe giving up must not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    async def _run(self, check: Callable[[], Awaitable[bool]]) -> bool:
        try:
            ok = await check()
            self._result = (ok, self._clock())
            return ok
        finally:
            self._running = None


@dataclass
class ProxyState:
    """The running proxy's state; built by `make_app`, the keys and HTTP client at start-up."""

    config: ProxyConfig
    metrics: ProxyMetrics
    keys: Keys
    http: aiohttp.ClientSession
    limits: Limits
    resume: ResumeSigner
    preauth: PreAuthGate
    held: HeldSessions
    sessions: set[Session] = field(default_factory=set)
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    upstream_check: UpstreamCheck = field(default_factory=lambda: UpstreamCheck())


STATE: Final = web.AppKey("state", ProxyState)
