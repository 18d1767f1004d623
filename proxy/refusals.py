"""Why the proxy refuses a request, and the one table that turns a refusal into a wire answer.

A `Refusal` is a value: its kind and a reason made of our own words (never a token), safe to send
and to log. Every part of the sign-in (the door middleware, the admission step, the upstream
handshake) returns one; only `wire_answer` decides what the client sees: an HTTP status, or a
WebSocket close code after the upgrade, because a page cannot read the status of a failed
WebSocket handshake but can read a close code and its reason (docs/protocol.md 1). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from types import MappingProxyType
from typing import Final

from proxy.closecodes import CloseCode


class RefusalKind(Enum):
    """What went wrong; its `outcome` names it in the handshake metrics and the session log."""

    ORIGIN_FORBIDDEN = auto()
    RATE_LIMITED = auto()
    LIMITS_UNAVAILABLE = auto()
    BAD_HANDSHAKE = auto()
    PREAUTH_FULL = auto()
    DRAINING = auto()
    TOKEN_REJECTED = auto()
    KEYS_UNAVAILABLE = auto()
    BAD_REQUEST = auto()
    UNKNOWN_FUNCTION = auto()
    FORBIDDEN = auto()
    TOO_MANY_SESSIONS = auto()
    SESSION_GONE = auto()
    UPSTREAM_REFUSED = auto()
    UPSTREAM_UNREACHABLE = auto()
    UPSTREAM_BUSY = auto()
    UPSTREAM_TIMEOUT = auto()

    @property
    def outcome(self) -> str:
        """The metric label and log word (a malformed upgrade counts as a `bad-request`)."""
        return _WIRE[self].outcome


@dataclass(frozen=True)
class Refusal:
    """A request the proxy will not serve: what kind of refusal, and a reason safe to show and log."""

    kind: RefusalKind
    reason: str

    @property
    def outcome(self) -> str:
        """See `RefusalKind.outcome`."""
        return self.kind.outcome


class Stage(Enum):
    """How far the request has come, which decides how a refusal can reach the client."""

    HTTP = "http"
    """A plain HTTP request, or the door of `/sign_in` (before anything of the upgrade is read)."""
    HANDSHAKE = "handshake"
    """A well-formed WebSocket upgrade, not answered yet: it may still be accepted to carry a code."""
    OPEN = "open"
    """The browser's WebSocket is open."""


@dataclass(frozen=True)
class HttpAnswer:
    """Answer with this HTTP status and the reason as the body."""

    status: int
    reason: str


@dataclass(frozen=True)
class CloseAnswer:
    """Accept the WebSocket if it is not open yet, then close it with this code and reason."""

    code: CloseCode
    reason: str


@dataclass(frozen=True)
class _Wire:
    outcome: str
    http_status: int
    close_code: CloseCode
    before_upgrade: bool
    """At `Stage.HANDSHAKE`, answered with the HTTP status rather than accepted and closed."""


# The door's refusals and a malformed upgrade are about the connection, not the user, and are
# answered before the upgrade; so is the user's sign-in rate, so that a client over it never gets
# an upgraded socket. Everything about the user, the function or the upstream is a close code.
_WIRE: Final = MappingProxyType(
    {
        RefusalKind.ORIGIN_FORBIDDEN: _Wire("origin-forbidden", 403, CloseCode.FORBIDDEN, True),
        RefusalKind.RATE_LIMITED: _Wire("rate-limited", 429, CloseCode.RATE_LIMITED, True),
        RefusalKind.LIMITS_UNAVAILABLE: _Wire("limits-unavailable", 503, CloseCode.UPSTREAM_BUSY, False),
        RefusalKind.BAD_HANDSHAKE: _Wire("bad-request", 400, CloseCode.BAD_REQUEST, True),
        RefusalKind.PREAUTH_FULL: _Wire("preauth-full", 503, CloseCode.UPSTREAM_BUSY, True),
        RefusalKind.DRAINING: _Wire("draining", 503, CloseCode.GOING_AWAY, False),
        RefusalKind.TOKEN_REJECTED: _Wire("token-rejected", 401, CloseCode.TOKEN_INVALID, False),
        RefusalKind.KEYS_UNAVAILABLE: _Wire("keys-unavailable", 503, CloseCode.UPSTREAM_BUSY, False),
        RefusalKind.BAD_REQUEST: _Wire("bad-request", 400, CloseCode.BAD_REQUEST, False),
        RefusalKind.UNKNOWN_FUNCTION: _Wire("unknown-function", 404, CloseCode.UNKNOWN_FUNCTION, False),
        RefusalKind.FORBIDDEN: _Wire("forbidden", 403, CloseCode.FORBIDDEN, False),
        RefusalKind.TOO_MANY_SESSIONS: _Wire("too-many-sessions", 409, CloseCode.TOO_MANY_SESSIONS, False),
        RefusalKind.SESSION_GONE: _Wire("session-gone", 410, CloseCode.SESSION_GONE, False),
        RefusalKind.UPSTREAM_REFUSED: _Wire("upstream-refused", 502, CloseCode.UPSTREAM_REFUSED, False),
        RefusalKind.UPSTREAM_UNREACHABLE: _Wire("upstream-unreachable", 502, CloseCode.UPSTREAM_REFUSED, False),
        RefusalKind.UPSTREAM_BUSY: _Wire("upstream-busy", 503, CloseCode.UPSTREAM_BUSY, False),
        RefusalKind.UPSTREAM_TIMEOUT: _Wire("upstream-timeout", 504, CloseCode.UPSTREAM_TIMEOUT, False),
    }
)


def wire_answer(refusal: Refusal, stage: Stage) -> HttpAnswer | CloseAnswer:
    """What the client gets for `refusal` at `stage`: the only place refusals meet the wire."""
    wire = _WIRE[refusal.kind]
    if stage is Stage.HTTP or (stage is Stage.HANDSHAKE and wire.before_upgrade):
        return HttpAnswer(wire.http_status, refusal.reason)
    return CloseAnswer(wire.close_code, refusal.reason)
