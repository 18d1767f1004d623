"""A small, deterministic link simulator that drives the real estimator through the real wire format.

One bottleneck (a FIFO with a capacity, a tail-drop limit and a base delay, plus optional random
loss), a sender that encodes 60 frames a second at the estimator's target and paces them at its
pacing rate, sends the probes it asks for, and a receiver that answers every 50 ms with RTCP
transport feedback, serialized and parsed as on the wire. Time is simulated (1 ms steps); the
same seed gives the same trace. The estimator's `process` and `next_probe` run every 25 ms, as the
shell's timer would call them.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from stream_app.media.rate_control import Estimate, ProbeCluster, SendSideEstimator
from stream_app.media.transport_cc import (
    PacketStatus,
    SendHistory,
    TransportFeedback,
    parse_feedback,
    serialize_feedback,
)

PACKET_BYTES = 1200
PROCESS_INTERVAL = 0.025
RECEIVER_CLOCK_OFFSET = 5000.0  # the receiver's clock is not ours: only differences may matter


@dataclass
class Bottleneck:
    """A link: `capacity` bits/s, `base_delay` s one way, a queue of at most `queue_limit` s, `loss`, `jitter`."""

    capacity: float
    base_delay: float = 0.02
    queue_limit: float = 0.5
    loss: float = 0.0
    jitter: float = 0.0  # extra delay after the queue, uniform in [0, jitter] s
    reorder: bool = False  # whether jitter may reorder packets (else each waits for the one before)
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    _busy_until: float = 0.0
    _last_arrival: float = 0.0

    def send(self, size: int, now: float) -> float | None:
        """The arrival time of a packet sent at `now`, or None if it is dropped."""
        start = max(now, self._busy_until)
        if start - now > self.queue_limit:
            return None
        self._busy_until = start + size * 8 / self.capacity
        if self.loss and self.rng.random() < self.loss:
            return None
        arrival = self._busy_until + self.base_delay
        if self.jitter:
            arrival += self.rng.uniform(0, self.jitter)
            if not self.reorder:
                arrival = max(self._last_arrival, arrival)
        self._last_arrival = arrival
        return arrival

    def queue_delay(self, now: float) -> float:
        return max(0.0, self._busy_until - now)


@dataclass
class Sample:
    """The state every 100 ms of simulated time."""

    time: float
    estimate: Estimate
    queue_delay: float  # what a packet sent now would wait in the bottleneck
    sent_bps: float  # over the last 100 ms, media and probes


class LinkSim:
    """The sender, the bottleneck and the receiver, stepped together."""

    def __init__(self, estimator: SendSideEstimator, link: Bottleneck, fps: int = 60, feedback_interval: float = 0.05):
        self.estimator = estimator
        self.app_limit: float | None = None  # bits/s the encoder produces at most (a still scene)
        # Probe clusters the sender cannot send: as the shell's pacer when a probe comes before any
        # media it could pad with (it gives the probe up).
        self.unsent_probes: set[int] = set()
        self.probes: list[tuple[float, ProbeCluster]] = []  # (when, cluster) of every probe asked for
        self.link = link
        self.history = SendHistory()
        self.samples: list[Sample] = []
        self.now = 0.0
        self._fps = fps
        self._feedback_interval = feedback_interval
        self._next_frame = 0.0
        self._next_feedback = feedback_interval
        self._next_sample = 0.0
        self._next_process = 0.0
        self._pacer: deque[tuple[int, int | None]] = deque()  # (size, probe cluster)
        self._pacer_free = 0.0
        self._probe_free = 0.0
        self._probe_queue: deque[tuple[int, int, float]] = deque()  # (size, cluster, bitrate)
        self._pending: dict[int, float] = {}  # sequence -> receiver-clock arrival, not yet arrived or reported
        self._received: dict[int, float] = {}  # sequence -> arrival, reported (kept to report again)
        self._next_reported: int | None = None
        self._feedback_count = 0
        self._in_transit: deque[tuple[float, bytes]] = deque()
        self._sent_window: deque[tuple[float, int]] = deque()

    def run(self, until: float) -> None:
        """Advance the simulation to `until` seconds."""
        step = 0.001
        while self.now + step <= until + 1e-9:
            self.now = round(self.now + step, 6)
            self._tick()

    def _tick(self) -> None:
        now = self.now
        cluster = None
        if now >= self._next_process:  # the shell's timer: every 25 ms
            self.estimator.process(now)
            cluster = self.estimator.next_probe(now)
            self._next_process += PROCESS_INTERVAL
        estimate = self.estimator.estimate
        if cluster is not None:
            self.probes.append((now, cluster))
        if cluster is not None and cluster.id not in self.unsent_probes:
            # Padding may be small: a slow link's probe need not be five full packets.
            size = max(200, min(PACKET_BYTES, cluster.min_bytes // cluster.min_packets))
            count = max(cluster.min_packets, math.ceil(cluster.min_bytes / size))
            self._probe_queue.extend((size, cluster.id, cluster.bitrate) for _ in range(count))
            self._probe_free = max(self._probe_free, now - 0.001)
        while now >= self._next_frame:
            media = estimate.target_bitrate if self.app_limit is None else min(self.app_limit, estimate.target_bitrate)
            frame_bytes = round(media / 8 / self._fps)
            whole, rest = divmod(frame_bytes, PACKET_BYTES)
            self._pacer.extend((PACKET_BYTES, None) for _ in range(whole))
            if rest:
                self._pacer.append((rest, None))
            self._pacer_free = max(self._pacer_free, self._next_frame)
            self._next_frame += 1 / self._fps
        self._send_paced(estimate.pacing_bitrate, now)
        self._send_probes(now)
        self._deliver_feedback(now)
        if now >= self._next_feedback:
            self._send_feedback(now)
            self._next_feedback += self._feedback_interval
        if now >= self._next_sample:
            while self._sent_window and self._sent_window[0][0] < now - 0.1:
                self._sent_window.popleft()
            sent = sum(size for _, size in self._sent_window) * 8 / 0.1
            self.samples.append(Sample(now, estimate, self.link.queue_delay(now), sent))
            self._next_sample += 0.1

    def _send_paced(self, pacing_bps: int, now: float) -> None:
        if self._probe_queue:
            # As libwebrtc's pacer: a probe replaces the media for its duration, so the link sees the probe rate.
            self._pacer_free = max(self._pacer_free, self._probe_free)
            return
        while self._pacer and self._pacer_free <= now:
            size, _ = self._pacer.popleft()
            self._transmit(size, self._pacer_free, None)
            self._pacer_free += size * 8 / pacing_bps

    def _send_probes(self, now: float) -> None:
        while self._probe_queue and self._probe_free <= now:
            size, cluster, bitrate = self._probe_queue.popleft()
            self._transmit(size, self._probe_free, cluster)
            self._probe_free += size * 8 / bitrate

    def _transmit(self, size: int, at: float, cluster: int | None) -> None:
        packet = self.history.send(size, at, cluster)
        self.estimator.on_packet_sent(packet)
        self._sent_window.append((at, size))
        arrival = self.link.send(size, at)
        if arrival is not None:
            self._pending[packet.sequence] = arrival + RECEIVER_CLOCK_OFFSET

    def _send_feedback(self, now: float) -> None:
        """What Chromium would report at `now`: every sequence from the last report to the newest arrival.

        As Chromium's feedback generator, a packet that arrives after a later one was reported
        (reordered) moves the start back, so it and the ones after it are reported again.
        """
        local_now = now + RECEIVER_CLOCK_OFFSET
        new = [seq for seq, at in self._pending.items() if at <= local_now]
        if not new:
            return
        for seq in new:
            self._received[seq] = self._pending.pop(seq)
        first = min(new) if self._next_reported is None else min(self._next_reported, min(new))
        last = max(self._received)
        arrivals = [(seq, self._received.get(seq)) for seq in range(first, last + 1)]
        reference = math.floor(min(at for _, at in arrivals if at is not None) * 1e6 / 64_000)
        previous_us = reference * 64_000
        statuses = []
        for seq, at in arrivals:
            if at is None:
                statuses.append(PacketStatus(seq & 0xFFFF, False))
                continue
            delta = round((at * 1e6 - previous_us) / 250) * 250
            previous_us += delta
            statuses.append(PacketStatus(seq & 0xFFFF, True, delta))
        fb = TransportFeedback(1, 2, first & 0xFFFF, self._feedback_count & 0xFF, reference & 0x7FFFFF, tuple(statuses))
        self._feedback_count += 1
        self._next_reported = last + 1
        self._in_transit.append((now + self.link.base_delay, serialize_feedback(fb)))
        if len(self._received) > 4000:  # reordering this deep is not simulated
            self._received = {seq: at for seq, at in self._received.items() if seq >= last - 2000}

    def _deliver_feedback(self, now: float) -> None:
        while self._in_transit and self._in_transit[0][0] <= now:
            _, packet = self._in_transit.popleft()
            results = self.history.on_feedback(parse_feedback(packet), now)
            self.estimator.on_feedback(results, now)

    def between(self, start: float, end: float) -> list[Sample]:
        """The samples taken in [start, end)."""
        return [s for s in self.samples if start <= s.time < end]
