"""Receives input messages from a session's data channels: rate limit, parse, order, count, log.

Everything that is not a usable event is dropped with a reason; nothing here can end a session.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from stream_app import input_protocol
from stream_app.input_protocol import (
    Clipboard,
    Gamepad,
    InputError,
    InputEvent,
    KeyEvent,
    MotionOrder,
    MouseButton,
    MouseMotion,
    MouseMove,
    Pinch,
    Resize,
    Text,
    TokenBucket,
    Touch,
    Wheel,
)

logger = logging.getLogger(__name__)

# Why a message was dropped (the keys of `InputCounters.dropped`).
DROP_RATE_LIMIT = "rate-limit"
DROP_INVALID = "invalid"
DROP_STALE = "stale"
DROP_APP_BUSY = "app-busy"

# The protocol's `type` of each event class, for the per-message debug line.
_TYPE_NAMES: Final[dict[type, str]] = {
    KeyEvent: "key",
    MouseMove: "mouse_move",
    MouseMotion: "mouse_motion",
    MouseButton: "mouse_button",
    Wheel: "wheel",
    Touch: "touch",
    Gamepad: "gamepad",
    Clipboard: "clipboard",
    Resize: "resize",
    Text: "text",
    Pinch: "pinch",
}


@dataclass
class InputCounters:
    """What became of the input messages of one session (across its connections)."""

    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)  # accepted events by the protocol's `type`


class ThrottledLog:
    """Logs at most one line per `interval` seconds per kind, saying how many were left out."""

    def __init__(self, log: logging.Logger, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: Counter[str] = Counter()

    def allow(self, kind: str) -> int | None:
        """None when a line of this `kind` was logged less than `interval` ago (and counts it as
        left out); otherwise the number left out since the last line, and the line may be logged."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._skipped[kind] += 1
            return None
        self._last[kind] = now
        return self._skipped.pop(kind, 0)

    def info(self, kind: str, message: str, *args: object) -> None:
        """Log `message` unless a line of this `kind` was logged less than `interval` ago."""
        skipped = self.allow(kind)
        if skipped is None:
            return
        suffix = f" ({skipped} more like it not logged)" if skipped else ""
        self._log.info(message + suffix, *args)


class InputReceiver:
    """Turns raw data-channel messages of one connection into input events for the app."""

    def __init__(
        self,
        session_id: str,
        counters: InputCounters,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_id = session_id
        self._counters = counters
        self._bucket = TokenBucket(rate, burst, clock)
        self._motion = MotionOrder()
        self._log = ThrottledLog(logger, clock=clock)

    def receive(self, label: str, data: str | bytes) -> InputEvent | None:
        """The event carried by `data`, or None when it is dropped (counted and logged).

        At DEBUG level every accepted message is logged as ``input applied type=<type> seq=<seq>
        t=<client ms> recv=<receive ms>`` (epoch ms; the benchmark's input latency reads it).
        """
        received_ms = time.time() * 1000
        if not self._bucket.take():
            self._drop(DROP_RATE_LIMIT, "over the input rate limit")
            return None
        try:
            event = input_protocol.parse(label, data)
        except InputError as exc:
            self._drop(DROP_INVALID, exc.reason)
            return None
        if label == input_protocol.MOTION_CHANNEL and not self._motion.accept(event.seq):
            self._drop(DROP_STALE, f"seq {event.seq} is older than one already applied")
            return None
        self._counters.accepted += 1
        kind = _TYPE_NAMES.get(type(event), "other")
        self._counters.by_kind[kind] += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "input applied type=%s seq=%d t=%.3f recv=%.3f",
                kind,
                event.seq,
                event.t,
                received_ms,
            )
        return event

    def _drop(self, kind: str, reason: str) -> None:
        self._counters.dropped[kind] += 1
        self._log.info(kind, "session %s: dropped an input message: %s", self._session_id, reason)
