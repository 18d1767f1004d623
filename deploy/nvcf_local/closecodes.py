"""WebSocket close codes nvcf-local's relay sends of its own (docs/protocol.md section 2).

Otherwise the relay passes on whatever code the other side closed with (`proxy.bridge`).
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """The relay's own close codes (RFC 6455)."""

    GOING_AWAY = 1001
    """nvcf-local is stopping: each bridged session is closed on both sides."""

    INTERNAL_ERROR = 1011
    """The bridge between client and instance failed with an error."""
