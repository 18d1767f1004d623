"""The app API: the factory loader, an app without video (sources are covered in test_media_sources.py)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiortc import RTCPeerConnection
from support.scripted_client import sign_in
from support.stream_app_harness import running_stream_app

from stream_app import StreamApp
from stream_app.app import PatternApp, load_factory
from stream_app.config import ConfigError, StreamAppConfig, load_config


def test_load_factory_finds_module_colon_factory_and_explains_failures() -> None:
    assert load_factory("") is PatternApp
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


def test_media_settings_come_from_env_and_flags_with_flags_winning() -> None:
    config = load_config(["--codecs", "VP8", "--bitrate-max", "20M"], {"MEDIA_CODECS": "H264", "MEDIA_GOP": "120"})
    assert config.media.codecs == ("VP8",)
    assert config.media.bitrate_max == 20_000_000
    assert config.media.gop == 120


def test_a_bad_media_setting_names_the_variable_or_flag() -> None:
    with pytest.raises(ConfigError, match="MEDIA_BITRATE_MAX"):
        load_config([], {"MEDIA_BITRATE_MAX": "lots"})
    with pytest.raises(ConfigError, match="--codecs"):
        load_config(["--codecs", "AV1"], {})
    with pytest.raises(ConfigError, match="above MEDIA_MAX_FPS"):
        load_config(["--fps", "200"], {"MEDIA_MAX_FPS": "120"})
