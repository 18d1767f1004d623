"""The pacer's schedule: when each queued RTP packet may leave, at a pacing rate, never in a burst.

aiortc writes a whole frame's packets to the socket at once. On a narrow link that burst lands in
the bottleneck's queue in one go, the queue grows by a frame every frame the encoder overshoots,
and the browser's delay-based estimate reads a burst as congestion. libwebrtc's pacer sends packets
at a multiple of the target rate instead, in small intervals (5 ms), retransmissions first; so does
this one. It is pure: the caller passes the clock, gets back the packets that may go now, and asks
when to wake up next (the shell in `video_sender.py` does the sleeping and the socket writes).

Probing: while a probe cluster is active the pacer runs at the probe's rate and, when it runs out
of media to send, asks the shell for padding (`padding_wanted`), so the cluster reaches its size.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Generic, TypeVar

from stream_app.media.probes import ProbeCluster

Item = TypeVar("Item")

# libwebrtc's pacer processes every 5 ms; each interval may send the budget of that interval. A
# longer interval means bigger bursts, a shorter one more wake-ups of the event loop.
INTERVAL = 0.005
# Budget left unused is not saved up beyond this: a paced stream that idled does not then burst.
MAX_CREDIT = INTERVAL


class Priority(IntEnum):
    """Queues drain in this order: audio, then retransmissions, then new video, then padding."""

    AUDIO = 0
    RETRANSMISSION = 1
    VIDEO = 2


@dataclass
class Queued(Generic[Item]):
    item: Item
    size: int
    enqueued: float
    priority: Priority
    probe_cluster: int | None = None


class Pacer(Generic[Item]):
    """Leaky-bucket schedule over three priority queues, with probe clusters."""

    def __init__(self, bitrate: int, now: float) -> None:
        if bitrate <= 0:
            raise ValueError(f"the pacing rate must be positive, got {bitrate} bps")
        self._bitrate = bitrate
        self._queues: tuple[deque[Queued[Item]], ...] = tuple(deque() for _ in Priority)
        self._budget = 0.0  # bytes that may still go in this interval; negative after a big packet
        self._updated = now
        self._probe: ProbeCluster | None = None
        self._probe_sent_bytes = 0
        self._probe_sent_packets = 0
        self.queued_bytes = 0
        self.sent_bytes = 0
        self.sent_packets = 0

    @property
    def bitrate(self) -> int:
        """The current pacing rate, bits per second (the probe's while a probe runs)."""
        return int(self._probe.bitrate) if self._probe is not None else self._bitrate

    def set_bitrate(self, bitrate: int, now: float) -> None:
        """Pace at `bitrate` from now on (the budget earned so far is kept at the old rate)."""
        if bitrate <= 0:
            raise ValueError(f"the pacing rate must be positive, got {bitrate} bps")
        self._earn(now)
        self._bitrate = bitrate

    def start_probe(self, cluster: ProbeCluster, now: float) -> None:
        """Send at the cluster's rate until it has sent `min_bytes` and `min_packets`."""
        self._earn(now)
        self._probe = cluster
        self._probe_sent_bytes = 0
        self._probe_sent_packets = 0

    @property
    def probe_cluster(self) -> int | None:
        """The id of the probe cluster being sent, if any."""
        return self._probe.id if self._probe is not None else None

    def push(self, item: Item, size: int, priority: Priority, now: float) -> None:
        """Queue `item` of `size` bytes."""
        self._queues[priority].append(Queued(item, size, now, priority))
        self.queued_bytes += size

    def pop_ready(self, now: float) -> list[Queued[Item]]:
        """The packets that may leave now, in sending order; each is tagged with its probe cluster."""
        self._earn(now)
        ready: list[Queued[Item]] = []
        while self._budget > 0:
            queued = self._next()
            if queued is None:
                break
            self._budget -= queued.size
            self.queued_bytes -= queued.size
            self._account(queued)
            ready.append(queued)
        return ready

    def padding_wanted(self, now: float) -> int:
        """Bytes of padding a running probe still needs now that the queues are empty (else 0)."""
        self._earn(now)
        if self._probe is None or self.queued_bytes > 0 or self._budget <= 0:
            return 0
        missing = self._probe.min_bytes - self._probe_sent_bytes
        # Bytes may be met before packets are: still ask for one more (small) packet then.
        return max(1, min(int(self._budget), missing))

    def end_probe(self) -> None:
        """Give up the running probe (e.g. nothing to pad with)."""
        self._probe = None

    def sent_padding(self, size: int) -> int | None:
        """Account for `size` bytes of padding sent for the probe; returns the probe cluster id."""
        self._budget -= size
        cluster = self.probe_cluster
        self._account_probe(size)
        self.sent_bytes += size
        self.sent_packets += 1
        return cluster

    def next_wakeup(self, now: float) -> float | None:
        """When `pop_ready` (or padding) may next have something to do; None when idle."""
        if self.queued_bytes == 0 and self._probe is None:
            return None
        if self._budget > 0:
            return now
        return now + min(INTERVAL, -self._budget * 8 / self.bitrate)

    def queue_time(self) -> float:
        """Seconds the queued packets need at the pacing rate: how late the last of them will go."""
        return self.queued_bytes * 8 / self._bitrate

    def oldest(self) -> float | None:
        """When the oldest queued packet was queued, or None when empty."""
        times = [queue[0].enqueued for queue in self._queues if queue]
        return min(times) if times else None

    def drop_video(self) -> int:
        """Empty the new-video queue (e.g. before a keyframe makes it useless); returns packets dropped."""
        queue = self._queues[Priority.VIDEO]
        dropped = len(queue)
        self.queued_bytes -= sum(q.size for q in queue)
        queue.clear()
        return dropped

    def _earn(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        rate_bytes = self.bitrate / 8
        self._budget = min(self._budget + elapsed * rate_bytes, MAX_CREDIT * rate_bytes)

    def _next(self) -> Queued[Item] | None:
        for queue in self._queues:
            if queue:
                return queue.popleft()
        return None

    def _account(self, queued: Queued[Item]) -> None:
        self.sent_bytes += queued.size
        self.sent_packets += 1
        if self._probe is not None:
            queued.probe_cluster = self._probe.id
            self._account_probe(queued.size)

    def _account_probe(self, size: int) -> None:
        if self._probe is None:
            return
        self._probe_sent_bytes += size
        self._probe_sent_packets += 1
        if self._probe_sent_bytes >= self._probe.min_bytes and self._probe_sent_packets >= self._probe.min_packets:
            self._probe = None
