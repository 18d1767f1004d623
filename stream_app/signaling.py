"""The signaling protocol between the web client and the stream app (docs/protocol.md section 3).

Pure: messages are dataclasses, `parse_client_message` validates text from the client and
`serialize` writes messages for it. The server only moves these over its WebSocket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024


class SignalingError(ValueError):
    """A client message that cannot be used. `code` is the protocol's error code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Hello:
    """Server's first message: the session id, the ICE servers to use, whether this sign-in
    resumes a waiting session, and the ICE transport policy the client should use."""

    session_id: str
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False
    ice_transport_policy: str = "all"


@dataclass(frozen=True)
class Offer:
    """Client's SDP offer."""

    sdp: str


@dataclass(frozen=True)
class Answer:
    """Server's SDP answer, with all of its ICE candidates."""

    sdp: str


@dataclass(frozen=True)
class IceCandidate:
    """One trickled ICE candidate, as the browser's `RTCIceCandidateInit`."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class EndOfCandidates:
    """The client has sent all its candidates."""


@dataclass(frozen=True)
class Bye:
    """The client ends the session for good."""


@dataclass(frozen=True)
class Error:
    """Server's answer to a message it could not use; the session goes on."""

    code: str
    reason: str


@dataclass(frozen=True)
class MediaReport:
    """Server's report of its sending side, about once a second while media flows: what the
    congestion control decided, for the page's stats overlay. Rates in kbit/s."""

    codec: str
    width: int
    height: int
    fps: float  # frames encoded per second over the last interval
    max_fps: float  # what the degradation ladder allows now
    target_kbps: int  # what the encoder is asked for
    estimate_kbps: int  # the send-side estimate
    pacing_kbps: int
    acknowledged_kbps: int  # what the receiver reported arriving
    limited_by: str  # delay, loss, max, remb, start, recovery
    delay_state: str  # normal, overusing, underusing
    loss_percent: float
    rtt_ms: float
    pacer_queue_ms: float
    frames_skipped: int  # not encoded because the pacer held older video (session total)
    retransmissions: int
    keyframes: int
    transport_cc: bool


ClientMessage = Offer | IceCandidate | EndOfCandidates | Bye
ServerMessage = Hello | Answer | Error | MediaReport


def _field(obj: dict[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    if name not in obj or obj[name] is None:
        if optional:
            return None
        raise SignalingError("bad-message", f"field {name!r} is missing")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SignalingError("bad-message", f"field {name!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def parse_client_message(text: str) -> ClientMessage:
    """Parse and validate one text message from the client."""
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise SignalingError("too-large", f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise SignalingError("bad-json", f"message is not JSON: {exc}") from None
    except RecursionError:
        raise SignalingError("bad-json", "message is nested too deeply") from None
    if not isinstance(obj, dict):
        raise SignalingError("bad-message", "message must be a JSON object")
    version = _field(obj, "v", int)
    if version != VERSION:
        raise SignalingError(
            "unsupported-version", f"protocol version {version} is not supported; this server speaks {VERSION}"
        )
    kind = _field(obj, "type", str)
    if kind == "bye":
        return Bye()
    if kind == "offer":
        return Offer(sdp=_field(obj, "sdp", str))
    if kind == "candidate":
        if "candidate" not in obj:
            raise SignalingError("bad-message", "field 'candidate' is missing")
        init = obj["candidate"]
        if init is None:
            return EndOfCandidates()
        if not isinstance(init, dict):
            raise SignalingError("bad-message", "field 'candidate' must be an object or null")
        mline = _field(init, "sdpMLineIndex", int, optional=True)
        if mline is not None and mline < 0:
            raise SignalingError("bad-message", "field 'sdpMLineIndex' must not be negative")
        return IceCandidate(
            candidate=_field(init, "candidate", str),
            sdp_mid=_field(init, "sdpMid", str, optional=True),
            sdp_mline_index=mline,
        )
    raise SignalingError("unknown-type", f"unknown message type {kind!r}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def serialize(message: ServerMessage) -> str:
    """Write a server message as JSON text."""
    body: dict[str, Any]
    if isinstance(message, Hello):
        body = {
            "type": "hello",
            "sessionId": message.session_id,
            "iceServers": message.ice_servers,
            "resumed": message.resumed,
            "iceTransportPolicy": message.ice_transport_policy,
        }
    elif isinstance(message, Answer):
        body = {"type": "answer", "sdp": message.sdp}
    elif isinstance(message, MediaReport):
        body = {"type": "media", **{_camel(name): value for name, value in vars(message).items()}}
    else:
        body = {"type": "error", "code": message.code, "reason": message.reason}
    return json.dumps({"v": VERSION, **body}, separators=(",", ":"))
