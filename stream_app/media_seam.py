"""The one place where sessions meet the media pipeline.

Sessions call `attach(pc, video, audio)` after `setRemoteDescription(offer)` and before
`createAnswer`; apps build their sources from the classes exported here. This module is a
stand-in for `stream_app.media` (encoders, REMB, passthrough): when that package lands,
`FrameSource`, `AudioSource`, `test_pattern_source` become re-exports of it and `attach` calls
`stream_app.media.attach_media`. Nothing else in the stream app changes.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCPeerConnection
from av import AudioFrame, VideoFrame

from stream_app.config import StreamAppConfig
from stream_app.test_pattern import TestPatternTrack

VIDEO_CLOCK_RATE = 90_000

Frame = npt.NDArray[np.uint8] | VideoFrame


class VideoSource(Protocol):
    """Anything that makes a fresh video track for each peer connection."""

    def track(self) -> MediaStreamTrack: ...


class _FrameTrack(MediaStreamTrack):
    """Paces frames of a `FrameSource` at its frame rate, always the newest one."""

    kind = "video"

    def __init__(self, source: FrameSource) -> None:
        super().__init__()
        self._source = source
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> VideoFrame:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._index / self._source.fps
        if due > now:
            await asyncio.sleep(due - now)
        else:
            # Late: skip to the current slot rather than catching up with stale frames.
            self._index = int((now - self._start) * self._source.fps)
        frame = self._source.next_frame()
        # The same frame object may come back when nothing new was pushed; setting its pts is
        # safe because aiortc's sender encodes a frame before it asks for the next one.
        frame.pts = int(self._index * VIDEO_CLOCK_RATE / self._source.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self._index += 1
        return frame


class FrameSource:
    """Raw frames from the app: `push(frame)` them, or pass `render` to be asked for one per slot.

    A frame is an HxWx3 RGB `uint8` array (width and height even) or an `av.VideoFrame`. When the
    encoder takes a frame it gets the newest one pushed; older ones not yet taken count as
    `dropped`. With `render`, it is called on the event loop once per frame slot.
    """

    def __init__(self, fps: int, render: Callable[[], Frame] | None = None) -> None:
        if not 1 <= fps <= 240:
            raise ValueError(f"frame rate {fps} must be 1-240")
        self.fps = fps
        self._render = render
        self._newest: VideoFrame | None = None
        self._fresh = False
        self.dropped = 0
        self.delivered = 0

    def push(self, frame: Frame) -> None:
        """Offer a new frame; it replaces one pushed earlier that was not sent yet."""
        if self._fresh:
            self.dropped += 1
        self._newest = _video_frame(frame)
        self._fresh = True

    def next_frame(self) -> VideoFrame:
        """The frame to send now (rendered, newest pushed, or black before the first push)."""
        if self._render is not None:
            self._newest = _video_frame(self._render())
        elif self._newest is None:
            self._newest = VideoFrame.from_ndarray(np.zeros((480, 640, 3), np.uint8), format="rgb24")
        self._fresh = False
        self.delivered += 1
        return self._newest

    def track(self) -> MediaStreamTrack:
        """A fresh track for one peer connection."""
        return _FrameTrack(self)


def _video_frame(frame: Frame) -> VideoFrame:
    if isinstance(frame, VideoFrame):
        return frame
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"a frame must be an HxWx3 uint8 RGB array, not {frame.dtype} {frame.shape}")
    if frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} must be even")
    return VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")


class _AudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, source: AudioSource) -> None:
        super().__init__()
        self._source = source
        self._start: float | None = None
        self._sent = 0

    async def recv(self) -> AudioFrame:
        samples = self._source.sample_rate // 50  # 20 ms, Opus's frame
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent / self._source.sample_rate
        if due > now:
            await asyncio.sleep(due - now)
        pcm = self._source.take(samples)
        frame = AudioFrame.from_ndarray(
            pcm.reshape(1, -1), format="s16", layout="stereo" if self._source.channels == 2 else "mono"
        )
        frame.sample_rate = self._source.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self._source.sample_rate)
        self._sent += samples
        return frame


class AudioSource:
    """PCM from the app: `push` int16 arrays of shape (n, channels); silence when none is queued."""

    def __init__(self, sample_rate: int = 48000, channels: int = 2) -> None:
        if channels not in (1, 2):
            raise ValueError(f"{channels} channels: only mono and stereo are supported")
        self.sample_rate = sample_rate
        self.channels = channels
        self._queue: list[npt.NDArray[np.int16]] = []
        self._queued = 0
        self._limit = sample_rate  # keep at most one second; older samples are dropped

    def push(self, pcm: npt.NDArray[np.int16]) -> None:
        """Queue samples; when more than a second is queued the oldest are dropped."""
        if pcm.dtype != np.int16 or pcm.ndim != 2 or pcm.shape[1] != self.channels:
            raise ValueError(f"audio must be int16 of shape (n, {self.channels}), not {pcm.dtype} {pcm.shape}")
        self._queue.append(pcm)
        self._queued += len(pcm)
        while self._queued - len(self._queue[0]) >= self._limit:
            self._queued -= len(self._queue.pop(0))

    def take(self, samples: int) -> npt.NDArray[np.int16]:
        """Exactly `samples` frames of PCM, padded with silence."""
        out = np.zeros((samples, self.channels), np.int16)
        filled = 0
        while filled < samples and self._queue:
            head = self._queue[0]
            n = min(samples - filled, len(head))
            out[filled : filled + n] = head[:n]
            filled += n
            self._queued -= n
            if n == len(head):
                self._queue.pop(0)
            else:
                self._queue[0] = head[n:]
        return out

    def track(self) -> MediaStreamTrack:
        """A fresh track for one peer connection."""
        return _AudioTrack(self)


@dataclass
class _TestPatternSource:
    width: int
    height: int
    fps: int

    def track(self) -> MediaStreamTrack:
        return TestPatternTrack(self.width, self.height, self.fps)


def test_pattern_source(width: int, height: int, fps: int) -> VideoSource:
    """The built-in stamped test pattern as a video source."""
    return _TestPatternSource(width, height, fps)


test_pattern_source.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class MediaHandle:
    """The tracks one peer connection sends; `close()` stops them."""

    tracks: list[MediaStreamTrack] = field(default_factory=list)

    def close(self) -> None:
        for track in self.tracks:
            track.stop()


def attach(
    pc: RTCPeerConnection,
    video: VideoSource,
    audio: AudioSource | None,
    offer_sdp: str,
    config: StreamAppConfig,
) -> MediaHandle:
    """Add the app's tracks to `pc`: after `setRemoteDescription(offer)`, before `createAnswer`.

    Audio is added only when the offer has an audio section. This is the function that becomes
    `stream_app.media.attach_media(pc, video, audio, MediaConfig(...from config...))` once the
    media pipeline lands (`config` is unused until then).
    """
    handle = MediaHandle()
    handle.tracks.append(video.track())
    pc.addTrack(handle.tracks[-1])
    if audio is not None and any(line.startswith("m=audio") for line in offer_sdp.splitlines()):
        handle.tracks.append(audio.track())
        pc.addTrack(handle.tracks[-1])
    return handle
