"""WebSocket close codes the proxy sends when it refuses or ends a session (docs/protocol.md 1).

The proxy completes the browser's handshake before refusing, because a page cannot read the HTTP
status of a failed WebSocket handshake but can read a close code and reason.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

MAX_REASON_BYTES: Final = 123
"""A close frame's payload is at most 125 bytes; the code takes 2."""


def reason_bytes(reason: str) -> bytes:
    """The reason as at most 123 bytes of valid UTF-8.

    A cut inside a character would make the receiver fail the connection with 1007 (a browser
    then reports 1006), losing the close code the reason was meant to explain.
    """
    return reason.encode()[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode()


class CloseCode(IntEnum):
    """The close codes the proxy sends or acts on (docs/protocol.md 1).

    Those of the 4000-4999 private range are named after the HTTP status they mirror (4001: from
    the page); the others are RFC 6455's.
    """

    PAGE_HIDDEN = 4001
    """Sent by the page as it unloads (a reload or a closed tab): the proxy keeps the upstream
    session for `PROXY_RELOAD_GRACE` seconds for the same tab to resume, then ends it with 1000."""

    BAD_REQUEST = 4400
    """Malformed request, e.g. a bad `function` parameter."""

    TOKEN_INVALID = 4401
    """The token is missing or invalid; no upstream connection was opened."""

    FORBIDDEN = 4403
    """The token is valid but the user may not open this streaming function."""

    UNKNOWN_FUNCTION = 4404
    """No streaming function of that name."""

    SESSION_TIMEOUT = 4408
    """The token expired, the session time limit was reached, or the session sat idle too long."""

    TOO_MANY_SESSIONS = 4409
    """The user already has as many sessions open as the policy allows."""

    SESSION_GONE = 4410
    """A resume was asked for but the upstream no longer has that session."""

    RATE_LIMITED = 4429
    """Too many sign-ins by this user (when the token came in a first message, after the upgrade)."""

    UPSTREAM_REFUSED = 4502
    """The upstream refused the handshake, or could not be reached at all."""

    UPSTREAM_BUSY = 4503
    """The upstream answered 503 (no instance free), or the proxy cannot check tokens right now."""

    UPSTREAM_TIMEOUT = 4504
    """The upstream did not complete the handshake in time."""

    NORMAL = 1000
    """A held session whose page did not come back is ended with this (`page closed`)."""

    GOING_AWAY = 1001
    """The proxy is shutting down, or a bridged session was cut short (`going away`)."""

    NO_STATUS = 1005
    """Never sent: how a close frame without a code is recorded (in logs and bridge results)."""

    ABNORMAL = 1006
    """Never sent: how a connection that ended without a close frame is recorded."""

    MESSAGE_TOO_BIG = 1009
    """A message over the proxy's size limit."""

    INTERNAL_ERROR = 1011
    """Sent on in place of a side that dropped without a close frame (1006 may not be sent)."""
