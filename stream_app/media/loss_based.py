"""The loss-based half of the send-side estimate, and the acknowledged (delivered) bitrate.

Loss after libwebrtc's send_side_bandwidth_estimation (draft-ietf-rmcat-gcc-02 §6): over a short
window (at least 20 packets and 0.5 s), a loss fraction above 10 % cuts the bitrate to ``(1 - 0.5 * loss)``
of itself, at most once per 300 ms + RTT; below 2 % the cut grows back by 8 % a second until the
delay-based estimate is the limit again; in between it holds. Random loss of a few percent (Wi-Fi)
thus never lowers the rate, and the delay-based controller keeps it at the link's capacity.
"""

from __future__ import annotations

from stream_app.media.rate_meter import RateMeter
from stream_app.media.transport_cc import PacketResult

LOW_LOSS = 0.02
HIGH_LOSS = 0.10
MIN_PACKETS = 20  # kLimitNumPackets
# libwebrtc takes a fraction every 20 packets; per 50 ms feedback at a few Mbit/s that is so few that
# 5 % random loss reads above 10 % one window in ten and ratchets the rate down. Half a second of
# packets keeps random loss below the threshold and still reacts within a second to real loss.
MIN_WINDOW_S = 0.5
DECREASE_INTERVAL_S = 0.3  # kBweDecreaseInterval, plus the RTT
GROWTH_PER_S = 1.08
GROWTH_EXTRA_BPS_PER_S = 1000.0
STALE_AFTER_S = 6.0  # a loss report older than this says nothing about now
ACKNOWLEDGED_WINDOW_S = 0.15


class LossBasedControl:
    """An upper bound on the bitrate (None when loss does not limit it), from reported loss."""

    def __init__(self) -> None:
        self.fraction = 0.0
        self.bound: float | None = None
        self._lost = 0
        self._expected = 0
        self._window_start: float | None = None
        self._last_report: float | None = None
        self._last_update: float | None = None
        self._last_decrease: float | None = None
        self._fresh = False

    def on_packets(self, lost: int, expected: int, now: float, recovered: int = 0) -> None:
        """Count packets a feedback reported; a new loss fraction is taken every 0.5 s and 20 packets.

        `recovered` of the `expected` were reported lost before and arrived after all (reordered):
        they are neither lost nor new.
        """
        if self._window_start is None:
            self._window_start = now
        self._lost = max(0, self._lost + lost - recovered)
        self._expected += expected - recovered
        if self._expected >= MIN_PACKETS and now - self._window_start >= MIN_WINDOW_S:
            self.on_fraction(self._lost / self._expected, now)
            self._lost = self._expected = 0
            self._window_start = now

    def restart(self, now: float) -> None:
        """Start a new window: what was counted so far was sent at a rate the delay-based estimate has
        just cut, so it says nothing about the rate from now on (a fraction already taken causes no cut)."""
        self._lost = self._expected = 0
        self._window_start = now
        self._fresh = False

    def on_fraction(self, fraction: float, now: float) -> None:
        """A loss fraction measured elsewhere (an RTCP receiver report)."""
        self.fraction = min(max(fraction, 0.0), 1.0)
        self._last_report = now
        self._fresh = True

    def on_probe(self, bitrate: float) -> None:
        """A probe got `bitrate` through: if loss is low now, the bound a past loss left may rise to it.

        Without this a burst of loss (a queue overflowing at a capacity drop) would hold the rate
        down long after the link has recovered, growing back at only 8 %/s.
        """
        if self.bound is not None and self.fraction <= LOW_LOSS and bitrate > self.bound:
            self.bound = bitrate

    def update(self, now: float, estimate: float, rtt: float, floor: float) -> float | None:
        """Move the bound for the time passed; `estimate` is what the other limits allow, `floor` the minimum."""
        elapsed = 0.0 if self._last_update is None else min(max(now - self._last_update, 0.0), 1.0)
        self._last_update = now
        if self._last_report is None or now - self._last_report > STALE_AFTER_S:
            return self.bound
        if self.fraction <= LOW_LOSS:
            if self.bound is not None:
                self.bound = self.bound * GROWTH_PER_S**elapsed + GROWTH_EXTRA_BPS_PER_S * elapsed
                if self.bound >= estimate:
                    self.bound = None
        elif self.fraction > HIGH_LOSS and self._fresh:
            if self._last_decrease is None or now - self._last_decrease >= DECREASE_INTERVAL_S + rtt:
                base = estimate if self.bound is None else min(self.bound, estimate)
                self.bound = max(floor, base * (1 - 0.5 * self.fraction))
                self._last_decrease = now
                self._fresh = False
        return self.bound


class AcknowledgedBitrate:
    """The rate at which the receiver got our packets, over the last 150 ms of its clock.

    Short, as libwebrtc's 150 ms windows: after a capacity drop the decrease (0.85 x this) lands
    near the new capacity within a few hundred ms. Nine frames at 60 fps still fit in it.
    """

    def __init__(self, window: float = ACKNOWLEDGED_WINDOW_S) -> None:
        self._window = window
        self._meter = RateMeter(window)
        self._first: float | None = None
        self._latest = float("-inf")

    def on_results(self, results: list[PacketResult]) -> None:
        """Add the received packets of one feedback."""
        for arrival, size in sorted((r.arrival, r.sent.size) for r in results if r.arrival is not None):
            if self._first is None:
                self._first = arrival
            self._latest = max(self._latest, arrival)
            self._meter.add(size, arrival)

    def bitrate(self) -> float | None:
        """Bits per second, once a whole window has been seen."""
        if self._first is None or self._latest - self._first < self._window:
            return None
        return self._meter.bitrate(self._latest)
