"""A decision of the video sender's loss repair, kept pure: when a lost packet is worth a keyframe.

- `KeyframeGate`: a NACK for a packet too old to send again means the receiver cannot decode on
  until a keyframe. The receiver repeats its NACKs (Chromium up to ten times), so a keyframe for
  each would be a storm on a link that is already losing packets, each keyframe several times a
  delta frame's size: on a falling cellular link that storm was most of the freezing. One keyframe
  made (or asked for) after the lost packet was sent replaces it.
"""

from __future__ import annotations

__all__ = ["KeyframeGate"]


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
