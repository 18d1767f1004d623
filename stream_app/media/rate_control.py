"""The send-side bandwidth estimator (Google Congestion Control): what bitrate the link carries now.

Pure and deterministic: the shell passes in the clock (`now`, seconds, monotonic) and what it
learns from RTCP, and reads back an `Estimate` (the encoder's target, the pacer's rate) and the
probes the pacer should send. Its parts, each in its own module:

- delay-based (`trendline`, `aimd`): transport feedback -> packet groups -> delay trend ->
  overuse / normal / underuse -> AIMD on the acknowledged rate;
- loss-based (`loss_based`): an upper bound when feedback reports more than 10 % loss;
- probing (`probes`): short bursts above the estimate to find capacity fast;
- REMB (the receiver's own estimate) as an upper bound, and the only estimate when the browser
  did not negotiate transport-cc.

The target is the lowest of these and the configured maximum, never below the minimum.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from stream_app.media.aimd import AimdRateControl
from stream_app.media.loss_based import AcknowledgedBitrate, LossBasedControl
from stream_app.media.probes import ProbeBitrateEstimator, ProbeCluster, ProbeController
from stream_app.media.transport_cc import PacketResult, SentPacket
from stream_app.media.trendline import DelayState, InterArrival, TrendlineDetector

__all__ = ["Estimate", "LimitedBy", "ProbeCluster", "RateControlConfig", "SendSideEstimator"]

LimitedBy = Literal["delay", "loss", "max", "remb", "start"]

PACING_FACTOR = 2.5  # libwebrtc's kDefaultPaceMultiplier: frames leave in a fraction of their interval
FEEDBACK_FRESH_S = 1.0  # receiver-report loss is used only when no transport feedback came this recently
REMB_RAISE = 1.1  # a REMB this much above the one that limited us is worth a probe
DRAIN_TIME_S = 1.0  # a queue we built is drained in about this long
DRAIN_MAX_CUT = 0.5
DRAIN_DONE_S = 0.02  # below this much queueing delay there is nothing left to drain
# A queue this long that delivers under half the target is overuse at once: behind a capacity drop
# the queue is there within 0.1-0.2 s, the trendline calls it only 0.3-0.5 s later (see QueueDelay).
QUEUE_OVERUSE_S = 0.05
QUEUE_OVERUSE_DELIVERY = 0.5
PROBE_QUEUE_S = 0.01  # a probe (other than a chain's next) waits for the queue to be under this
BASE_DELAY_WINDOW_S = 10.0
REPORTED_LOST_MAX = 8192  # lost packets remembered, for 2 s, in case they arrive after all


@dataclass(frozen=True)
class RateControlConfig:
    """Bitrate limits (bits/s) for the estimator.

    The start is deliberately modest: 1.5 Mbit/s fits almost any uplink a player sits behind
    without building a queue before the first feedback arrives (libwebrtc starts at 300 kbit/s;
    we can afford more because the first probe, at 3x and then 2x each result, finds a fast link
    within a few round trips anyway, and a slow link's first probe lowers the start as soon as its
    result is in; a higher start would cost a slow link a second of queue). The minimum of 300 kbit/s
    keeps a 500 kbit/s link usable; the maximum is libwebrtc's delay-based default.
    """

    min_bitrate: int = 300_000
    start_bitrate: int = 1_500_000
    max_bitrate: int = 30_000_000

    def __post_init__(self) -> None:
        if not 10_000 <= self.min_bitrate <= self.start_bitrate <= self.max_bitrate <= 1_000_000_000:
            raise ValueError(
                "bitrates must satisfy 10 kbit/s <= min <= start <= max <= 1 Gbit/s, got "
                f"{self.min_bitrate} <= {self.start_bitrate} <= {self.max_bitrate}"
            )


@dataclass(frozen=True)
class Estimate:
    """The estimator's answer: bits per second for the encoder and the pacer, and why."""

    target_bitrate: int
    pacing_bitrate: int
    delay_state: DelayState
    loss_fraction: float
    acknowledged_bitrate: int | None
    rtt: float | None
    limited_by: LimitedBy


class QueueDelay:
    """The queueing delay feedback shows: one-way delay (on two clocks) less its minimum over 10 s.

    The minimum stands for the path's own delay and the clocks' offset; a path whose delay grows
    for good is learned again after the window.
    """

    def __init__(self) -> None:
        self._minima: deque[tuple[float, float]] = deque()  # (time, one-way delay), increasing delays
        self.delay = 0.0
        self.jitter = 0.0  # RFC 3550's interarrival jitter: mean |change of one-way delay|, smoothed 1/16
        self._last_delay: float | None = None

    def on_results(self, received: list[PacketResult], now: float) -> None:
        """Read the received packets of one feedback, in arrival order."""
        if not received:
            return
        delays = [r.arrival - r.sent.send_time for r in received if r.arrival is not None]
        for delay in delays:
            if self._last_delay is not None:
                self.jitter += (abs(delay - self._last_delay) - self.jitter) / 16
            self._last_delay = delay
        lowest = min(delays)
        while self._minima and self._minima[-1][1] >= lowest:
            self._minima.pop()
        self._minima.append((now, lowest))
        while self._minima[0][0] < now - BASE_DELAY_WINDOW_S:
            self._minima.popleft()
        self.delay = max(0.0, delays[-1] - self._minima[0][1])


class SendSideEstimator:
    """GCC on the sender: feed it sent packets' feedback, RTCP and timer ticks; read `Estimate`s."""

    def __init__(self, config: RateControlConfig | None = None) -> None:
        self.config = config = config or RateControlConfig()
        self._inter_arrival = InterArrival()
        self._detector = TrendlineDetector()
        self._delay = AimdRateControl(config.min_bitrate, config.max_bitrate, config.start_bitrate)
        self._acknowledged = AcknowledgedBitrate()
        self._queue = QueueDelay()
        self._draining = False
        self._overused = False
        self._state: DelayState = "normal"  # the detector's, or overusing when the queue says so first
        self._backoff_at: float | None = None  # when the delay-based estimate was last cut
        self._reported_lost: dict[int, float] = {}  # sequence -> when reported lost, oldest first
        self._loss = LossBasedControl()
        self._probes = ProbeController(config.start_bitrate, config.max_bitrate)
        self._probe_results = ProbeBitrateEstimator()
        self._remb: float | None = None
        self._rtt: float | None = None
        self._last_feedback: float | None = None
        self._estimate = self._make_estimate(float(config.start_bitrate), "start")

    @property
    def estimate(self) -> Estimate:
        """The latest estimate."""
        return self._estimate

    def on_packet_sent(self, packet: SentPacket) -> None:
        """A packet left (optional: the feedback's `PacketResult`s carry all the estimator needs)."""

    def on_feedback(self, results: list[PacketResult], now: float) -> Estimate:
        """Read what one transport feedback newly reported (`SendHistory.on_feedback`)."""
        if not results:
            return self.process(now)
        self._last_feedback = now
        received = sorted((r for r in results if r.arrival is not None), key=lambda r: r.arrival or 0.0)
        self._count_loss(results, now)
        self._acknowledged.on_results(received)
        self._queue.on_results(received, now)
        self._probes.jitter = self._queue.jitter
        if self._rtt is None and received:
            # No RTCP round trip yet: the newest packet's wait for its feedback bounds the RTT from above.
            self._delay.rtt = min(now - r.sent.send_time for r in received)
        probe: float | None = None
        initial_probe = False
        for result in received:
            assert result.arrival is not None
            # A probe queues by design; its result, not the delay trend it causes, says what the link
            # carries (left in, a probe above capacity reads as overuse and halves a recovery).
            if result.sent.probe_cluster is None:
                deltas = self._inter_arrival.update(result.sent.send_time, result.arrival)
                if deltas is not None:
                    self._detector.update(*deltas, result.arrival)
            probed = self._probe_results.on_result(result)
            if probed is not None:
                self._probes.on_probe_result(probed)
                probe = probed.bitrate if probe is None else max(probe, probed.bitrate)
                initial_probe = initial_probe or self._probe_results.is_initial(result)
        self._state = "overusing" if self._queue_overuse() else self._detector.state
        self._update_delay_based(probe, initial_probe, now)
        if probe is not None:
            self._loss.on_probe(probe)
        if self._state == "overusing":
            self._draining = True
        elif self._queue.delay < DRAIN_DONE_S:
            self._draining = False
        return self.process(now)

    def _queue_overuse(self) -> bool:
        """Whether the queue shows overuse before the trendline does: long, and delivering under half the target.

        A capacity drop (20 -> 5 Mbit/s in the lab) fills the bottleneck's queue within 0.1-0.2 s;
        the trendline, smoothed over 20 packet groups, called it 0.3-0.5 s later, and meanwhile the
        sender kept 16-20 Mbit/s going into a queue that overflowed (25-60 % of packets lost).
        The delivered rate falling to under half the target says the queue is ours, not jitter.
        """
        acknowledged = self._acknowledged.bitrate()
        return (
            self._queue.delay >= QUEUE_OVERUSE_S
            and acknowledged is not None
            and acknowledged < QUEUE_OVERUSE_DELIVERY * self._estimate.target_bitrate
        )

    def _count_loss(self, results: list[PacketResult], now: float) -> None:
        """Count the loss of packets sent since the delay-based estimate was last cut.

        Packets sent at the old rate into a queue that overflowed were lost to the overuse the delay-based
        cut already answers; counted again they cut the rate a second time: in the lab, after a
        20 -> 5 Mbit/s drop, 36-63 % loss took the target to 2.1-3.0 Mbit/s for seconds (on a 5 Mbit/s
        link), and with it the resolution down and a keyframe.
        """
        recovered = self._recovered(results, now)
        if self._backoff_at is not None:
            results = [r for r in results if r.sent.send_time >= self._backoff_at]
        lost = sum(1 for r in results if r.arrival is None)
        self._loss.on_packets(lost, len(results), now, recovered)

    def _recovered(self, results: list[PacketResult], now: float) -> int:
        """How many received `results` were reported lost (and counted) before: reordered past a feedback, not lost.

        Without this, 20 ms of reordering jitter at 20 Mbit/s read as over 10 % loss.
        """
        recovered = 0
        for result in results:
            if result.arrival is None:
                self._reported_lost[result.sent.sequence] = now
            elif self._reported_lost.pop(result.sent.sequence, None) is not None:
                if self._backoff_at is None or result.sent.send_time >= self._backoff_at:
                    recovered += 1
        while self._reported_lost and (
            len(self._reported_lost) > REPORTED_LOST_MAX or next(iter(self._reported_lost.values())) < now - 2.0
        ):
            del self._reported_lost[next(iter(self._reported_lost))]
        return recovered

    def _update_delay_based(self, probe: float | None, initial_probe: bool, now: float) -> None:
        state = self._state
        acknowledged = self._acknowledged.bitrate()
        if state == "overusing":
            self._overused = True
            if probe is not None:
                # A probe that overfilled the link measured what it delivers: back off from that,
                # not from a 150 ms average that the probe's own burst only partly fills.
                acknowledged = max(acknowledged or 0.0, probe)
            if self._delay.time_to_reduce_further(now, acknowledged or self._delay.bitrate):
                self._delay.update(state, acknowledged, now)
                self._backoff_at = now
                self._loss.restart(now)
        elif probe is not None and probe > self._delay.bitrate:
            self._delay.set_estimate(probe, now)
        elif probe is not None and initial_probe and not self._overused:
            # The first probes found the link slower than the start bitrate: take their word before
            # the delay trend (slow to build at a few hundred kbit/s) does, and drain what the start built.
            self._delay.set_estimate(probe, now)
            self._draining = True
        else:
            self._delay.update(state, acknowledged, now)

    def _delay_based(self) -> float:
        """AIMD's estimate, less what drains the queue an overuse left (GCC's 0.85 alone drains slowly).

        Sending at ``(1 - q / 1 s)`` of the capacity for a second empties a queue of q seconds.
        """
        if not self._draining:
            return self._delay.bitrate
        return self._delay.bitrate * (1 - min(DRAIN_MAX_CUT, self._queue.delay / DRAIN_TIME_S))

    def on_remb(self, bitrate: float, now: float) -> Estimate:
        """The receiver's REMB: an upper bound, and the estimate itself without transport-cc."""
        limiting = self._estimate.limited_by == "remb"
        previous = self._remb
        self._remb = float(bitrate)
        if limiting and previous is not None and bitrate > REMB_RAISE * previous and self._transport_cc(now):
            self._probes.on_bound_raised(min(bitrate, self.config.max_bitrate), now)
        return self.process(now)

    def on_rtt(self, rtt_s: float, now: float) -> Estimate:
        """A round-trip time measured from RTCP (sender/receiver reports)."""
        self._rtt = max(rtt_s, 0.0)
        self._delay.rtt = self._rtt
        return self.process(now)

    def on_receiver_report(self, fraction_lost: float, now: float) -> Estimate:
        """The loss fraction (0..1) of an RTCP receiver report: used only without fresh transport feedback."""
        if not self._transport_cc(now):
            self._loss.on_fraction(fraction_lost, now)
        return self.process(now)

    def process(self, now: float) -> Estimate:
        """Timer tick (every ~25 ms) and the end of every other call: combine the limits."""
        bounds: list[tuple[float, LimitedBy]] = [(float(self.config.max_bitrate), "max")]
        if self._last_feedback is not None:
            bounds.append((self._delay_based(), "delay"))
        if self._remb is not None:
            bounds.append((self._remb, "remb"))
        if len(bounds) == 1:
            bounds.append((float(self.config.start_bitrate), "start"))
        upper, reason = min(bounds, key=lambda bound: bound[0])
        rtt = self._rtt if self._rtt is not None else self._delay.rtt
        loss_bound = self._loss.update(now, upper, rtt, float(self.config.min_bitrate))
        if loss_bound is not None and loss_bound < upper:
            upper, reason = loss_bound, "loss"
        self._estimate = self._make_estimate(upper, reason)
        if self._transport_cc(now):
            # Normal, and no queue standing: a probe on top of a queue only adds to it. The detector
            # needs a few groups to see a capacity drop, while the queue (and the jitter it brings,
            # which asks for a longer probe) is there at once.
            settled = self._state == "normal" and self._queue.delay < PROBE_QUEUE_S
            self._probes.on_estimate(
                self._estimate.target_bitrate,
                now,
                settled,
                self._acknowledged.bitrate(),
                self._loss.fraction,
                self._state == "overusing",
            )
        return self._estimate

    def next_probe(self, now: float) -> ProbeCluster | None:
        """The next probe the pacer should send now, if any (each once).

        Only meaningful with transport-cc negotiated: without its feedback nothing measures a probe
        (once a REMB has come and no feedback, this returns None).
        """
        if self._last_feedback is None and self._remb is not None:
            return None  # REMB only: a probe's result could not be measured
        cluster = self._probes.next_probe(now)
        if cluster is not None:
            self._probe_results.on_probe(cluster)
        return cluster

    def _transport_cc(self, now: float) -> bool:
        return self._last_feedback is not None and now - self._last_feedback < FEEDBACK_FRESH_S

    def _make_estimate(self, bitrate: float, reason: LimitedBy) -> Estimate:
        target = int(max(self.config.min_bitrate, bitrate))
        acknowledged = self._acknowledged.bitrate()
        return Estimate(
            target_bitrate=target,
            pacing_bitrate=int(target * PACING_FACTOR),
            delay_state=self._state,
            loss_fraction=self._loss.fraction,
            acknowledged_bitrate=None if acknowledged is None else int(acknowledged),
            rtt=self._rtt,
            limited_by=reason,
        )
