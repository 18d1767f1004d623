"""The stream app's Prometheus metrics, served by the control server at `GET /metrics`.

One registry per app (no global registry). The numbers already exist where the work is done:
the session slot (state, end reason), the media pipeline (`MediaSession.stats()`, the encoder's
per-frame time), aiortc's RTCP statistics (RTT, loss, bytes sent), the input receiver's counters.
`StreamAppMetrics.follow(session)` samples them once a second while a session lives and folds
what changed into counters and gauges; session state and ports in use are read when scraped.
Names, types and labels: docs/observability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from stream_app.client_connection import ClientConnection
from stream_app.media import MediaSession, MediaStats
from stream_app.ports import PortRange
from stream_app.session import (
    REASON_CLIENT,
    REASON_ENDSESSION,
    REASON_IDLE,
    REASON_RESUME_EXPIRED,
    REASON_SHUTDOWN,
    AppSession,
    SessionSlot,
)

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL: Final = 1.0

# End reasons as `outcome` labels: a fixed set, so a new free-text reason cannot grow the series.
OUTCOMES: Final[dict[str, str]] = {
    REASON_CLIENT: "client",
    REASON_ENDSESSION: "endsession",
    REASON_IDLE: "idle",
    REASON_SHUTDOWN: "shutdown",
    REASON_RESUME_EXPIRED: "resume_expired",
    "media failed": "media_failed",
    "no free media port": "no_ports",
}
OTHER_OUTCOME: Final = "other"
SESSION_STATES: Final = ("idle", "connected", "waiting", "ended")
_ENCODE_BUCKETS: Final = (0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.025, 0.033, 0.05, 0.1, 0.25)
_PROC_NET_UDP: Final = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def outcome_of(reason: str | None) -> str:
    """The `outcome` label of a session that ended for `reason`."""
    return OUTCOMES.get(reason or "", OTHER_OUTCOME)


def session_state(slot: SessionSlot) -> str:
    """One of `SESSION_STATES`: what the slot holds now."""
    session = slot.current
    return "idle" if session is None else session.phase.value


def ports_in_use(tables: Iterable[str], ports: PortRange) -> int:
    """How many ports of `ports` have a UDP socket bound, from the text of /proc/net/udp and udp6."""
    found: set[int] = set()
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 2 or ":" not in fields[1]:
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in ports:
                found.add(port)
    return len(found)


def _read_tables() -> list[str]:
    tables = []
    for path in _PROC_NET_UDP:
        with contextlib.suppress(OSError):
            tables.append(path.read_text())
    return tables


@dataclass(frozen=True)
class MediaDelta:
    """What one media session did between two snapshots (pure: `media_delta`)."""

    frames_sent: int
    dropped_source: int
    dropped_congestion: int


def media_delta(now: MediaStats, before: MediaStats | None) -> MediaDelta:
    """The frames sent and dropped between `before` (None: the session's start) and `now`."""
    congestion_now = now.congestion.frames_skipped_congestion if now.congestion else 0
    congestion_before = before.congestion.frames_skipped_congestion if before and before.congestion else 0
    return MediaDelta(
        frames_sent=now.frames_encoded - (before.frames_encoded if before else 0),
        dropped_source=now.frames_dropped - (before.frames_dropped if before else 0),
        dropped_congestion=congestion_now - congestion_before,
    )


class _Live(Collector):
    """Read at scrape time: the session's state and the media ports in use."""

    def __init__(self, slot: SessionSlot, ports: PortRange) -> None:
        self._slot = slot
        self._ports = ports

    def describe(self) -> Iterable[Any]:
        return list(self._families(scraping=False))

    def collect(self) -> Iterable[Any]:
        return list(self._families(scraping=True))

    def _families(self, scraping: bool) -> Iterator[GaugeMetricFamily]:
        state = GaugeMetricFamily(
            "stream_app_session_state", "1 for the state the session slot is in, 0 for the others", labels=["state"]
        )
        now = session_state(self._slot) if scraping else ""
        for name in SESSION_STATES:
            state.add_metric([name], 1.0 if name == now else 0.0)
        yield state
        in_use = ports_in_use(_read_tables(), self._ports) if scraping else 0
        yield GaugeMetricFamily(
            "stream_app_media_ports_in_use",
            "UDP ports of the media range with a socket bound on this host (any process)",
            value=in_use,
        )
        yield GaugeMetricFamily("stream_app_media_ports", "UDP ports in the media range", value=len(self._ports))


@dataclass
class _Seen:
    """What a session's sampler has already counted."""

    media: MediaSession | None = None
    stats: MediaStats | None = None
    bytes_sent: int | None = None
    input_kinds: Tally[str] = field(default_factory=Tally)
    input_dropped: Tally[str] = field(default_factory=Tally)
    app_messages: Tally[tuple[str, str]] = field(default_factory=Tally)


class StreamAppMetrics:
    """Every metric the stream app exports, in a registry of its own."""

    def __init__(self, slot: SessionSlot, ports: PortRange, interval: float = SAMPLE_INTERVAL) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.interval = interval
        self._tasks: set[asyncio.Task[None]] = set()
        r = self.registry
        self.sessions_started = Counter("stream_app_sessions_started", "Sessions started", registry=r)
        self.sessions = Counter("stream_app_sessions", "Sessions ended, by outcome", ["outcome"], registry=r)
        self.frames_sent = Counter(
            "stream_app_video_frames_sent", "Video frames encoded and sent (access units in passthrough)", registry=r
        )
        self.fps = Gauge("stream_app_video_fps", "Video frames sent per second over the last second", registry=r)
        self.encode_seconds = Histogram(
            "stream_app_video_encode_seconds", "Time to encode one video frame", buckets=_ENCODE_BUCKETS, registry=r
        )
        self.frames_dropped = Counter(
            "stream_app_video_frames_dropped",
            "Video frames not sent: source (a newer frame replaced it) or congestion (the pacer held older video)",
            ["reason"],
            registry=r,
        )
        self.target_bitrate = Gauge(
            "stream_app_video_target_bitrate_bps", "Bitrate the video encoder is asked for", registry=r
        )
        self.sent_bitrate = Gauge(
            "stream_app_video_sent_bitrate_bps", "Video RTP payload bitrate sent over the last second", registry=r
        )
        self.estimate = Gauge(
            "stream_app_congestion_estimate_bps", "The congestion controller's estimate of the path's rate", registry=r
        )
        self.rtt = Gauge("stream_app_rtt_seconds", "Round-trip time from the receiver's RTCP reports", registry=r)
        self.loss = Gauge(
            "stream_app_loss_ratio", "Fraction of video packets lost, from the receiver's RTCP reports", registry=r
        )
        self.input_events = Counter(
            "stream_app_input_events", "Input events passed to the app, by kind", ["kind"], registry=r
        )
        self.input_dropped = Counter(
            "stream_app_input_events_dropped", "Input messages dropped, by reason", ["reason"], registry=r
        )
        self.app_messages = Counter(
            "stream_app_app_messages",
            "App channel messages, by direction (to_page, from_page) and outcome (sent, received, or why not)",
            ["direction", "outcome"],
            registry=r,
        )
        r.register(_Live(slot, ports))

    def follow(self, session: AppSession) -> None:
        """Count `session` and sample it every `interval` until it is over (then count its outcome)."""
        self.sessions_started.inc()
        task = asyncio.create_task(self._follow(session), name=f"metrics-{session.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _observe_encode(self, seconds: float) -> None:
        self.encode_seconds.observe(seconds)

    async def _follow(self, session: AppSession) -> None:
        seen = _Seen()
        while not session.over.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.over.wait(), self.interval)
            try:
                await self._sample(session, seen)
            except Exception:  # a metric must never take the sampler down with it
                logger.debug("session %s: metrics sample failed", session.id, exc_info=True)
        self._clear_media_gauges()
        self.sessions.labels(outcome_of(session.end_reason)).inc()

    async def _sample(self, session: AppSession, seen: _Seen) -> None:
        self._count_input(session, seen)
        connection = session.connection if isinstance(session.connection, ClientConnection) else None
        media = connection.media if connection is not None else None
        if media is not seen.media:
            if seen.media is not None:
                self._count_media(seen.media.stats(), seen)  # the last of the previous connection's frames
            seen.media, seen.stats, seen.bytes_sent = media, None, None
            if media is not None:
                media.encoder.on_encoded = self._observe_encode
        if media is None or connection is None:
            self._clear_media_gauges()
            return
        stats = media.stats()
        delta = self._count_media(stats, seen)
        self.fps.set(delta.frames_sent / self.interval)
        self.target_bitrate.set(stats.target_bitrate)
        self.estimate.set(stats.congestion.estimate_bitrate if stats.congestion else stats.target_bitrate)
        await self._sample_rtcp(connection.peer_connection, seen)

    def _count_media(self, stats: MediaStats, seen: _Seen) -> MediaDelta:
        delta = media_delta(stats, seen.stats)
        seen.stats = stats
        self.frames_sent.inc(max(delta.frames_sent, 0))
        self.frames_dropped.labels("source").inc(max(delta.dropped_source, 0))
        self.frames_dropped.labels("congestion").inc(max(delta.dropped_congestion, 0))
        return delta

    async def _sample_rtcp(self, pc: Any, seen: _Seen) -> None:
        if pc.connectionState in ("closed", "failed"):
            return
        report = await pc.getStats()
        for stat in report.values():
            if getattr(stat, "kind", None) != "video":
                continue
            if stat.type == "outbound-rtp":
                if seen.bytes_sent is not None:
                    self.sent_bitrate.set(max(stat.bytesSent - seen.bytes_sent, 0) * 8 / self.interval)
                seen.bytes_sent = stat.bytesSent
            elif stat.type == "remote-inbound-rtp":
                if stat.roundTripTime is not None:
                    self.rtt.set(stat.roundTripTime)
                self.loss.set(stat.fractionLost / 256)  # RTCP's fraction lost is in 256ths

    def _count_input(self, session: AppSession, seen: _Seen) -> None:
        counters = session.input_counters
        for kind, count in counters.by_kind.items():
            self.input_events.labels(kind).inc(count - seen.input_kinds[kind])
        for reason, count in counters.dropped.items():
            self.input_dropped.labels(reason).inc(count - seen.input_dropped[reason])
        seen.input_kinds = Tally(counters.by_kind)
        seen.input_dropped = Tally(counters.dropped)
        app = session.app_counters
        now: Tally[tuple[str, str]] = Tally({("to_page", "sent"): app.sent, ("from_page", "received"): app.received})
        now.update({("to_page", reason): count for reason, count in app.not_sent.items()})
        now.update({("from_page", code): count for code, count in app.refused.items()})
        for (direction, outcome), count in now.items():
            if count > seen.app_messages[(direction, outcome)]:
                self.app_messages.labels(direction, outcome).inc(count - seen.app_messages[(direction, outcome)])
        seen.app_messages = now

    def _clear_media_gauges(self) -> None:
        for gauge in (self.fps, self.sent_bitrate):
            gauge.set(0)

    async def close(self) -> None:
        """Stop sampling (sessions still running are not counted as ended)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
