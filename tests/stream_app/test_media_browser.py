"""Chromium receives and decodes our encoders' video (H.264 and VP8) and our Opus audio.

A tiny aiohttp server in the test serves a page that offers recvonly video and audio plus a data
channel (as the web client does) and posts the offer to an endpoint that answers with an aiortc
peer connection using `attach_media`. The page's `getStats` says what Chromium decoded.
"""

from __future__ import annotations

import asyncio

import pytest
from support.browser import chromium
from support.media_browser import open_decoding

from stream_app.media import MediaConfig, MediaSession

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


@pytest.mark.parametrize(
    ("media_site", "codec"),
    [(MediaConfig(codecs=("H264",)), "H264"), (MediaConfig(codecs=("VP8",)), "VP8")],
    indirect=["media_site"],
)
async def test_chromium_decodes_our_video_and_audio(media_site: tuple[str, list[MediaSession]], codec: str) -> None:
    url, sessions = media_site
    async with chromium() as browser:
        page, inbound = await open_decoding(browser, url)
        age = await page.evaluate("window.stampAge()")
        # The send-side estimate from Chromium's transport feedback reaches the encoder: the target
        # leaves its start (test_congestion_browser.py looks closer).
        (session,) = sessions
        for _ in range(100):
            if session.stats().target_bitrate != MediaConfig().bitrate_start:
                break
            await asyncio.sleep(0.1)
    video = inbound["video"]
    assert video["mimeType"] == f"video/{codec}"
    assert (video["frameWidth"], video["frameHeight"]) == (1280, 720)
    assert inbound["audio"]["mimeType"] == "audio/opus" and inbound["audio"]["packetsReceived"] > 0
    assert session.stats().audio_fec_percent is not None  # Chromium offers useinbandfec=1: FEC is on
    # The stamp survives into the picture Chromium shows, and it is recent.
    assert 0 <= age < 3000, age
    assert session.codec == codec and session.stats().frames_encoded >= 30
    # Chromium offers the playout-delay extension; we answer it and it still decodes every frame.
    assert session.playout_delay
    assert session.stats().target_bitrate != MediaConfig().bitrate_start
    assert MediaConfig().bitrate_min <= session.stats().target_bitrate <= MediaConfig().bitrate_max
