"""Bandwidth probing: when to send a short burst above the estimate, and what its feedback says.

After libwebrtc's probe_controller and probe_bitrate_estimator. A probe is a cluster of packets the
pacer sends at a given bitrate for about 15 ms (at least 5 packets); if the receiver saw them
arrive about as fast as they were sent, the link carries at least that much, and the estimate
jumps there instead of creeping up at 8 %/s. Probes are sent:

- at start, at 3x the start bitrate, then again at 2x each result as long as a result reaches
  70 % of what was probed (exponential probing, up to the maximum). libwebrtc sends 3x and 6x at
  once; one at a time costs a fast link one round trip and spares a slow one half the probe's
  queue (at 1.5 Mbit/s start, 6x for 15 ms is 17 KB: 270 ms behind a 500 kbit/s link);
- after a large drop (the estimate fell below 66 % of the best delivered in the last 2 s), once the
  estimate holds, every 1-2 s at 2x the estimate for up to a minute, until it is back near what was delivered
  before the drop, so a link that comes back is found fast (a probe at 2x on a link that did not
  come back costs a few ms of queue);
- while the sender is application-limited (it sends under 65 % of the estimate, e.g. a still
  scene), every 5 s at 2x the estimate: the delay-based estimate cannot grow past 1.5x what is
  sent, so without probes it would go stale just when the scene gets busy;
- when an upper bound that was limiting the estimate (REMB) rises;
- when jitter found since the last probe makes it too short to be believed: under jitter probes
  last 12x the RFC 3550 jitter (15-100 ms), since a shorter one's spread-out arrivals read slow;
- when the first exponential probing was cut short (its last probe never answered: lost, or never
  sent) with the estimate under half the maximum: again, a 15 ms probe at 2x the estimate, 2 s
  later and then every 2x longer up to 8 s, while the delay detector is normal and loss low, until
  a probe is answered. One probe cut short would otherwise leave the estimate to grow by AIMD's
  8 %/s for good: the encoder fills its target, so no application-limited probe comes, and no
  drop, so no recovery probe. A probe that came back under 70 % of its rate has shown the link:
  behind a token-bucket shaper a short probe at twice that rate rides the bucket's burst and reads
  as a link twice as fast, so none follows it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from stream_app.media.transport_cc import PacketResult

FIRST_PROBE_SCALES = (3.0,)
FURTHER_PROBE_SCALE = 2.0
FURTHER_PROBE_THRESHOLD = 0.7
PROBE_DURATION_S = 0.015
# Jitter spreads a probe's arrivals by a few times the RFC 3550 jitter; a probe much shorter than
# that reads as a slow link. Under jitter, probes last 12x the jitter (3x spread, 25 % error), to 100 ms.
PROBE_JITTER_FACTOR = 12.0
MAX_PROBE_DURATION_S = 0.1
PROBE_MIN_PACKETS = 5
PROBE_RESULT_TIMEOUT_S = 1.0  # kMaxWaitingTimeForProbingResult
LARGE_DROP = 0.66  # kBitrateDropThreshold
RECOVERY_INTERVAL_S = (1.0, 2.0)  # first and longest wait between recovery probes
RECOVERY_WINDOW_S = 60.0
DELIVERED_MEMORY_S = 2.0  # what was delivered "before the drop": the best of this long before it
ALR_RATIO = 0.65  # kDefaultAlrBandwidthUsageRatio: sending less than this of the estimate
ALR_AFTER_S = 0.5  # application-limited for this long before it counts
ALR_PROBE_INTERVAL_S = 5.0  # kAlrPeriodicProbingInterval
REPROBE_INTERVAL_S = (2.0, 8.0)  # first and longest wait between probes after probing fell short
REPROBE_GROWTH = 2.0
# Probing again stops after this many signs that the link is found (a probe again that filled it,
# the first overuse): one reading spread out by a moment's jitter on the path (a busy relay) must not end it.
REPROBE_REACHED = 2
REPROBE_BELOW_MAX = 0.5  # probing fell short only if it left the estimate under this share of the maximum
REPROBE_MAX_LOSS = 0.02  # no re-probe while more is lost than this (the loss-based bound's "low")
MIN_RECEIVED_RATIO = 0.8  # of a cluster's packets and bytes, for a result to count
MAX_PROBE_INTERVAL_S = 1.0
MAX_RECEIVE_SEND_RATIO = 2.0  # arrivals faster than this x sending: bogus timestamps
UNSATURATED_RATIO = 0.9
LATE_MIN_PACKETS = 3  # arrivals in a probe's later half needed to read its rate there
SATURATED_UTILIZATION = 0.95


Chain = Literal["first", "again", "other"]
"""What started a run of exponential probing: the session's start, probing again after that fell short, else."""


@dataclass(frozen=True)
class ProbeCluster:
    """A probe the pacer should send: at least `min_packets` and `min_bytes`, at `bitrate` (bits/s).

    Packets sent for it carry `id` as their `SentPacket.probe_cluster`.
    """

    id: int
    bitrate: float
    min_packets: int
    min_bytes: int
    initial: bool = field(default=False, compare=False)  # one of the first probes, sent before any feedback


@dataclass(frozen=True)
class ProbeResult:
    """What a probe's feedback showed: `bitrate` (bits/s) for the cluster `cluster` probed at `probed`.

    `saturated` when its packets arrived slower than they were sent: the link, not the sender, set
    the result, so a result well under `probed` is the link's rate.
    """

    cluster: int
    bitrate: float
    probed: float
    saturated: bool


class ProbeController:
    """Decides when to probe and at what rate, from the estimates it is shown."""

    def __init__(self, start_bps: float, max_bps: float) -> None:
        self._max = max_bps
        self._next_id = 1
        self.jitter = 0.0  # seconds, set by the estimator from the feedback
        self._last_duration = PROBE_DURATION_S
        self._last_cluster = 0  # the id of the latest probe asked for (set by _cluster)
        self._queue: deque[ProbeCluster] = deque(self._cluster(start_bps * s, initial=True) for s in FIRST_PROBE_SCALES)
        last = self._queue[-1].bitrate
        self._further_above: float | None = last * FURTHER_PROBE_THRESHOLD if last < max_bps else None
        self._last_probe_time: float | None = None
        self._estimate = start_bps
        self._drop_time: float | None = None
        self._before_drop = 0.0
        self._recovery_wait = RECOVERY_INTERVAL_S[0]
        self._delivered: deque[tuple[float, float]] = deque()  # (time, acknowledged bitrate), decreasing rates
        self._limited_since: float | None = None
        self._last_result: ProbeResult | None = None  # the latest result of any probe
        # Probing again after the first probing fell short: when (None: not planned) and the wait after that.
        self._reprobe_at: float | None = None
        self._reprobe_wait = REPROBE_INTERVAL_S[0]
        self._reached = 0  # signs the link is found: probes again that filled it, a first overuse
        self._overuse_seen = False
        self._chain: Chain = "first"  # what started the probing under way (or last under way)

    def _cluster(self, bitrate: float, initial: bool = False, short: bool = False) -> ProbeCluster:
        """A probe at `bitrate`: as long as the jitter needs, or the shortest if `short`."""
        bitrate = min(bitrate, self._max)
        cluster_id, self._next_id = self._next_id, self._next_id + 1
        self._last_cluster = cluster_id
        if short:
            duration = PROBE_DURATION_S  # not the length jitter asks for: a longer probe is not owed
        else:
            duration = self._last_duration = self._duration()
        return ProbeCluster(cluster_id, bitrate, PROBE_MIN_PACKETS, int(bitrate * duration / 8), initial)

    def _duration(self) -> float:
        return min(MAX_PROBE_DURATION_S, max(PROBE_DURATION_S, PROBE_JITTER_FACTOR * self.jitter))

    def _probe(self, bitrate: float, now: float, chain: Chain | None = "other", short: bool = False) -> bool:
        """Ask for a probe at `bitrate`, starting a run of probing of kind `chain` (None: the next of this run);
        `short`: the shortest probe, whatever the jitter."""
        bitrate = min(bitrate, self._max)
        if bitrate <= self._estimate or self._queue:
            return False  # nothing to learn, or the last request is not even sent yet
        if chain is not None:
            self._chain = chain
        # Probing again starts short: on a link that really is slow, it is queue paid for nothing.
        self._queue.append(self._cluster(bitrate, short=short or chain == "again"))
        # Probe further only from below the maximum: a result near a probe at the maximum would
        # otherwise ask for the same probe again on every tick.
        self._further_above = bitrate * FURTHER_PROBE_THRESHOLD if bitrate < self._max else None
        self._last_probe_time = now
        return True

    def _remember_delivered(self, delivered: float | None, now: float) -> float:
        if delivered is not None:
            while self._delivered and self._delivered[-1][1] <= delivered:
                self._delivered.pop()
            self._delivered.append((now, delivered))
        while self._delivered and self._delivered[0][0] < now - DELIVERED_MEMORY_S:
            self._delivered.popleft()
        return self._delivered[0][1] if self._delivered else 0.0

    def on_estimate(
        self,
        bitrate: float,
        now: float,
        settled: bool,
        delivered: float | None = None,
        loss: float = 0.0,
        overusing: bool = False,
    ) -> None:
        """The current estimate; `settled` when the link is quiet (the detector normal, no queue standing).

        `delivered` is the acknowledged bitrate: a drop is only worth recovering to what the link
        really carried before it, not to an estimate nothing had tested (the start bitrate).
        `loss` is the fraction the feedback reports lost; `overusing` when the detector sees a queue grow.
        """
        if overusing and not self._overuse_seen:
            self._overuse_seen = True  # the sender met the link: one sign that probing again is not owed
            self._reached += 1
        best_delivered = self._remember_delivered(delivered, now)
        # Against the best delivered in the last 2 s, not the previous estimate: a drop in steps
        # of 0.85 is as large a drop as one in a single step.
        if self._drop_time is None and bitrate < LARGE_DROP * best_delivered:
            self._before_drop = best_delivered
            self._drop_time = now
            self._recovery_wait = RECOVERY_INTERVAL_S[0]
            self._further_above = None
        self._estimate = bitrate
        waiting = self._last_probe_time is not None and now - self._last_probe_time < PROBE_RESULT_TIMEOUT_S
        if self._further_above is not None and bitrate > self._further_above and waiting:
            self._probe(FURTHER_PROBE_SCALE * bitrate, now, None)  # exponential probing: the last one got through
        elif self._further_above is not None and not waiting and self._last_probe_time is not None:
            self._further_above = None
            self._probing_ended(now)
        if settled and self._drop_time is not None:
            self._maybe_probe_recovery(now)
        self._maybe_probe_application_limited(bitrate, delivered, now, settled)
        self._maybe_probe_longer(bitrate, now, settled)
        self._maybe_probe_again(bitrate, now, settled and loss <= REPROBE_MAX_LOSS)

    def on_probe_result(self, result: ProbeResult) -> None:
        """A probe's result (`ProbeBitrateEstimator.on_result`)."""
        self._last_result = result

    def _link_reached(self) -> bool:
        """Whether the latest probe asked for filled the link: it came back saturated, under 70 % of its rate."""
        result = self._last_result
        if result is None or result.cluster != self._last_cluster:
            return False  # lost, or never answered
        return result.saturated and result.bitrate < FURTHER_PROBE_THRESHOLD * result.probed

    def _probing_ended(self, now: float) -> None:
        """Exponential probing stopped: its last probe came back under 70 % of its rate, or not at all.

        Probing again is planned only when that probe was never answered (lost, or never sent). One
        that came back under 70 % has shown the link: behind a token-bucket shaper (a tbf cap, an
        access link's policer) a short probe at twice that rate rides the bucket's burst, reads
        as a link twice as fast, and lifts the estimate above what the link carries.
        """
        if self._chain == "again" and self._link_reached():
            self._reached += 1
        if self._chain in ("first", "again") and not self._answered():
            self._reprobe_at = now + self._reprobe_wait

    def _answered(self) -> bool:
        """Whether the latest probe asked for has a result."""
        return self._last_result is not None and self._last_result.cluster == self._last_cluster

    def _maybe_probe_again(self, bitrate: float, now: float, settled: bool) -> None:
        """Probe again at 2x the estimate once the wait after probing that fell short is over."""
        if self._reprobe_at is None:
            return
        if self._reached >= REPROBE_REACHED:
            self._reprobe_at = None  # the link is found: a slow link pays no more probes
            return
        if bitrate >= REPROBE_BELOW_MAX * self._max:
            self._reprobe_at = None  # found by other means; the rest is AIMD's
            return
        idle = self._last_probe_time is None or now - self._last_probe_time >= PROBE_RESULT_TIMEOUT_S
        if settled and idle and self._further_above is None and now >= self._reprobe_at:
            if self._probe(FURTHER_PROBE_SCALE * bitrate, now, "again"):
                self._reprobe_at = None  # planned again if this probing ends short too
                self._reprobe_wait = min(self._reprobe_wait * REPROBE_GROWTH, REPROBE_INTERVAL_S[1])

    def _maybe_probe_longer(self, bitrate: float, now: float, settled: bool) -> None:
        """Probe again if jitter found since the last probe makes it too short to be believed.

        The first probe goes out before any feedback, so with no jitter known; under heavy jitter its
        result reads low and the estimate would creep up at 8 %/s. Each time the jitter asks for a
        probe twice as long as the last, one more (at most three times from 15 ms to 100 ms).
        """
        if self._drop_time is not None:
            return  # recovering from a drop: the link is at capacity, its jitter our own (recovery probes are short)
        idle = self._last_probe_time is None or now - self._last_probe_time >= PROBE_RESULT_TIMEOUT_S
        if settled and idle and self._further_above is None and self._duration() >= 2 * self._last_duration:
            self._probe(FURTHER_PROBE_SCALE * bitrate, now)

    def _maybe_probe_application_limited(
        self, bitrate: float, delivered: float | None, now: float, settled: bool
    ) -> None:
        if delivered is None or delivered >= ALR_RATIO * bitrate:
            self._limited_since = None
            return
        if self._limited_since is None:
            self._limited_since = now
        idle = self._last_probe_time is None or now - self._last_probe_time >= ALR_PROBE_INTERVAL_S
        if settled and idle and now - self._limited_since >= ALR_AFTER_S:
            self._probe(FURTHER_PROBE_SCALE * bitrate, now)

    def _maybe_probe_recovery(self, now: float) -> None:
        assert self._drop_time is not None
        if now - self._drop_time > RECOVERY_WINDOW_S or self._estimate >= 0.85 * self._before_drop:
            self._drop_time = None
            return
        last = self._drop_time if self._last_probe_time is None else max(self._last_probe_time, self._drop_time)
        if now - last >= self._recovery_wait:
            # Short: on a link that did not come back, a probe at 2x adds its own length to the queue,
            # and the jitter a link at capacity shows (our own frames queueing, 3-4 ms in the lab)
            # asked for 40 ms probes, spikes of 100-150 ms behind a standing queue. If the link came
            # back, the chain that follows is as long as the jitter wants.
            self._probe(FURTHER_PROBE_SCALE * self._estimate, now, short=True)
            self._recovery_wait = min(self._recovery_wait * 1.5, RECOVERY_INTERVAL_S[1])

    def on_bound_raised(self, bound: float, now: float) -> None:
        """An upper bound (REMB) that limited the estimate rose to `bound`: find out whether the link follows."""
        self._probe(bound, now)

    def next_probe(self, now: float) -> ProbeCluster | None:
        """The next probe the pacer should send, if any (each is returned once)."""
        if not self._queue:
            return None
        self._last_probe_time = now
        return self._queue.popleft()


def _late_receive_rate(arrivals: list[tuple[float, int]], whole: float) -> float:
    """The receive rate over the later half of a probe's arrivals (`whole` if too few to tell).

    A token bucket (the lab's tbf cap, an access link's shaper or policer) lets the first few KB of a
    probe through at line rate and the rest at its rate; over the whole probe the burst reads as
    capacity (a 15 ms probe at 8.2 Mbit/s read 6.3 on the lab's 5 Mbit/s link, and the estimate went
    there). Once the burst is spent, arrivals come at the rate the link sustains.
    """
    ordered = sorted(arrivals)
    late = ordered[len(ordered) // 2 :]
    if len(late) < LATE_MIN_PACKETS:
        return whole
    interval = late[-1][0] - late[0][0]
    if interval <= 0:
        return whole
    return sum(size for _, size in late[1:]) * 8 / interval


@dataclass
class _ClusterPackets:
    first_send: float = float("inf")
    last_send: float = float("-inf")
    last_send_size: int = 0
    first_arrival: float = float("inf")
    first_arrival_size: int = 0
    last_arrival: float = float("-inf")
    packets: int = 0
    size: int = 0
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (arrival, size) of each packet


class ProbeBitrateEstimator:
    """The bitrate a probe's feedback shows: min(send rate, receive rate), less if the receiver fell behind."""

    def __init__(self) -> None:
        self._clusters: dict[int, tuple[ProbeCluster, _ClusterPackets]] = {}

    def on_probe(self, cluster: ProbeCluster) -> None:
        """A probe the pacer is sending; its packets' feedback will be read against it."""
        self._clusters[cluster.id] = (cluster, _ClusterPackets())
        while len(self._clusters) > 8:
            del self._clusters[min(self._clusters)]

    def is_initial(self, result: PacketResult) -> bool:
        """Whether `result` belongs to one of the first probes."""
        entry = self._clusters.get(result.sent.probe_cluster or 0)
        return entry is not None and entry[0].initial

    def on_result(self, result: PacketResult) -> ProbeResult | None:
        """Add one packet's feedback; return what the cluster showed once enough of it has arrived."""
        cluster_id = result.sent.probe_cluster
        if cluster_id is None or cluster_id not in self._clusters or result.arrival is None:
            return None
        cluster, seen = self._clusters[cluster_id]
        sent, arrival = result.sent, result.arrival
        if sent.send_time < seen.first_send:
            seen.first_send = sent.send_time
        if sent.send_time >= seen.last_send:
            seen.last_send, seen.last_send_size = sent.send_time, sent.size
        if arrival < seen.first_arrival:
            seen.first_arrival, seen.first_arrival_size = arrival, sent.size
        seen.last_arrival = max(seen.last_arrival, arrival)
        seen.packets += 1
        seen.size += sent.size
        seen.arrivals.append((arrival, sent.size))
        enough = seen.packets >= MIN_RECEIVED_RATIO * cluster.min_packets
        if not enough or seen.size < MIN_RECEIVED_RATIO * cluster.min_bytes:
            return None
        send_interval = seen.last_send - seen.first_send
        receive_interval = seen.last_arrival - seen.first_arrival
        if not (0 < send_interval <= MAX_PROBE_INTERVAL_S and 0 < receive_interval <= MAX_PROBE_INTERVAL_S):
            return None
        # The last packet sent and the first received open no interval of their own.
        send_rate = (seen.size - seen.last_send_size) * 8 / send_interval
        receive_rate = (seen.size - seen.first_arrival_size) * 8 / receive_interval
        if receive_rate > MAX_RECEIVE_SEND_RATIO * send_rate:
            return None
        receive_rate = min(receive_rate, _late_receive_rate(seen.arrivals, receive_rate))
        # Never more than the rate asked for: the pacer sends in 5 ms rounds, so a 15 ms probe's send
        # interval reads short (a 4.2 Mbit/s probe read 6.1 in the lab), and behind a token bucket its
        # arrivals ride the burst; believed, such a result lifts the estimate above the link.
        if receive_rate < UNSATURATED_RATIO * send_rate:
            return ProbeResult(
                cluster.id, min(SATURATED_UTILIZATION * receive_rate, cluster.bitrate), cluster.bitrate, True
            )
        return ProbeResult(cluster.id, min(send_rate, receive_rate, cluster.bitrate), cluster.bitrate, False)
