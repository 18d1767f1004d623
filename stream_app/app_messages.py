"""The app channel's messages, both ways between the app and the page (docs/protocol.md section 7).

Pure and I/O-free: each message is a frozen dataclass that checks its fields when made (raising
`AppMessageError` with a reason), `serialize(message, seq)` writes one, and `parse_from_page` /
`parse_from_app` read one, refusing anything unusable with an error `code` and a `reason`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

VERSION = 1
CHANNEL = "app"
MAX_MESSAGE_BYTES = 64 * 1024
"""A whole message, UTF-8 JSON; aiortc's SCTP offers at most 64 KiB per message."""
MAX_REASON = 256
MAX_GAMEPADS = 4
MAX_RUMBLE_MS = 5000

CURSOR_SHAPES = (
    "default",
    "pointer",
    "text",
    "crosshair",
    "move",
    "grab",
    "grabbing",
    "wait",
    "progress",
    "help",
    "not-allowed",
    "cell",
    "zoom-in",
    "zoom-out",
    "ew-resize",
    "ns-resize",
    "nesw-resize",
    "nwse-resize",
)
"""The CSS `cursor` keywords an app may ask for; `visible: false` is CSS `none`."""

# Error codes, as in the signaling protocol where they mean the same.
BAD_JSON = "bad-json"
BAD_MESSAGE = "bad-message"
UNKNOWN_TYPE = "unknown-type"
UNSUPPORTED_VERSION = "unsupported-version"
TOO_LARGE = "too-large"
RATE_LIMIT = "rate-limit"
ERROR_CODES = (BAD_JSON, BAD_MESSAGE, UNKNOWN_TYPE, UNSUPPORTED_VERSION, TOO_LARGE, RATE_LIMIT)


class AppMessageError(ValueError):
    """A message that cannot be made or used; `code` is one of `ERROR_CODES`, `reason` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def _json_text(data: object) -> str:
    try:
        return json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise AppMessageError(BAD_MESSAGE, f"the message is not JSON: {exc}") from None


@dataclass(frozen=True)
class Message:
    """A custom message, either way: `data` is any JSON value (object, list, string, number, bool, null)."""

    data: Any

    def __post_init__(self) -> None:
        _json_text(self.data)


@dataclass(frozen=True)
class ClipboardText:
    """App to page: put `text` on the user's clipboard."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise AppMessageError(BAD_MESSAGE, f"clipboard text must be a string, not {type(self.text).__name__}")


@dataclass(frozen=True)
class Cursor:
    """App to page: draw the pointer over the picture as `shape` (one of `CURSOR_SHAPES`), or hide it."""

    shape: str = "default"
    visible: bool = True

    def __post_init__(self) -> None:
        if self.shape not in CURSOR_SHAPES:
            raise AppMessageError(
                BAD_MESSAGE, f"cursor shape must be one of {', '.join(CURSOR_SHAPES)}, not {self.shape!r}"
            )
        if not isinstance(self.visible, bool):
            raise AppMessageError(BAD_MESSAGE, "cursor visible must be true or false")


@dataclass(frozen=True)
class Rumble:
    """App to page: shake gamepad `index` for `duration` ms (the Gamepad API's `dual-rumble` effect)."""

    index: int = 0
    duration: int = 200
    strong_magnitude: float = 1.0
    weak_magnitude: float = 1.0

    def __post_init__(self) -> None:
        _check_int("index", self.index, 0, MAX_GAMEPADS - 1)
        _check_int("duration", self.duration, 1, MAX_RUMBLE_MS)
        _check_fraction("strongMagnitude", self.strong_magnitude)
        _check_fraction("weakMagnitude", self.weak_magnitude)


@dataclass(frozen=True)
class ChannelError:
    """Either way: the receiver refused `dropped` messages with `code`; `refused_seq` is the latest one's `seq`."""

    code: str
    reason: str
    refused_seq: int | None = None
    dropped: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not 1 <= len(self.code) <= 64:
            raise AppMessageError(BAD_MESSAGE, "error code must be a string of 1-64 characters")
        if not isinstance(self.reason, str) or len(self.reason) > MAX_REASON:
            raise AppMessageError(BAD_MESSAGE, f"error reason must be a string of at most {MAX_REASON} characters")
        if self.refused_seq is not None:
            _check_int("refusedSeq", self.refused_seq, 0, None)
        _check_int("dropped", self.dropped, 1, None)


AppToPage = Message | ClipboardText | Cursor | Rumble | ChannelError
PageToApp = Message | ChannelError


@dataclass(frozen=True)
class Received:
    """One message as it arrived: its sender's `seq` and the message."""

    seq: int
    message: AppToPage


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AppMessageError(BAD_MESSAGE, f"field {name!r} must be an integer, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        span = f"{low}-{high}" if high is not None else f">= {low}"
        raise AppMessageError(BAD_MESSAGE, f"field {name!r} must be {span}, not {value}")


def _check_fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AppMessageError(BAD_MESSAGE, f"field {name!r} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise AppMessageError(BAD_MESSAGE, f"field {name!r} must be 0..1, not {value}")


def _fields(message: AppToPage) -> dict[str, Any]:
    if isinstance(message, Message):
        return {"type": "message", "data": message.data}
    if isinstance(message, ClipboardText):
        return {"type": "clipboard", "text": message.text}
    if isinstance(message, Cursor):
        return {"type": "cursor", "shape": message.shape, "visible": message.visible}
    if isinstance(message, Rumble):
        return {
            "type": "rumble",
            "index": message.index,
            "duration": message.duration,
            "strongMagnitude": message.strong_magnitude,
            "weakMagnitude": message.weak_magnitude,
        }
    return {
        "type": "error",
        "code": message.code,
        "reason": message.reason,
        "refusedSeq": message.refused_seq,
        "dropped": message.dropped,
    }


def serialize(message: AppToPage, seq: int) -> str:
    """One message as it goes on the channel; `AppMessageError` (`too-large`) when it is over the limit."""
    text = _json_text({"v": VERSION, "seq": seq, **_fields(message)})
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        raise AppMessageError(TOO_LARGE, f"the message is {size} bytes; at most {MAX_MESSAGE_BYTES} are allowed")
    return text


def _get(obj: dict[str, Any], name: str) -> Any:
    if name not in obj:
        raise AppMessageError(BAD_MESSAGE, f"field {name!r} is missing")
    return obj[name]


def _envelope(data: str | bytes) -> tuple[dict[str, Any], str, int]:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise AppMessageError(TOO_LARGE, f"the message is {len(raw)} bytes; at most {MAX_MESSAGE_BYTES} are allowed")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise AppMessageError(BAD_JSON, f"the message is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise AppMessageError(BAD_MESSAGE, "the message must be a JSON object")
    version = _get(obj, "v")
    if version != VERSION or isinstance(version, bool):
        raise AppMessageError(
            UNSUPPORTED_VERSION, f"app channel version {version!r} is not supported; this side speaks {VERSION}"
        )
    kind = _get(obj, "type")
    if not isinstance(kind, str):
        raise AppMessageError(BAD_MESSAGE, f"field 'type' must be a string, not {type(kind).__name__}")
    seq = _get(obj, "seq")
    _check_int("seq", seq, 0, None)
    return obj, kind, int(seq)


def _error(obj: dict[str, Any]) -> ChannelError:
    return ChannelError(_get(obj, "code"), _get(obj, "reason"), obj.get("refusedSeq"), obj.get("dropped", 1))


def seq_of(data: str | bytes) -> int | None:
    """The `seq` of a message that may be unusable otherwise (for the error that refuses it), if it has one."""
    try:
        _, _, seq = _envelope(data)
    except AppMessageError:
        return None
    return seq


def parse_from_page(data: str | bytes) -> Received:
    """One message the page sent (`message` or `error`); `AppMessageError` for anything else."""
    obj, kind, seq = _envelope(data)
    if kind == "message":
        return Received(seq, Message(_get(obj, "data")))
    if kind == "error":
        return Received(seq, _error(obj))
    raise AppMessageError(UNKNOWN_TYPE, f"unknown message type {kind!r} from the page")


def parse_from_app(data: str | bytes) -> Received:
    """One message the app sent (what the page reads; tests use it); `AppMessageError` for anything else."""
    obj, kind, seq = _envelope(data)
    message: AppToPage
    if kind == "message":
        message = Message(_get(obj, "data"))
    elif kind == "clipboard":
        message = ClipboardText(_get(obj, "text"))
    elif kind == "cursor":
        message = Cursor(_get(obj, "shape"), _get(obj, "visible"))
    elif kind == "rumble":
        message = Rumble(
            _get(obj, "index"), _get(obj, "duration"), _get(obj, "strongMagnitude"), _get(obj, "weakMagnitude")
        )
    elif kind == "error":
        message = _error(obj)
    else:
        raise AppMessageError(UNKNOWN_TYPE, f"unknown message type {kind!r} from the app")
    return Received(seq, message)
