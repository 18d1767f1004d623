"""Video the app encodes itself (e.g. with NVENC): H.264 access units sent without re-encoding."""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from stream_app.media.encoders import MAX_ACCESS_UNIT, VIDEO_CLOCK_RATE

logger = logging.getLogger(__name__)

_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
# Access units waiting for the sender. Packetizing is quick, so a longer queue means the sender
# is stuck; then everything queued is dropped and the stream restarts at the next keyframe.
MAX_QUEUED_ACCESS_UNITS = 30


class EncodedSource:
    """App-encoded H.264 (Annex B access units, one per frame) passed through as RTP.

    The producer must encode Constrained Baseline (or any profile the browser accepts for the
    negotiated `profile-level-id`), with no B-frames and SPS/PPS in front of every IDR.

    `on_keyframe_request` is called on the event loop whenever a new track starts and whenever
    the receiver asks for a keyframe (PLI/FIR); it must not block (set a flag that your encoder
    reads). A track forwards nothing until the first keyframe pushed after it started, so the
    receiver's first picture is decodable. `on_target_bitrate(bps)` is told the receiver's
    estimate (REMB) clamped to the configured range, for a producer that can follow it.
    Counters: `delivered`, `dropped` (access units discarded because the sender fell behind or
    no keyframe had arrived yet), `keyframe_requests`.
    """

    def __init__(
        self,
        *,
        on_keyframe_request: Callable[[], None] | None = None,
        on_target_bitrate: Callable[[int], None] | None = None,
    ) -> None:
        self.on_keyframe_request = on_keyframe_request
        # Called on the event loop with each new bitrate target (bps, REMB clamped to MediaConfig).
        self.on_target_bitrate = on_target_bitrate
        self._lock = threading.Lock()
        self._tracks: list[_EncodedTrack] = []
        self.delivered = 0
        self.dropped = 0
        self.keyframe_requests = 0

    def push(self, access_unit: bytes, *, keyframe: bool, timestamp: float | None = None) -> None:
        """Queue one access unit for every live track; thread-safe.

        `timestamp` is the capture time in seconds on any clock that only goes forward (default:
        now, monotonic); RTP timestamps are taken relative to a track's first access unit.
        """
        if not isinstance(access_unit, bytes | bytearray | memoryview):
            raise TypeError(f"an access unit is bytes, not {type(access_unit).__name__}")
        data = bytes(access_unit)
        if not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
            raise ValueError("an access unit must be Annex B H.264 (start with a 00 00 01 start code)")
        if len(data) > MAX_ACCESS_UNIT:
            raise ValueError(f"access unit of {len(data)} bytes is larger than {MAX_ACCESS_UNIT}")
        when = time.monotonic() if timestamp is None else float(timestamp)
        with self._lock:
            tracks = list(self._tracks)
        for track in tracks:
            track._offer(data, keyframe, when)

    def track(self) -> MediaStreamTrack:
        """A new track for one peer connection; call in the event loop. Asks for a keyframe."""
        track = _EncodedTrack(self, asyncio.get_running_loop())
        with self._lock:
            self._tracks.append(track)
        self.request_keyframe()
        return track

    def request_keyframe(self) -> None:
        """Ask the producer for a keyframe (what a PLI/FIR from the receiver does)."""
        with self._lock:
            self.keyframe_requests += 1
        callback = self.on_keyframe_request
        if callback is not None:
            try:
                callback()
            except Exception:  # the producer's bug must not end the session's RTCP handling
                logger.exception("on_keyframe_request raised")

    def _count(self, *, delivered: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.delivered += delivered
            self.dropped += dropped

    def _forget(self, track: _EncodedTrack) -> None:
        with self._lock:
            if track in self._tracks:
                self._tracks.remove(track)


class _EncodedTrack(MediaStreamTrack):
    """One peer connection's queue of access units, returned to aiortc as `av.Packet`s."""

    kind = "video"

    def __init__(self, source: EncodedSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._source = source
        self._owner_loop = loop
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[bytes, bool, float]] = collections.deque()
        self._arrived = asyncio.Event()
        self._waiting_for_keyframe = True
        self._first: float | None = None
        self._last_pts = -1
        self.delivered = 0
        self.dropped = 0

    def _offer(self, data: bytes, keyframe: bool, when: float) -> None:
        dropped = 0
        ask = False
        with self._lock:
            if self._waiting_for_keyframe and not keyframe:
                dropped = 1
            else:
                self._waiting_for_keyframe = False
                self._queue.append((data, keyframe, when))
                if len(self._queue) > MAX_QUEUED_ACCESS_UNITS:
                    # Behind by a second or so: skip to the next keyframe rather than send stale video.
                    dropped = len(self._queue)
                    self._queue.clear()
                    self._waiting_for_keyframe = ask = True
        if dropped:
            self.dropped += dropped
            self._source._count(dropped=dropped)
        if ask:
            self._owner_loop.call_soon_threadsafe(self._source.request_keyframe)
        try:
            self._owner_loop.call_soon_threadsafe(self._arrived.set)
        except RuntimeError:
            pass  # the loop is closed; nobody reads this track any more

    async def recv(self) -> av.Packet[Any]:
        """The next access unit as an `av.Packet` with a 90 kHz pts."""
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            with self._lock:
                item = self._queue.popleft() if self._queue else None
                if not self._queue:
                    self._arrived.clear()
            if item is not None:
                break
            await self._arrived.wait()
        data, keyframe, when = item
        if self._first is None:
            self._first = when
        pts = max(int((when - self._first) * VIDEO_CLOCK_RATE), self._last_pts + 1)
        self._last_pts = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = _TIME_BASE
        packet.is_keyframe = keyframe
        self.delivered += 1
        self._source._count(delivered=1)
        return packet

    def stop(self) -> None:
        super().stop()
        self._source._forget(self)
        self._arrived.set()
