"""A bitrate ceiling on lossy links: spend bits where a lost packet costs the fewest late frames.

With playout delay 0 and in-order decoding, a frame that lost one packet waits a round trip for its
retransmission, and every later frame waits behind it. A frame is lost-and-repaired with
probability ``1 - (1 - loss) ** packets``, and its packets grow with the bitrate: at 42 Mbit/s a
720p60 frame is some 70 packets, so at 1 % loss half the frames wait a round trip. The congestion
estimate rightly keeps rising at 1-3 % random loss (the link is not full), so nothing else stops
this. libwebrtc stays at 8-10 Mbit/s here and covers the rest with FEC.

The ceiling keeps the expected repair delay per frame, ``P(frame lossy) * (rtt + frame interval)``,
within `repair_budget_s`, and never goes below `min_bits_per_pixel` (the picture would suffer more
than the latency gains). With no loss, or a short round trip, it does not bind.

It reads only loss that comes without a queue. A full link (a rate cap) also drops packets, but
there the congestion controller already holds the rate at what the link carries; capping the
encoder below that as well would leave it application-limited, and the delay-based estimate,
seeing no queue, would drift above the link. So delay overuse makes it forget the loss it has
seen, and it binds again only after `quiet_s` without overuse. It also wants the loss to persist:
random loss shows in nearly every sample, while a burst (the first probes of a session overrunning
a buffer, a queue draining after a drop) shows in a few; below `persistence` of the samples
carrying loss, it does not bind. For the same reason it never binds in a session's first `quiet_s`.

Pure: the shell feeds it the estimator's loss samples and its overuse, and reads `ceiling()`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["RecoveryCeiling", "RecoveryCeilingConfig"]


@dataclass(frozen=True)
class RecoveryCeilingConfig:
    """The ceiling's constants; see the module docstring."""

    repair_budget_s: float = 0.008  # expected wait for repairs per frame
    min_bits_per_pixel: float = 0.1  # below this x264's 720p picture turns soft
    packet_bytes: int = 1200  # mean RTP payload of a full video packet
    loss_window_s: float = 10.0  # loss is averaged over this long, so one quiet second does not lift it
    min_loss: float = 0.002  # below this (0.2 %), repairs are too rare to matter
    quiet_s: float = 3.0  # loss counts as random only this long after the last overuse (or the start)
    persistence: float = 0.6  # ...and only when at least this share of the samples show loss

    def __post_init__(self) -> None:
        if not (self.repair_budget_s > 0 and self.min_bits_per_pixel > 0 and self.packet_bytes > 0):
            raise ValueError("repair budget, bits per pixel and packet size must be positive")
        if not (self.loss_window_s > 0 and 0 <= self.min_loss < 1 and self.quiet_s >= 0):
            raise ValueError("loss window must be positive, min_loss in [0, 1) and quiet_s not negative")
        if not 0 <= self.persistence <= 1:
            raise ValueError("persistence is a share of the samples, 0-1")


class RecoveryCeiling:
    """Turns recent loss and the round trip into the highest bitrate worth encoding at."""

    def __init__(self, config: RecoveryCeilingConfig | None = None) -> None:
        self.config = config or RecoveryCeilingConfig()
        self._samples: deque[tuple[float, float]] = deque()  # (time, loss fraction)
        self._observed_since: float | None = None  # the first sample since the start or the last overuse
        # Kept with the samples, so the 40-a-second calls do not sum the whole window each time.
        self._total = 0.0
        self._lossy = 0

    def on_overuse(self, now: float) -> None:
        """The delay detector saw a queue: the loss so far is the link's being full, not random."""
        self._observed_since = None
        self._samples.clear()
        self._total, self._lossy = 0.0, 0

    def on_loss(self, fraction: float, now: float) -> None:
        """The estimator's loss fraction (0..1) now; sampled at a steady tick, so the mean is over time."""
        if self._observed_since is None:
            self._observed_since = now
        fraction = min(max(fraction, 0.0), 1.0)
        self._samples.append((now, fraction))
        self._total += fraction
        self._lossy += fraction > 0
        self._expire(now)

    def loss(self, now: float) -> float:
        """Mean loss over the window (0 without samples)."""
        self._expire(now)
        if not self._samples:
            return 0.0
        return max(self._total, 0.0) / len(self._samples)

    def ceiling(self, now: float, rtt: float | None, pixels_per_second: float, fps: float) -> int | None:
        """The highest useful bitrate (bits/s), or None where loss is too rare to bound it."""
        loss = self.loss(now)
        if self._observed_since is None or now - self._observed_since < self.config.quiet_s:
            return None
        if self._lossy < self.config.persistence * len(self._samples):
            return None  # a burst, not a lossy link
        if loss < self.config.min_loss or fps <= 0 or pixels_per_second <= 0:
            return None
        c = self.config
        wait = (rtt if rtt is not None else 0.1) + 1 / fps
        if c.repair_budget_s >= wait:
            return None  # a repair costs less than the budget even if every frame needs one
        # 1 - (1 - loss) ** n <= budget / wait  <=>  n <= log(1 - budget / wait) / log(1 - loss)
        packets = math.log(1 - c.repair_budget_s / wait) / math.log(1 - min(loss, 0.99))
        by_repairs = packets * c.packet_bytes * 8 * fps
        by_quality = c.min_bits_per_pixel * pixels_per_second
        return int(max(by_repairs, by_quality))

    def _expire(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.config.loss_window_s:
            _, fraction = self._samples.popleft()
            self._total -= fraction
            self._lossy -= fraction > 0
        if not self._samples:
            self._total = 0.0  # no drift from float subtraction once the window is empty
