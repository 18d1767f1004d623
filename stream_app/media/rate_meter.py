"""Bytes counted over a sliding window of time, as a bitrate."""

from __future__ import annotations

from collections import deque

__all__ = ["RateMeter"]


class RateMeter:
    """Bits per second over the last `window` seconds of what was counted with `add`."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._items: deque[tuple[float, int]] = deque()
        self._bytes = 0

    def add(self, size: int, now: float) -> None:
        """Count `size` bytes at `now` (times may come a little out of order: the window ends at the latest)."""
        self._items.append((now, size))
        self._bytes += size
        self._expire(now)

    def bitrate(self, now: float) -> float:
        """Bits per second over the window that ends now."""
        self._expire(now)
        return self._bytes * 8 / self._window

    def _expire(self, now: float) -> None:
        while self._items and self._items[0][0] <= now - self._window:
            self._bytes -= self._items.popleft()[1]
