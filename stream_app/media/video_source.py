"""Raw video from the app: pushed frames (newest wins) or frames rendered on demand."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from stream_app.media.encoders import VIDEO_CLOCK_RATE
from stream_app.media.frames import PIXEL_FORMATS, VideoInput, to_video_frame

Render = Callable[[float], VideoInput]
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class FrameSource:
    """App-fed raw video for one or more peer connections.

    Push mode (no `render`): the app calls `push(frame)` from any thread or the event loop, at its
    own pace. Only the newest frame not yet taken by the encoder is kept: pushing over an unsent
    frame drops it and counts it in `dropped`, so a slow encoder never works through stale frames.

    Pull mode (`render` given): `render(capture_time)` is called when the encoder is ready for the
    next frame, at most `fps` times a second; `capture_time` is seconds since the Unix epoch. When
    the encoder is late, the frame slots it missed are skipped (counted in `dropped`), not caught
    up. `render` runs in a worker thread, one call at a time per source.

    Frames are HxWx3/4 `uint8` numpy arrays in `pixel_format` (`rgb24` default, `bgr24`, `rgba`,
    `bgra`) or `av.VideoFrame`s in any pixel format, taken as they are (`frame_from_buffer` wraps
    a renderer's read-back without a copy); width and height must be even. Each
    `track()` is a fresh track for one peer connection; every live track gets every frame.
    """

    def __init__(self, fps: float, *, render: Render | None = None, pixel_format: str = "rgb24") -> None:
        if not 0 < fps <= 240:
            raise ValueError(f"frame rate {fps} must be above 0 and at most 240")
        if pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel format {pixel_format!r} is not one of {', '.join(PIXEL_FORMATS)}")
        self.fps = float(fps)
        self.pixel_format = pixel_format
        self._render = render
        self._render_lock = threading.Lock()
        self._lock = threading.Lock()
        self._tracks: list[_FrameTrack] = []
        self.dropped = 0
        self.delivered = 0

    @property
    def pull_mode(self) -> bool:
        return self._render is not None

    def push(self, frame: VideoInput) -> None:
        """Offer a frame to every live track; thread-safe. Raises ValueError for a frame that
        cannot be encoded (wrong shape, dtype or odd size) and RuntimeError in pull mode."""
        if self._render is not None:
            raise RuntimeError("this FrameSource renders its own frames (pull mode); push() is for push mode")
        video_frame = to_video_frame(frame, self.pixel_format)
        captured = time.monotonic()
        with self._lock:
            tracks = list(self._tracks)
        for i, track in enumerate(tracks):
            # The encoder stamps pts on the frame it gets, so tracks must not share one.
            track._offer(video_frame if i == 0 else _copy(video_frame), captured)

    def track(self) -> MediaStreamTrack:
        """A new video track fed by this source; call in the event loop, once per peer connection."""
        track = _FrameTrack(self, asyncio.get_running_loop())
        with self._lock:
            self._tracks.append(track)
        return track

    def _count(self, *, delivered: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.delivered += delivered
            self.dropped += dropped

    def _forget(self, track: _FrameTrack) -> None:
        with self._lock:
            if track in self._tracks:
                self._tracks.remove(track)

    def _render_frame(self, capture_time: float) -> av.VideoFrame:
        assert self._render is not None
        with self._render_lock:
            return to_video_frame(self._render(capture_time), self.pixel_format)


class _FrameTrack(MediaStreamTrack):
    """One peer connection's view of a FrameSource."""

    kind = "video"

    def __init__(self, source: FrameSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._source = source
        self._owner_loop = loop
        self._pending: tuple[av.VideoFrame, float] | None = None
        self._lock = threading.Lock()
        self._arrived = asyncio.Event()
        self._start = time.monotonic()
        self._slot = 0
        self._last_pts = -1
        self.delivered = 0
        self.dropped = 0

    def _offer(self, frame: av.VideoFrame, captured: float) -> None:
        with self._lock:
            replaced = self._pending is not None
            self._pending = (frame, captured)
            self.dropped += int(replaced)
        if replaced:
            self._source._count(dropped=1)
        try:
            self._owner_loop.call_soon_threadsafe(self._arrived.set)
        except RuntimeError:
            pass  # the loop is closed: the session is over and nobody reads this track

    async def recv(self) -> av.VideoFrame:
        """The next frame to encode (newest pushed, or rendered for the current slot)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._source.pull_mode:
            frame, captured = await self._next_rendered()
        else:
            frame, captured = await self._next_pushed()
        self.delivered += 1
        self._source._count(delivered=1)
        pts = max(int((captured - self._start) * VIDEO_CLOCK_RATE), self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = _TIME_BASE
        return frame

    async def _next_pushed(self) -> tuple[av.VideoFrame, float]:
        while True:
            with self._lock:
                pending, self._pending = self._pending, None
                self._arrived.clear()
            if pending is not None:
                return pending
            await self._arrived.wait()
            if self.readyState != "live":
                raise MediaStreamError

    async def _next_rendered(self) -> tuple[av.VideoFrame, float]:
        now = time.monotonic()
        if self._slot == 0:
            self._start = now  # slots count from the first request, not from connection set-up
        due = self._start + self._slot / self._source.fps
        if due > now:
            await asyncio.sleep(due - now)
        elif self._slot:
            current = int((now - self._start) * self._source.fps)
            if current > self._slot:
                self.dropped += current - self._slot
                self._source._count(dropped=current - self._slot)
                self._slot = current
        self._slot += 1
        captured = time.monotonic()
        frame = await asyncio.get_running_loop().run_in_executor(None, self._source._render_frame, time.time())
        return frame, captured

    def stop(self) -> None:
        super().stop()
        self._source._forget(self)
        self._arrived.set()


def _copy(frame: av.VideoFrame) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
