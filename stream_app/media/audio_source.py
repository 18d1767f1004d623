"""App audio: interleaved 16-bit samples in, 20 ms frames out for aiortc's Opus encoder."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

FRAME_SECONDS = 0.020  # Opus' usual packet duration and what aiortc's Opus encoder expects
# The buffer holds at most this much audio; older samples are dropped so audio never lags.
MAX_BUFFER_SECONDS = 0.2


class AudioSource:
    """App audio, sent as Opus (aiortc's encoder, 48 kHz stereo on the wire).

    `push(samples)` takes `int16` samples shaped `(n, channels)` (interleaved), from any thread.
    Each track plays them out in 20 ms frames at real-time pace, filling gaps with silence
    (counted in `silent_frames`) so the receiver's clock keeps running. The buffer holds at most
    200 ms; when the app pushes faster than real time the oldest samples are dropped and counted
    in `dropped_samples`.
    """

    def __init__(self, sample_rate: int = 48000, channels: int = 2) -> None:
        if sample_rate not in (8000, 16000, 24000, 32000, 44100, 48000):
            raise ValueError(f"sample rate {sample_rate} is not one of 8000, 16000, 24000, 32000, 44100, 48000")
        if channels not in (1, 2):
            raise ValueError(f"channels {channels} must be 1 or 2")
        self.sample_rate = sample_rate
        self.channels = channels
        self.samples_per_frame = int(sample_rate * FRAME_SECONDS)
        self._lock = threading.Lock()
        self._tracks: list[_AudioTrack] = []
        self.dropped_samples = 0
        self.silent_frames = 0
        self.delivered_frames = 0

    def push(self, samples: npt.NDArray[np.int16]) -> None:
        """Append samples to every live track's buffer; thread-safe."""
        if not isinstance(samples, np.ndarray) or samples.dtype != np.int16:
            kind = getattr(samples, "dtype", type(samples).__name__)
            raise ValueError(f"audio samples must be an int16 numpy array, got {kind}")
        if samples.ndim == 1 and self.channels == 1:
            samples = samples.reshape(-1, 1)
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(f"audio samples must be shaped (n, {self.channels}), got {samples.shape}")
        with self._lock:
            tracks = list(self._tracks)
        for track in tracks:
            track._append(samples)

    def track(self) -> MediaStreamTrack:
        """A new audio track for one peer connection; call in the event loop."""
        track = _AudioTrack(self)
        with self._lock:
            self._tracks.append(track)
        return track

    def _count(self, *, dropped: int = 0, silent: int = 0, delivered: int = 0) -> None:
        with self._lock:
            self.dropped_samples += dropped
            self.silent_frames += silent
            self.delivered_frames += delivered

    def _forget(self, track: _AudioTrack) -> None:
        with self._lock:
            if track in self._tracks:
                self._tracks.remove(track)


class _AudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, source: AudioSource) -> None:
        super().__init__()
        self._source = source
        self._lock = threading.Lock()
        self._capacity = int(source.sample_rate * MAX_BUFFER_SECONDS)
        self._buffer = np.zeros((0, source.channels), dtype=np.int16)
        self._start: float | None = None
        self._index = 0
        self._layout = "mono" if source.channels == 1 else "stereo"
        self._time_base = fractions.Fraction(1, source.sample_rate)

    def _append(self, samples: npt.NDArray[np.int16]) -> None:
        with self._lock:
            buffer = np.concatenate((self._buffer, samples))
            excess = len(buffer) - self._capacity
            if excess > 0:
                buffer = buffer[excess:]
            self._buffer = buffer
        if excess > 0:
            self._source._count(dropped=excess)

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms of audio, at real-time pace."""
        if self.readyState != "live":
            raise MediaStreamError
        n = self._source.samples_per_frame
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._index * FRAME_SECONDS
        if due > now:
            await asyncio.sleep(due - now)
        with self._lock:
            chunk, self._buffer = self._buffer[:n], self._buffer[n:]
        silent = len(chunk) < n
        if silent:
            chunk = np.concatenate((chunk, np.zeros((n - len(chunk), self._source.channels), dtype=np.int16)))
        self._source._count(silent=int(silent), delivered=1)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout=self._layout)
        frame.sample_rate = self._source.sample_rate
        frame.pts = self._index * n
        frame.time_base = self._time_base
        self._index += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self._source._forget(self)
