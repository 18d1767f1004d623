"""The sending side's numbers, once a second: to the page (a `media` signaling message) and the log.

`report()` is pure: it turns two snapshots of `MediaStats` into the wire message; `MediaReporter`
is the small loop a client connection runs while media flows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from stream_app.media import MediaSession, MediaStats
from stream_app.signaling import MediaReport

logger = logging.getLogger(__name__)

INTERVAL = 1.0
LOG_EVERY = 10  # reports: one INFO line every 10 s per session


def report(now: MediaStats, before: MediaStats | None, seconds: float) -> MediaReport:
    """The report for the interval between `before` and `now` (`seconds` long)."""
    encoded = now.frames_encoded - (before.frames_encoded if before else 0)
    congestion = now.congestion
    return MediaReport(
        codec=now.codec,
        width=now.width,
        height=now.height,
        fps=round(encoded / seconds, 1) if seconds > 0 else 0.0,
        max_fps=congestion.fps if congestion else 0.0,
        target_kbps=now.target_bitrate // 1000,
        estimate_kbps=(congestion.estimate_bitrate if congestion else now.target_bitrate) // 1000,
        pacing_kbps=(congestion.pacing_bitrate // 1000) if congestion else 0,
        acknowledged_kbps=(congestion.acknowledged_bitrate // 1000) if congestion else 0,
        limited_by=congestion.limited_by if congestion else "remb",
        delay_state=congestion.delay_state if congestion else "normal",
        loss_percent=round(100 * congestion.loss_fraction, 2) if congestion else 0.0,
        rtt_ms=round(congestion.rtt_ms, 1) if congestion else 0.0,
        pacer_queue_ms=round(congestion.pacer_queue_ms, 1) if congestion else 0.0,
        frames_skipped=congestion.frames_skipped_congestion if congestion else 0,
        retransmissions=congestion.retransmissions if congestion else 0,
        keyframes=now.keyframes,
        transport_cc=congestion.transport_cc if congestion else False,
    )


def log_line(session_id: str, message: MediaReport) -> str:
    """The INFO line a session writes every `LOG_EVERY` reports."""
    return (
        f"session {session_id}: media {message.codec} {message.width}x{message.height} {message.fps:g} fps "
        f"(ladder {message.max_fps:g}), target {message.target_kbps} kbit/s, estimate {message.estimate_kbps} "
        f"({message.limited_by}, {message.delay_state}), acked {message.acknowledged_kbps}, "
        f"loss {message.loss_percent:g}%, rtt {message.rtt_ms:g} ms, pacer {message.pacer_queue_ms:g} ms, "
        f"skipped {message.frames_skipped}, rtx {message.retransmissions}, keyframes {message.keyframes}"
    )


class MediaReporter:
    """Sends a report every `INTERVAL` through `send` and logs every `LOG_EVERY`th, until stopped."""

    def __init__(self, session_id: str, media: MediaSession, send: Callable[[MediaReport], Awaitable[None]]) -> None:
        self._session_id = session_id
        self._media = media
        self._send = send
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"media-report-{self._session_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        before, at, count = self._media.stats(), loop.time(), 0
        while True:
            await asyncio.sleep(INTERVAL)
            now, now_at = self._media.stats(), loop.time()
            message = report(now, before, now_at - at)
            before, at, count = now, now_at, count + 1
            if count % LOG_EVERY == 0:
                logger.info("%s", log_line(self._session_id, message))
            try:
                await self._send(message)
            except ConnectionError:
                return  # the client went away; the session notices on its own
