"""Relay sessions: which instance each session id was routed to, and whether it may be resumed.

NVCF's relay binds a session to its connection. Whenever the client's connection ends, the relay
asks the instance, as NVCF's streaming sidecar does, with ``POST /v1/streaming/endsession``
(``gracefulShutdown: false``) and asks again while it answers ``AWAITING_RESUME``. Meanwhile the
session holds its instance: a reconnect presenting the session id reaches that same instance, and
no new session is routed there. The session ends when the instance answers ``COMPLETE`` (or cannot
be reached), or when the reconnect window is over: then the relay sends ``gracefulShutdown: true``,
which ends the app's session too.

Source: NVIDIA's notes on the NICLLS streaming sidecar (it polls endsession for up to its reconnect
window, 300 s by default, ``X-NVCF-RECONNECT-WINDOW-SECS`` capped at 1800 s, then sends
``gracefulShutdown=true``) and Kit's ``omni.services.livestream.nvcf`` handler it talks to.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from deploy.nvcf_local.instance import FunctionInstance, InstanceState

logger = logging.getLogger(__name__)

NO_EXISTING_SESSION = "no existing session"
ALREADY_CONNECTED = "session already connected"
AWAITING_RESUME = "AWAITING_RESUME"
COMPLETE = "COMPLETE"
RECONNECT_WINDOW_HEADER = "X-NVCF-RECONNECT-WINDOW-SECS"
MAX_RECONNECT_WINDOW = 1800.0
_FIRST_POLL_PAUSE = 0.1


def reconnect_window(header: str | None, default: float) -> float:
    """The window a sign-in asks for with ``X-NVCF-RECONNECT-WINDOW-SECS``, capped at 1800 s as NVCF
    caps it; `default` when the header is absent or not a number of seconds >= 0."""
    try:
        value = float(header) if header is not None else default
    except ValueError:
        return default
    return min(value, MAX_RECONNECT_WINDOW) if value >= 0 else default


def poll_pauses(longest: float) -> Iterator[float]:
    """Pauses between endsession calls: short at first (a clean end is seen at once), doubling to `longest`."""
    pause = min(_FIRST_POLL_PAUSE, longest)
    while True:
        yield pause
        pause = min(pause * 2, longest)


class ResumeProblem(enum.Enum):
    """Why a session id cannot be resumed; the value is the refusal's reason."""

    UNKNOWN = NO_EXISTING_SESSION
    CONNECTED = ALREADY_CONNECTED


@dataclass
class RelaySession:
    """One session id: its function, the instance holding it, and its connection state."""

    session_id: str
    function_id: str
    instance: FunctionInstance
    connected: bool = True
    reconnect_window: float = 300.0
    watch: asyncio.Task[None] | None = None


class SessionTable:
    """Every session the relay knows, by id."""

    def __init__(self, poll_interval: float = 2.0) -> None:
        self._sessions: dict[str, RelaySession] = {}
        self._poll_interval = poll_interval

    def open(self, function_id: str, instance: FunctionInstance, reconnect_window: float) -> RelaySession:
        """A new, connected session on `instance` (which its caller had claimed)."""
        session = RelaySession(
            session_id=str(uuid.uuid4()), function_id=function_id, instance=instance, reconnect_window=reconnect_window
        )
        self._sessions[session.session_id] = session
        instance.session_id = session.session_id
        instance.claimed = False
        return session

    def resume(self, session_id: str, function_id: str) -> RelaySession | ResumeProblem:
        """The waiting session with this id, or why it cannot be resumed."""
        session = self._sessions.get(session_id)
        if (
            session is None
            or session.function_id.lower() != function_id.lower()
            or session.instance.state is InstanceState.EXITED
        ):
            return ResumeProblem.UNKNOWN
        if session.connected:
            return ResumeProblem.CONNECTED
        return session

    def reconnected(self, session: RelaySession) -> None:
        """The session's client is back: stop asking the instance to end it."""
        session.connected = True
        self._stop_watch(session)

    def disconnected(self, session: RelaySession) -> None:
        """The client's connection ended: ask the instance whether the session may be resumed."""
        session.connected = False
        self._stop_watch(session)
        session.watch = asyncio.create_task(self._watch(session), name=f"endsession {session.session_id}")

    async def _watch(self, session: RelaySession) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + session.reconnect_window
        pauses = poll_pauses(self._poll_interval)
        while True:
            status = await session.instance.end_session(session.session_id, graceful=False)
            if status != AWAITING_RESUME:
                logger.info("session %s: over (%s)", session.session_id, status or "instance unreachable")
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                logger.info(
                    "session %s: reconnect window of %g s over; ending it gracefully",
                    session.session_id,
                    session.reconnect_window,
                )
                await session.instance.end_session(session.session_id, graceful=True)
                break
            await asyncio.sleep(min(next(pauses), remaining))
        session.watch = None
        self.end(session)

    def _stop_watch(self, session: RelaySession) -> None:
        if session.watch is not None and session.watch is not asyncio.current_task():
            session.watch.cancel()
        session.watch = None

    def end(self, session: RelaySession) -> None:
        """Forget the session and free its instance for new sessions."""
        self._stop_watch(session)
        self._sessions.pop(session.session_id, None)
        if session.instance.session_id == session.session_id:
            session.instance.session_id = None

    async def close(self) -> None:
        """Stop every watch (nvcf-local is stopping; its instances go with it)."""
        watches = [s.watch for s in self._sessions.values() if s.watch is not None]
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)

    def for_instance(self, instance: FunctionInstance) -> list[RelaySession]:
        """Sessions held by `instance`."""
        return [s for s in self._sessions.values() if s.instance is instance]
