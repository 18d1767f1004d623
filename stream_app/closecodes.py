"""WebSocket close codes the stream app sends on the sign-in WebSocket (docs/protocol.md 3 and 6).

The client's close with `NORMAL` is also what ends a session for good; any other close (or a
drop) keeps it for the resume window.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """The stream app's close codes: RFC 6455's, with the reasons of docs/protocol.md section 6."""

    NORMAL = 1000
    """The session ended for good (`ended by client`, `ended by endsession`, `idle timeout`,
    `shutting down`); from the client, it ends the session instead of waiting for a resume."""

    MEDIA_FAILED = 1011
    """The app could not provide its media (`media failed`), or ICE/DTLS failed
    (`media connection failed`)."""

    BUSY = 1013
    """Try again later: another session is running (`stream app busy`), or no UDP port is free in
    the media range (`no free media port`)."""
