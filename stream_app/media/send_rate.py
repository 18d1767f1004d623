"""What retransmissions take of the target, so the encoder gets what is left.

The estimate is what the link carries, all streams together. Retransmissions (RTX, answered NACKs)
go on top of the encoder's output, up to half the target (`video_sender.RETRANSMIT_SHARE`), and
they come exactly when the link has just lost packets: after a 20 -> 5 Mbit/s drop in the lab
the sender retransmitted at about 5 Mbit/s into the 5 Mbit/s link while still encoding at 16, and
the queue that overflowed kept overflowing. libwebrtc subtracts the measured protection rate
(FEC and retransmissions) from the encoder's target the same way (`RtpVideoSender`).
"""

from __future__ import annotations

__all__ = ["RETRANSMIT_WINDOW_S", "media_bitrate"]

RETRANSMIT_WINDOW_S = 0.5  # what RTX sent over this long is taken off the target
MEDIA_FLOOR_SHARE = 0.5  # the encoder keeps at least this share of the target, whatever is retransmitted


def media_bitrate(target: int, retransmission_bps: float) -> int:
    """The encoder's share of `target` when retransmissions take `retransmission_bps` of it (at least half)."""
    return int(max(target * MEDIA_FLOOR_SHARE, target - retransmission_bps))
