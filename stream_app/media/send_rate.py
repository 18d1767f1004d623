"""What retransmissions take of the target, so the encoder gets what is left.

The estimate is what the link carries, all streams together. Retransmissions (RTX, answered NACKs)
go on top of the encoder's output, up to half the target (`video_sender.RETRANSMIT_SHARE`), and
they come exactly when the link has just lost packets: after a 20 -> 5 Mbit/s drop in the lab
the sender retransmitted at about 5 Mbit/s into the 5 Mbit/s link while still encoding at 16, and
the queue that overflowed kept overflowing. libwebrtc subtracts the measured protection rate
(FEC and retransmissions) from the encoder's target the same way (`RtpVideoSender`).
"""

from __future__ import annotations

from collections import deque

__all__ = ["RateMeter", "media_bitrate"]

WINDOW_S = 0.5
MEDIA_FLOOR_SHARE = 0.5  # the encoder keeps at least this share of the target, whatever is retransmitted


class RateMeter:
    """Bits per second over the last `window` seconds of what was counted with `add`."""

    def __init__(self, window: float = WINDOW_S) -> None:
        self._window = window
        self._items: deque[tuple[float, int]] = deque()
        self._bytes = 0

    def add(self, size: int, now: float) -> None:
        """Count `size` bytes sent at `now`."""
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


def media_bitrate(target: int, retransmission_bps: float) -> int:
    """The encoder's share of `target` when retransmissions take `retransmission_bps` of it (at least half)."""
    return int(max(target * MEDIA_FLOOR_SHARE, target - retransmission_bps))
