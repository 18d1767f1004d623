"""Delay-based overuse detection after GCC: packet groups, the trendline filter, an adaptive threshold.

draft-ietf-rmcat-gcc-02 §5 and libwebrtc's goog_cc (inter_arrival_delta, trendline_estimator).
Packets sent within 5 ms of a group's first form one group (a frame's burst), as do packets that
arrive in a burst behind a queue. Between consecutive groups the one-way delay variation is
``(arrival delta) - (send delta)``; its running sum, exponentially smoothed, is fitted with a
least-squares line over the last 20 groups. The slope, scaled by the number of deltas (up to 60)
and a gain of 4, is compared with a threshold that itself follows the signal (k_up 0.0087 when it
is above, k_down 0.039 below), so a steady competing flow does not starve us. A slope above the
threshold for 10 ms (and not falling) is overuse, below its negative is underuse.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

DelayState = Literal["normal", "overusing", "underusing"]

GROUP_SPAN_S = 0.005  # kSendTimeGroupLength
BURST_DELTA_S = 0.005  # kBurstDeltaThreshold: arrivals this close behind a queue are one burst
MAX_BURST_S = 0.1  # kMaxBurstDuration
REORDER_RESET = 3  # kReorderedResetThreshold: consecutive reordered groups before starting over
WINDOW = 20  # kDefaultTrendlineWindowSize
SMOOTHING = 0.9  # kDefaultTrendlineSmoothingCoeff
GAIN = 4.0  # kDefaultTrendlineThresholdGain
MIN_DELTAS = 60  # kMinNumDeltas: the slope counts fully after this many deltas
K_UP = 0.0087
K_DOWN = 0.039
OVERUSE_TIME_MS = 10.0  # kOverUsingTimeThreshold
MAX_ADAPT_OFFSET_MS = 15.0  # a spike this far above the threshold does not move it
THRESHOLD_START_MS = 12.5
THRESHOLD_RANGE_MS = (6.0, 600.0)


@dataclass
class _Group:
    first_send: float
    last_send: float
    first_arrival: float
    last_arrival: float


class InterArrival:
    """Groups packets and yields (send delta, arrival delta) in seconds between consecutive groups."""

    def __init__(self) -> None:
        self._current: _Group | None = None
        self._previous: _Group | None = None
        self._reordered = 0

    def _reset(self) -> None:
        self._current = self._previous = None
        self._reordered = 0

    def update(self, send_time: float, arrival: float) -> tuple[float, float] | None:
        """Add one received packet (in arrival order); return the deltas when it closes a group."""
        group = self._current
        if group is None:
            self._current = _Group(send_time, send_time, arrival, arrival)
            return None
        if send_time < group.first_send:
            return None  # sent before the group being built: reordered in the network, skip it
        deltas = None
        if self._starts_group(group, send_time, arrival):
            previous = self._previous
            if previous is not None:
                send_delta = group.last_send - previous.last_send
                arrival_delta = group.last_arrival - previous.last_arrival
                if arrival_delta < 0:
                    self._reordered += 1
                    if self._reordered >= REORDER_RESET:
                        self._reset()
                    return None
                self._reordered = 0
                deltas = (send_delta, arrival_delta)
            self._previous = group
            self._current = _Group(send_time, send_time, arrival, arrival)
            return deltas
        group.last_send = max(group.last_send, send_time)
        group.last_arrival = arrival
        return None

    @staticmethod
    def _starts_group(group: _Group, send_time: float, arrival: float) -> bool:
        arrival_delta = arrival - group.last_arrival
        send_delta = send_time - group.last_send
        if send_delta == 0:
            return False
        queued = arrival_delta - send_delta < 0 and arrival_delta <= BURST_DELTA_S
        if queued and arrival - group.first_arrival < MAX_BURST_S:
            return False  # a burst released by a queue: the same group
        return send_time - group.first_send > GROUP_SPAN_S


class TrendlineDetector:
    """The trendline filter and overuse detector, fed the deltas between packet groups."""

    def __init__(self) -> None:
        self._deltas = 0
        self._first_arrival_ms: float | None = None
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._window: deque[tuple[float, float]] = deque(maxlen=WINDOW)
        self._trend = 0.0
        self._threshold = THRESHOLD_START_MS
        self._last_threshold_update_ms: float | None = None
        self._overuse_ms = -1.0
        self._overuse_count = 0
        self.state: DelayState = "normal"
        self.modified_trend = 0.0

    def update(self, send_delta: float, arrival_delta: float, arrival: float) -> DelayState:
        """Add the deltas (s) of one group ending at `arrival` (s); return the detector's state."""
        send_delta_ms = send_delta * 1000
        arrival_ms = arrival * 1000
        self._deltas = min(self._deltas + 1, 1000)
        if self._first_arrival_ms is None:
            self._first_arrival_ms = arrival_ms
        self._accumulated += (arrival_delta - send_delta) * 1000
        self._smoothed = SMOOTHING * self._smoothed + (1 - SMOOTHING) * self._accumulated
        self._window.append((arrival_ms - self._first_arrival_ms, self._smoothed))
        trend = self._trend
        if len(self._window) == WINDOW:
            trend = _slope(self._window, trend)
        self._detect(trend, send_delta_ms, arrival_ms)
        return self.state

    def _detect(self, trend: float, send_delta_ms: float, now_ms: float) -> None:
        if self._deltas < 2:
            self.state = "normal"
            return
        modified = min(self._deltas, MIN_DELTAS) * trend * GAIN
        self.modified_trend = modified
        if modified > self._threshold:
            self._overuse_ms = send_delta_ms / 2 if self._overuse_ms < 0 else self._overuse_ms + send_delta_ms
            self._overuse_count += 1
            if self._overuse_ms > OVERUSE_TIME_MS and self._overuse_count > 1 and trend >= self._trend:
                self._overuse_ms = 0
                self._overuse_count = 0
                self.state = "overusing"
        elif modified < -self._threshold:
            self._overuse_ms = -1
            self._overuse_count = 0
            self.state = "underusing"
        else:
            self._overuse_ms = -1
            self._overuse_count = 0
            self.state = "normal"
        self._trend = trend
        self._adapt_threshold(modified, now_ms)

    def _adapt_threshold(self, modified: float, now_ms: float) -> None:
        last = now_ms if self._last_threshold_update_ms is None else self._last_threshold_update_ms
        self._last_threshold_update_ms = now_ms
        if abs(modified) > self._threshold + MAX_ADAPT_OFFSET_MS:
            return
        k = K_DOWN if abs(modified) < self._threshold else K_UP
        elapsed = min(now_ms - last, 100.0)
        low, high = THRESHOLD_RANGE_MS
        self._threshold = min(high, max(low, self._threshold + k * (abs(modified) - self._threshold) * elapsed))


def _slope(points: deque[tuple[float, float]], fallback: float) -> float:
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in points)
    denominator = sum((x - mean_x) ** 2 for x, _ in points)
    return fallback if denominator == 0 else numerator / denominator
