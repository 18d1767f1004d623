"""The AIMD rate controller of GCC: turn the overuse detector's state into a delay-based bitrate.

draft-ietf-rmcat-gcc-02 §5.5 and libwebrtc's aimd_rate_control / link_capacity_estimator.
Overuse -> decrease to 0.85 x the acknowledged (delivered) rate, then hold until the queue has
drained (underuse holds too); normal -> increase. Far from the last known link capacity the increase
is multiplicative, 8 % per second; near it (within 3 standard deviations of the rates at which
overuse was seen) additive, about one packet per response time, so the sender probes the
capacity gently where it was last found. Increases never run ahead of 1.5 x the acknowledged rate
(+10 kbit/s): an estimate the sender has not filled is not evidence.
"""

from __future__ import annotations

import math
from typing import Literal

from stream_app.media.trendline import DelayState

BETA = 0.85  # kDefaultBackoffFactor
MULTIPLICATIVE_GROWTH = 1.08  # per second
MIN_ADDITIVE_BPS_PER_S = 4_000.0
RESPONSE_EXTRA_S = 0.1  # the overuse detector's own delay, added to the RTT
PACKET_BYTES = 1200
FRAME_RATE = 30  # libwebrtc's nominal frame rate for the additive step
INCREASE_LIMIT_FACTOR = 1.5
INCREASE_LIMIT_EXTRA_BPS = 10_000.0
LINK_CAPACITY_ALPHA = 0.05
LINK_DEVIATION_RANGE = (0.4, 2.5)  # normalised variance, kbit/s: ~14-35 kbit/s at 500 kbit/s

RateState = Literal["hold", "increase", "decrease"]


class LinkCapacity:
    """A running estimate (kbit/s) of the acknowledged rates at which overuse was detected."""

    def __init__(self) -> None:
        self.estimate_kbps: float | None = None
        self._deviation = LINK_DEVIATION_RANGE[0]

    def on_overuse(self, throughput_bps: float) -> None:
        sample = throughput_bps / 1000
        estimate = sample if self.estimate_kbps is None else (1 - LINK_CAPACITY_ALPHA) * self.estimate_kbps
        if self.estimate_kbps is not None:
            estimate += LINK_CAPACITY_ALPHA * sample
        self.estimate_kbps = estimate
        norm = max(estimate, 1.0)
        deviation = (1 - LINK_CAPACITY_ALPHA) * self._deviation
        deviation += LINK_CAPACITY_ALPHA * (estimate - sample) ** 2 / norm
        low, high = LINK_DEVIATION_RANGE
        self._deviation = min(high, max(low, deviation))

    def _spread(self) -> float:
        assert self.estimate_kbps is not None
        return 3 * math.sqrt(self._deviation * self.estimate_kbps)

    def upper_bps(self) -> float:
        return math.inf if self.estimate_kbps is None else (self.estimate_kbps + self._spread()) * 1000

    def lower_bps(self) -> float:
        return 0.0 if self.estimate_kbps is None else max(0.0, self.estimate_kbps - self._spread()) * 1000

    def reset(self) -> None:
        self.estimate_kbps = None


class AimdRateControl:
    """The delay-based estimate (bits/s), moved by the detector's state and the acknowledged rate."""

    def __init__(self, min_bps: float, max_bps: float, start_bps: float) -> None:
        self.min_bps = min_bps
        self.max_bps = max_bps
        self.bitrate = start_bps
        self.state: RateState = "hold"
        self.link = LinkCapacity()
        self.rtt = 0.2  # libwebrtc's default until the first RTT is measured
        self._last_change: float | None = None
        self._last_throughput: float | None = None

    def time_to_reduce_further(self, now: float, throughput: float) -> bool:
        """Whether a further decrease is due: once per RTT (10-200 ms), or now if delivery fell below half."""
        interval = min(max(self.rtt, 0.01), 0.2)
        if self._last_change is None or now - self._last_change >= interval:
            return True
        return throughput < 0.5 * self.bitrate

    def set_estimate(self, bitrate: float, now: float) -> None:
        """Jump to `bitrate` (a probe's result), within the configured range."""
        self.bitrate = min(self.max_bps, max(self.min_bps, bitrate))
        self._last_change = now

    def update(self, detector: DelayState, throughput: float | None, now: float) -> float:
        """Apply the detector's state; `throughput` is the acknowledged bitrate if known. Return the estimate."""
        if throughput is not None:
            self._last_throughput = throughput
        delivered = self._last_throughput
        if detector == "overusing":
            self.state = "decrease"
        elif detector == "underusing":
            self.state = "hold"
        elif self.state == "hold":
            self.state = "increase"
            self._last_change = now
        if self.state == "increase":
            self._increase(delivered, now)
        elif self.state == "decrease":
            self._decrease(delivered, now)
        self.bitrate = min(self.max_bps, max(self.min_bps, self.bitrate))
        return self.bitrate

    def _increase(self, delivered: float | None, now: float) -> None:
        if delivered is not None and delivered > self.link.upper_bps():
            self.link.reset()  # delivering more than the link was thought to carry: it has grown
        limit = math.inf if delivered is None else INCREASE_LIMIT_FACTOR * delivered + INCREASE_LIMIT_EXTRA_BPS
        if self.bitrate < limit:
            elapsed = 1.0 if self._last_change is None else min(now - self._last_change, 1.0)
            if self.link.estimate_kbps is not None:
                step = self._near_max_rate() * max(elapsed, 0.0)
            else:
                step = max(self.bitrate * (MULTIPLICATIVE_GROWTH ** max(elapsed, 0.0) - 1), 1000.0)
            self.bitrate = min(self.bitrate + step, limit)
        self._last_change = now

    def _decrease(self, delivered: float | None, now: float) -> None:
        basis = self.bitrate if delivered is None else delivered
        decreased = BETA * basis
        if decreased > self.bitrate and self.link.estimate_kbps is not None:
            decreased = BETA * self.link.estimate_kbps * 1000
        if decreased < self.bitrate:
            self.bitrate = decreased
        if basis < self.link.lower_bps():
            self.link.reset()  # delivering far less than before: the link has shrunk
        self.link.on_overuse(basis)
        self.state = "hold"
        self._last_change = now

    def _near_max_rate(self) -> float:
        frame_bits = self.bitrate / FRAME_RATE
        packets = max(1.0, math.ceil(frame_bits / (8 * PACKET_BYTES)))
        response = 2 * (self.rtt + RESPONSE_EXTRA_S)
        return max(MIN_ADDITIVE_BPS_PER_S, frame_bits / packets / response)
