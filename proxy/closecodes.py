"""WebSocket close codes the proxy sends when it refuses a session (docs/protocol.md section 1).

The proxy completes the browser's handshake before refusing, because a page cannot read the HTTP
status of a failed WebSocket handshake but can read a close code and reason.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """Close codes of the 4000-4999 private range, named after the HTTP status they mirror."""

    TOKEN_INVALID = 4401
    """The token is missing or invalid; no upstream connection was opened."""

    FORBIDDEN = 4403
    """The token is valid but the user may not use this streaming function (not used yet)."""

    UPSTREAM_REFUSED = 4502
    """The upstream refused the handshake, or could not be reached at all."""

    UPSTREAM_BUSY = 4503
    """The upstream answered 503: no instance can take a session now."""

    UPSTREAM_TIMEOUT = 4504
    """The upstream did not complete the handshake in time."""
