"""The input protocol from the web client to the app (docs/protocol.md section 5).

Pure and I/O-free: `parse(channel_label, data)` turns one data-channel message into a frozen
event dataclass or raises `InputError` with a reason; `MotionOrder` applies the staleness rule of
the unordered channel; `TokenBucket` is the rate limiter, with the clock passed in.

The app reads versions 1 and 2; version 2 adds the `text` and `pinch` types and the CSS size and
device pixel ratio of `resize` (a version-1 `resize` reads as CSS size = device size, ratio 1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VERSION = 2
VERSIONS = (1, 2)
MAX_MESSAGE_BYTES = 16 * 1024

ORDERED_CHANNEL = "input"
MOTION_CHANNEL = "input-motion"
CHANNELS = (ORDERED_CHANNEL, MOTION_CHANNEL)

# Modifier bits (`mods`).
SHIFT, CTRL, ALT, META = 1, 2, 4, 8
# Button bits (`buttons`), as DOM MouseEvent.buttons.
PRIMARY, SECONDARY, AUXILIARY, BACK, FORWARD = 1, 2, 4, 8, 16

MAX_DELTA = 10_000.0
MAX_TOUCHES = 10
MAX_GAMEPAD_BUTTONS = 32
MAX_GAMEPAD_AXES = 16
MAX_GAMEPAD_ID = 128
MAX_CLIPBOARD = 8192
MIN_WIDTH, MAX_WIDTH = 64, 7680
MIN_HEIGHT, MAX_HEIGHT = 64, 4320
MIN_CSS, MAX_CSS = 16, 16384
MIN_DPR, MAX_DPR = 0.25, 8.0
MAX_TEXT = 256
MIN_SCALE, MAX_SCALE = 0.01, 100.0


class InputError(ValueError):
    """An input message that cannot be used; `reason` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeyEvent:
    """A key went down or up. `code` is the physical key (DOM `code`), `key` its meaning."""

    seq: int
    t: float
    action: str
    code: str
    key: str
    mods: int
    repeat: bool


@dataclass(frozen=True)
class MouseMove:
    """The pointer moved to (`x`, `y`), fractions of the picture with the origin top left."""

    seq: int
    t: float
    x: float
    y: float
    buttons: int


@dataclass(frozen=True)
class MouseMotion:
    """Relative pointer motion under pointer lock, in CSS pixels."""

    seq: int
    t: float
    dx: float
    dy: float
    buttons: int


@dataclass(frozen=True)
class MouseButton:
    """A mouse button (DOM `MouseEvent.button`: 0 primary, 1 auxiliary, 2 secondary) went down or up."""

    seq: int
    t: float
    action: str
    button: int
    x: float
    y: float
    mods: int


@dataclass(frozen=True)
class Wheel:
    """Wheel scrolled by (`dx`, `dy`) pixels; positive `dy` scrolls down."""

    seq: int
    t: float
    dx: float
    dy: float
    mods: int


@dataclass(frozen=True)
class TouchPoint:
    """One finger: a stable `id` while it touches, and its position as fractions of the picture."""

    id: int
    x: float
    y: float


@dataclass(frozen=True)
class Touch:
    """Touch `phase` ("start", "move", "end", "cancel") with the touches it concerns."""

    seq: int
    t: float
    phase: str
    touches: tuple[TouchPoint, ...]


@dataclass(frozen=True)
class Gamepad:
    """The whole state of gamepad `index`: buttons 0..1 and axes -1..1."""

    seq: int
    t: float
    index: int
    connected: bool
    id: str
    buttons: tuple[float, ...]
    axes: tuple[float, ...]


@dataclass(frozen=True)
class Clipboard:
    """Text the user pasted for the app."""

    seq: int
    t: float
    text: str


@dataclass(frozen=True)
class Text:
    """Text the user typed, as their keyboard layout and input method made it (`é` after a dead
    key, `@` from AltGr+Q on a German layout, a composed word from an IME); no control characters."""

    seq: int
    t: float
    text: str


@dataclass(frozen=True)
class Pinch:
    """A two-finger pinch: `scale` is the fingers' distance over their distance at `start`, and
    (`x`, `y`) their midpoint as fractions of the picture."""

    seq: int
    t: float
    phase: str
    scale: float
    x: float
    y: float


@dataclass(frozen=True)
class Resize:
    """The size the client would like the picture to be.

    `width` x `height` are device pixels (sharp on the client's screen); `css_width` x `css_height`
    the same area in CSS pixels and `dpr` the client's `devicePixelRatio` (device pixels per CSS
    pixel). An app that renders at CSS size (less work, slightly soft on HiDPI) picks those.
    """

    seq: int
    t: float
    width: int
    height: int
    css_width: int
    css_height: int
    dpr: float


InputEvent = (
    KeyEvent | MouseMove | MouseMotion | MouseButton | Wheel | Touch | Gamepad | Clipboard | Resize | Text | Pinch
)


def _get(obj: dict[str, Any], name: str) -> Any:
    if name not in obj:
        raise InputError(f"field {name!r} is missing")
    return obj[name]


def _int(obj: dict[str, Any], name: str, low: int, high: int | None = None) -> int:
    value = _get(obj, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"field {name!r} must be an integer, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        span = f"{low}-{high}" if high is not None else f">= {low}"
        raise InputError(f"field {name!r} must be {span}, not {value}")
    return int(value)


def _number(obj: dict[str, Any], name: str, low: float, high: float) -> float:
    value = _get(obj, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"field {name!r} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise InputError(f"field {name!r} is out of range") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InputError(f"field {name!r} must be {low:g}..{high:g}, not {value}")
    return number


def _str(obj: dict[str, Any], name: str, low: int, high: int) -> str:
    value = _get(obj, name)
    if not isinstance(value, str):
        raise InputError(f"field {name!r} must be a string, not {type(value).__name__}")
    if not low <= len(value) <= high:
        raise InputError(f"field {name!r} must be {low}-{high} characters long, not {len(value)}")
    return value


def _choice(obj: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = _get(obj, name)
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"field {name!r} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _bool(obj: dict[str, Any], name: str) -> bool:
    value = _get(obj, name)
    if not isinstance(value, bool):
        raise InputError(f"field {name!r} must be true or false, not {type(value).__name__}")
    return value


def _list(obj: dict[str, Any], name: str, limit: int) -> list[Any]:
    value = _get(obj, name)
    if not isinstance(value, list):
        raise InputError(f"field {name!r} must be a list, not {type(value).__name__}")
    if len(value) > limit:
        raise InputError(f"field {name!r} has {len(value)} items; at most {limit} are allowed")
    return value


def _numbers(obj: dict[str, Any], name: str, limit: int, low: float, high: float) -> tuple[float, ...]:
    items = _list(obj, name, limit)
    return tuple(_number({name: item}, name, low, high) for item in items)


def _touch_points(obj: dict[str, Any]) -> tuple[TouchPoint, ...]:
    points = []
    for item in _list(obj, "touches", MAX_TOUCHES):
        if not isinstance(item, dict):
            raise InputError("every item of 'touches' must be an object")
        points.append(TouchPoint(id=_int(item, "id", 0), x=_number(item, "x", 0, 1), y=_number(item, "y", 0, 1)))
    return tuple(points)


def _text(obj: dict[str, Any]) -> str:
    text = _str(obj, "text", 1, MAX_TEXT)
    control = next((c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if control is not None:
        raise InputError(f"field 'text' holds control character U+{ord(control):04X}; send keys such as Enter as 'key'")
    return text


def _resize(obj: dict[str, Any], seq: int, t: float, version: int) -> Resize:
    width = _int(obj, "width", MIN_WIDTH, MAX_WIDTH)
    height = _int(obj, "height", MIN_HEIGHT, MAX_HEIGHT)
    if version == 1:
        return Resize(seq, t, width, height, css_width=width, css_height=height, dpr=1.0)
    return Resize(
        seq,
        t,
        width,
        height,
        css_width=_int(obj, "css_width", MIN_CSS, MAX_CSS),
        css_height=_int(obj, "css_height", MIN_CSS, MAX_CSS),
        dpr=_number(obj, "dpr", MIN_DPR, MAX_DPR),
    )


def _event(kind: str, obj: dict[str, Any], seq: int, t: float, version: int) -> InputEvent:
    if kind == "key":
        return KeyEvent(
            seq,
            t,
            action=_choice(obj, "action", ("down", "up")),
            code=_str(obj, "code", 1, 32),
            key=_str(obj, "key", 1, 32),
            mods=_int(obj, "mods", 0, 15),
            repeat=_bool(obj, "repeat"),
        )
    if kind == "mouse_move":
        return MouseMove(
            seq, t, x=_number(obj, "x", 0, 1), y=_number(obj, "y", 0, 1), buttons=_int(obj, "buttons", 0, 31)
        )
    if kind == "mouse_motion":
        return MouseMotion(
            seq,
            t,
            dx=_number(obj, "dx", -MAX_DELTA, MAX_DELTA),
            dy=_number(obj, "dy", -MAX_DELTA, MAX_DELTA),
            buttons=_int(obj, "buttons", 0, 31),
        )
    if kind == "mouse_button":
        return MouseButton(
            seq,
            t,
            action=_choice(obj, "action", ("down", "up")),
            button=_int(obj, "button", 0, 4),
            x=_number(obj, "x", 0, 1),
            y=_number(obj, "y", 0, 1),
            mods=_int(obj, "mods", 0, 15),
        )
    if kind == "wheel":
        return Wheel(
            seq,
            t,
            dx=_number(obj, "dx", -MAX_DELTA, MAX_DELTA),
            dy=_number(obj, "dy", -MAX_DELTA, MAX_DELTA),
            mods=_int(obj, "mods", 0, 15),
        )
    if kind == "touch":
        return Touch(
            seq, t, phase=_choice(obj, "phase", ("start", "move", "end", "cancel")), touches=_touch_points(obj)
        )
    if kind == "gamepad":
        return Gamepad(
            seq,
            t,
            index=_int(obj, "index", 0, 3),
            connected=_bool(obj, "connected"),
            id=_str(obj, "id", 0, MAX_GAMEPAD_ID),
            buttons=_numbers(obj, "buttons", MAX_GAMEPAD_BUTTONS, 0, 1),
            axes=_numbers(obj, "axes", MAX_GAMEPAD_AXES, -1, 1),
        )
    if kind == "clipboard":
        return Clipboard(seq, t, text=_str(obj, "text", 0, MAX_CLIPBOARD))
    if kind == "resize":
        return _resize(obj, seq, t, version)
    if kind in ("text", "pinch") and version < 2:
        raise InputError(f"message type {kind!r} needs input protocol version 2, not {version}")
    if kind == "text":
        return Text(seq, t, text=_text(obj))
    if kind == "pinch":
        return Pinch(
            seq,
            t,
            phase=_choice(obj, "phase", ("start", "move", "end")),
            scale=_number(obj, "scale", MIN_SCALE, MAX_SCALE),
            x=_number(obj, "x", 0, 1),
            y=_number(obj, "y", 0, 1),
        )
    raise InputError(f"unknown message type {kind!r}")


def _expected_channel(event: InputEvent) -> str:
    if isinstance(event, MouseMove | MouseMotion):
        return MOTION_CHANNEL
    if isinstance(event, Touch) and event.phase == "move":
        return MOTION_CHANNEL
    return ORDERED_CHANNEL


def parse(channel_label: str, data: str | bytes) -> InputEvent:
    """Parse and validate one message that arrived on the data channel `channel_label`.

    Raises `InputError` (and nothing else) for anything that is not a valid message of a
    supported version (`VERSIONS`) and of a type that belongs on that channel.
    """
    if channel_label not in CHANNELS:
        raise InputError(f"unknown input channel {channel_label!r}")
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InputError(f"message is {len(raw)} bytes; at most {MAX_MESSAGE_BYTES} are allowed")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"message is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InputError("message must be a JSON object")
    version = _int(obj, "v", 0)
    if version not in VERSIONS:
        raise InputError(
            f"input protocol version {version} is not supported; this app speaks {', '.join(map(str, VERSIONS))}"
        )
    kind = _get(obj, "type")
    if not isinstance(kind, str):
        raise InputError(f"field 'type' must be a string, not {type(kind).__name__}")
    seq = _int(obj, "seq", 0)
    t = _number(obj, "t", 0, 1e15)
    event = _event(kind, obj, seq, t, version)
    expected = _expected_channel(event)
    if expected != channel_label:
        raise InputError(f"a {kind!r} message belongs on channel {expected!r}, not {channel_label!r}")
    return event


class MotionOrder:
    """The staleness rule of the unordered channel: drop a message older than one already applied."""

    def __init__(self) -> None:
        self._last: int | None = None

    def accept(self, seq: int) -> bool:
        """True when `seq` is newer than every sequence number accepted so far (and records it)."""
        if self._last is not None and seq <= self._last:
            return False
        self._last = seq
        return True


class TokenBucket:
    """A token-bucket rate limiter: `rate` tokens a second, at most `burst` saved up.

    `clock` returns seconds (e.g. `time.monotonic`); the bucket starts full.
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate {rate} must be positive and burst {burst} at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def take(self) -> bool:
        """Spend one token if there is one; False means the message is over the limit."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
