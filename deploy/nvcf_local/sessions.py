"""Relay sessions: which instance each session id was routed to, and whether it may be resumed.

NVCF's relay binds a session to its connection. When the client's connection ends uncleanly
(anything but a close with 1000 from the client, or a close by the instance) the session waits
for a reconnect for the function's resume window, holding its instance: a reconnect presenting
the session id reaches that same instance, and no new session is routed there meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from dataclasses import dataclass

from deploy.nvcf_local.instance import FunctionInstance, InstanceState

logger = logging.getLogger(__name__)

NO_EXISTING_SESSION = "no existing session"
ALREADY_CONNECTED = "session already connected"


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
    expiry: asyncio.TimerHandle | None = None


class SessionTable:
    """Every session the relay knows, by id."""

    def __init__(self) -> None:
        self._sessions: dict[str, RelaySession] = {}

    def open(self, function_id: str, instance: FunctionInstance) -> RelaySession:
        """A new, connected session on `instance` (which its caller had claimed)."""
        session = RelaySession(session_id=str(uuid.uuid4()), function_id=function_id, instance=instance)
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
        """The session's client is back: stop its expiry."""
        session.connected = True
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None

    def disconnected(self, session: RelaySession, window: float) -> None:
        """The client dropped: keep the session for `window` seconds, then end it."""
        session.connected = False
        if window <= 0:
            self.end(session)
            return
        session.expiry = asyncio.get_running_loop().call_later(window, self._expire, session)

    def _expire(self, session: RelaySession) -> None:
        if not session.connected and self._sessions.get(session.session_id) is session:
            logger.info("session %s: resume window over", session.session_id)
            self.end(session)

    def end(self, session: RelaySession) -> None:
        """Forget the session and free its instance for new sessions."""
        if session.expiry is not None:
            session.expiry.cancel()
        self._sessions.pop(session.session_id, None)
        if session.instance.session_id == session.session_id:
            session.instance.session_id = None

    def for_instance(self, instance: FunctionInstance) -> list[RelaySession]:
        """Sessions held by `instance`."""
        return [s for s in self._sessions.values() if s.instance is instance]
