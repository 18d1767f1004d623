"""The client's microphone reaching the app: a real aiortc client sends a tone as Opus."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import aiohttp
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame
from support.recording_app import RecordingApp
from support.scripted_client import open_session
from support.stream_app_harness import running_stream_app

from stream_app.config import StreamAppConfig
from stream_app.media import AudioSource

RATE = 48_000
SAMPLES = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone at half scale, mono, in 20 ms frames paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start = time.monotonic()

    async def recv(self) -> AudioFrame:
        await asyncio.sleep(max(0.0, self._start + self._pts / RATE - time.monotonic()))
        t = (np.arange(SAMPLES) + self._pts) / RATE
        samples = (np.sin(2 * math.pi * 440 * t) * 16_000).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += SAMPLES
        return frame


class ListeningApp(RecordingApp):
    """Records the microphone frames it is given; with `speaks` it sends sound of its own too."""

    def __init__(self, config: StreamAppConfig, speaks: bool) -> None:
        super().__init__(config)
        self.sound: list[AudioFrame] = []
        self._speaker = AudioSource() if speaks else None

    def audio(self) -> AudioSource | None:
        return self._speaker

    def on_microphone(self, frame: AudioFrame) -> None:
        self.sound.append(frame)


# An app with sound of its own must not take the microphone's section to send on (nothing could
# flow either way there).
@pytest.mark.parametrize("speaks", [False, True])
async def test_the_clients_microphone_reaches_the_app_as_audio_frames(
    http: aiohttp.ClientSession, speaks: bool
) -> None:
    apps: list[ListeningApp] = []

    def factory(config: StreamAppConfig) -> ListeningApp:
        apps.append(ListeningApp(config, speaks))
        return apps[-1]

    async with running_stream_app(app_factory=factory) as app:
        session = await open_session(http, app.sign_in_url, microphone=ToneTrack())
        try:
            deadline = time.monotonic() + 10
            while len(apps[0].sound) < 50 and time.monotonic() < deadline:  # a second of sound
                await asyncio.sleep(0.05)
        finally:
            await session.close()
    sound = apps[0].sound
    assert len(sound) >= 50, len(sound)
    assert {f.sample_rate for f in sound} == {RATE}
    # Past the decoder's start-up, the tone is there at about the level sent (Opus is lossy).
    samples = np.concatenate([f.to_ndarray().reshape(-1, len(f.layout.channels))[:, 0] for f in sound[25:]])
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert 8_000 < rms < 14_000, rms
    spectrum = np.abs(np.fft.rfft(samples[: RATE // 2]))
    peak_hz = np.argmax(spectrum) * RATE / (2 * len(spectrum) - 2)
    assert abs(peak_hz - 440) < 10, peak_hz
