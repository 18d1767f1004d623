"""The built-in video source: a moving test pattern stamped with its capture time."""

from __future__ import annotations

import asyncio
import fractions
import time

import numpy as np
from aiortc import MediaStreamTrack
from av import VideoFrame

from stream_app import stamp
from stream_app.media.video_source import FrameSource

VIDEO_CLOCK_RATE = 90_000
_BAR_PERIOD = 160
_BOX = 96


class StampedPattern:
    """Scrolling bars and a bouncing box, each frame stamped with its capture time (see `stamp`)."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 60) -> None:
        if width % 2 or height % 2 or width < stamp.STAMP_WIDTH or height < 2 * stamp.CELL + _BOX:
            raise ValueError(
                f"test pattern size {width}x{height} must be even and at least "
                f"{stamp.STAMP_WIDTH}x{2 * stamp.CELL + _BOX}"
            )
        if not 1 <= fps <= 240:
            raise ValueError(f"frame rate {fps} must be 1-240")
        self.width, self.height, self.fps = width, height, fps
        ramp = (np.arange(width + _BAR_PERIOD) % _BAR_PERIOD) * (180 / _BAR_PERIOD) + 40
        self._bars = ramp.astype(np.uint8)
        self._buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        # Chroma: eight vertical colour bands, neutral under the stamp so it stays black and white.
        band = (np.arange(width // 2) * 8 // (width // 2)).astype(np.uint8)
        u = np.broadcast_to((band * 29 + 16).astype(np.uint8), (height // 2, width // 2)).copy()
        v = np.broadcast_to((240 - band * 23).astype(np.uint8), (height // 2, width // 2)).copy()
        u[: stamp.CELL // 2, : stamp.STAMP_WIDTH // 2] = 128
        v[: stamp.CELL // 2, : stamp.STAMP_WIDTH // 2] = 128
        quarter = height // 4
        self._buffer[height : height + quarter] = u.reshape(quarter, width)
        self._buffer[height + quarter :] = v.reshape(quarter, width)

    def draw(self, index: int, capture_ms: int) -> VideoFrame:
        """Frame number `index` of the animation, stamped with `capture_ms` (a new frame each call)."""
        luma = self._buffer[: self.height]
        offset = (index * 4) % _BAR_PERIOD
        luma[:] = self._bars[offset : offset + self.width]
        span_x, span_y = self.width - _BOX, self.height - stamp.CELL - _BOX
        x = abs((index * 7) % (2 * span_x) - span_x)
        y = stamp.CELL + abs((index * 5) % (2 * span_y) - span_y)
        luma[y : y + _BOX, x : x + _BOX] = 235
        stamp.paint(luma, capture_ms)
        return VideoFrame.from_ndarray(self._buffer, format="yuv420p")

    def render(self, capture_time: float) -> VideoFrame:
        """The frame for `capture_time` (seconds since the epoch): motion follows the clock."""
        return self.draw(int(capture_time * self.fps), int(capture_time * 1000))


def pattern_source(width: int = 1280, height: int = 720, fps: float = 60) -> FrameSource:
    """The stamped test pattern as a pull-mode `FrameSource`: frames are drawn when the encoder
    is ready for one, so each carries the time it was really made."""
    return FrameSource(fps, render=StampedPattern(width, height, fps).render)


class PatternTrack(MediaStreamTrack):
    """The test pattern as a plain aiortc track at a fixed frame rate (aiortc's own encoders).

    Frames are made on demand: when the consumer is late the track skips to the current frame
    slot instead of catching up, so a slow encoder never sees a queue of stale frames.
    """

    kind = "video"

    def __init__(self, width: int = 1280, height: int = 720, fps: int = 60) -> None:
        super().__init__()
        self._pattern = StampedPattern(width, height, fps)
        self.width, self.height, self.fps = width, height, fps
        self._index = 0
        self._start: float | None = None

    def _draw(self, index: int, capture_ms: int) -> VideoFrame:
        return self._pattern.draw(index, capture_ms)

    async def recv(self) -> VideoFrame:
        """Wait for the next frame slot and return that frame, stamped with the time it was made."""
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._index / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        else:
            self._index = int((now - self._start) * self.fps)
        frame = self._draw(self._index, int(time.time() * 1000))
        frame.pts = int(self._index * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self._index += 1
        return frame
