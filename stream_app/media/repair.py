"""Two decisions of the video sender's loss repair, kept pure: when a lost packet is worth a
keyframe, and how much of the link retransmissions took.

- `KeyframeGate`: a NACK for a packet too old to send again means the receiver cannot decode on
  until a keyframe. The receiver repeats its NACKs (Chromium up to ten times), so a keyframe for
  each would be a storm on a link that is already losing packets, each keyframe several times a
  delta frame's size: on a falling cellular link that storm was most of the freezing. One keyframe
  made (or asked for) after the lost packet was sent replaces it.
- `RateWindow`: bytes sent over a trailing window, as bits per second. The sender gives the
  encoder the target less what retransmissions sent (libwebrtc does the same with its protection
  overhead): both share the link the target was estimated for.
"""

from __future__ import annotations

from collections import deque

__all__ = ["KeyframeGate", "RateWindow"]


class KeyframeGate:
    """Says whether a packet lost for good is worth asking the encoder for a keyframe."""

    def __init__(self) -> None:
        self._covered_until = -1e9  # packets sent before this are covered by a keyframe made or asked

    def on_keyframe(self, now: float) -> None:
        """The encoder made a keyframe now (asked for or not)."""
        self._covered_until = max(self._covered_until, now)

    def ask(self, packet_sent_at: float, now: float) -> bool:
        """A packet first sent at `packet_sent_at` is lost for good: True (and it counts as asked)
        when no keyframe made or asked for since covers it."""
        if packet_sent_at <= self._covered_until:
            return False
        self._covered_until = now
        return True


class RateWindow:
    """Sizes added over the last `window_s` seconds, read as bits per second."""

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError("the window must be positive")
        self.window_s = window_s
        self._sizes: deque[tuple[float, int]] = deque()

    def add(self, size_bytes: int, now: float) -> None:
        self._sizes.append((now, size_bytes))

    def bitrate(self, now: float) -> float:
        while self._sizes and self._sizes[0][0] <= now - self.window_s:
            self._sizes.popleft()
        return sum(size for _, size in self._sizes) * 8 / self.window_s
