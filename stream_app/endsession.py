"""NVCF's end-session request and the stream app's answer to it (docs/protocol.md section 6).

NVCF's streaming sidecar calls ``POST /v1/streaming/endsession`` after the client's connection
drops, and calls it again until the answer is ``COMPLETE`` or its reconnect window (300 s by
default) is over; then it calls once more with ``"gracefulShutdown": true``, which must end the
session. While the session may still be resumed the app answers ``AWAITING_RESUME``.

Source of the contract: Omniverse Kit's ``omni.services.livestream.nvcf`` extension, whose
``end_session`` handler takes ``{"sessionId": str?, "gracefulShutdown": bool?}`` and answers
``{"sessionStatus": "AWAITING_RESUME" | "COMPLETE"}`` (the resume window starts at the first call,
``gracefulShutdown`` ends the session at once); and NVIDIA's notes on its NICLLS sidecar, which
polls the endpoint for up to the reconnect window (header ``X-NVCF-RECONNECT-WINDOW-SECS``, capped
at 1800 s) and then sends ``gracefulShutdown=true``.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

AWAITING_RESUME = "AWAITING_RESUME"
COMPLETE = "COMPLETE"


class EndSessionError(ValueError):
    """An end-session body that cannot be read; the message says which part."""


@dataclass(frozen=True)
class EndSessionRequest:
    """What the sidecar asks: end the session now (`graceful`) or only if it cannot be resumed."""

    session_id: str | None = None
    graceful: bool = False


def parse_end_session(body: bytes) -> EndSessionRequest:
    """Read an end-session body; an empty body is ``{}`` (both fields are optional in Kit's model)."""
    if not body.strip():
        return EndSessionRequest()
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise EndSessionError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EndSessionError('body must be a JSON object {"sessionId": ..., "gracefulShutdown": ...}')
    session_id = data.get("sessionId")
    if session_id is not None and not isinstance(session_id, str):
        raise EndSessionError("sessionId must be a string")
    graceful = data.get("gracefulShutdown")
    if graceful is not None and not isinstance(graceful, bool):
        raise EndSessionError("gracefulShutdown must be true or false")
    return EndSessionRequest(session_id=session_id, graceful=bool(graceful))


class EndSessionAction(enum.Enum):
    """What the stream app does with an end-session request."""

    END_NOW = "end now"  # answer COMPLETE once the session has ended
    KEEP = "keep"  # answer AWAITING_RESUME; the session goes on (or waits to be resumed)
    NOTHING = "nothing"  # no session: answer COMPLETE


def decide_end_session(request: EndSessionRequest, *, has_session: bool) -> EndSessionAction:
    """The one rule: only `gracefulShutdown` ends a session; otherwise it is kept while it may resume.

    A session that is still connected is kept too: the sidecar calls once the client's connection
    dropped, and the app learns of the drop (or of a clean close) from its own WebSocket, which
    decides between the resume window and the end. The window's own timer ends the session when it
    runs out, so the next call answers COMPLETE.
    """
    if not has_session:
        return EndSessionAction.NOTHING
    return EndSessionAction.END_NOW if request.graceful else EndSessionAction.KEEP
