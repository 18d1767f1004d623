"""The app API's pieces: frame and audio sources, the factory loader, an app without video."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from scripted_client import sign_in
from stream_app_harness import running_stream_app

from stream_app import AudioSource, FrameSource, StreamApp
from stream_app.app import TestPatternApp, load_factory
from stream_app.config import ConfigError, StreamAppConfig


def rgb(value: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


async def test_a_pushed_frame_source_sends_the_newest_frame_and_counts_the_rest() -> None:
    source = FrameSource(fps=100)
    track = source.track()
    first = await track.recv()  # nothing pushed yet: a black frame
    assert first.to_ndarray(format="rgb24").max() == 0
    for value in (10, 20, 30):
        source.push(rgb(value))
    frame = await track.recv()
    assert frame.width == 64 and int(frame.to_ndarray(format="rgb24")[0, 0, 0]) in range(25, 36)
    assert (source.dropped, source.delivered) == (2, 2)
    pts = frame.pts
    later = await track.recv()  # nothing new: the same picture again, at a later time
    assert later.pts > pts and source.dropped == 2


async def test_a_rendered_frame_source_asks_for_a_frame_per_slot() -> None:
    calls = []

    def render() -> np.ndarray:
        calls.append(1)
        return rgb(200)

    track = FrameSource(fps=50, render=render).track()
    for _ in range(3):
        await track.recv()
    assert len(calls) == 3


def test_frame_source_refuses_bad_frames() -> None:
    source = FrameSource(fps=30)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        source.push(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match="must be even"):
        source.push(rgb(0, width=63))
    with pytest.raises(ValueError, match="frame rate"):
        FrameSource(fps=0)


async def test_audio_source_sends_pushed_samples_then_silence() -> None:
    source = AudioSource(sample_rate=48000, channels=2)
    source.push(np.full((480, 2), 1000, np.int16))
    track = source.track()
    frame = await track.recv()
    samples = frame.to_ndarray().reshape(-1, 2)
    assert samples.shape == (960, 2) and (samples[:480] == 1000).all() and (samples[480:] == 0).all()
    assert (await track.recv()).to_ndarray().max() == 0


def test_audio_source_keeps_at_most_a_second() -> None:
    source = AudioSource(sample_rate=1000, channels=1)
    for value in range(5):
        source.push(np.full((500, 1), value, np.int16))
    assert source.take(1000)[:, 0].tolist() == [3] * 500 + [4] * 500


def test_load_factory_finds_module_colon_factory_and_explains_failures() -> None:
    assert load_factory("") is TestPatternApp
    factory = load_factory("examples.paint:make_app")
    assert isinstance(factory(StreamAppConfig()), StreamApp)
    for spec, reason in [
        ("examples.paint", "module:factory"),
        ("no_such_module_here:make", "cannot import no_such_module_here"),
        ("examples.paint:nope", "has no callable 'nope'"),
    ]:
        with pytest.raises(ConfigError, match=reason):
            load_factory(spec)


class NoVideo(StreamApp):
    """An app that forgot to provide its video."""


async def test_an_app_without_video_fails_the_session_with_1011_not_the_process(http: aiohttp.ClientSession) -> None:
    async with running_stream_app(app_factory=lambda config: NoVideo()) as app:
        ws, _ = await sign_in(http, app.sign_in_url)
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send_json({"v": 1, "type": "offer", "sdp": pc.localDescription.sdp})
        error = await ws.receive_json(timeout=10)
        close = await ws.receive(timeout=10)
        await pc.close()
        assert (error["type"], error["code"]) == ("error", "media-failed")
        assert (close.type, close.data) == (aiohttp.WSMsgType.CLOSE, 1011)
        for _ in range(100):
            if not app.state.slot.busy:
                break
            await asyncio.sleep(0.05)
        assert not app.state.slot.busy  # the session ended; the next one may start
