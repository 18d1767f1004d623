"""Chromium and our congestion control on loopback: transport-cc is negotiated, Chromium's
transport feedback reaches the send-side estimator, and `legacy` keeps aiortc's own loop.

The page is support.media_browser's: recvonly video and audio plus a data channel, as the web client
offers, answered by an aiortc peer with `attach_media`. The lab tests (test_congestion_lab.py)
cover narrow and lossy links.
"""

from __future__ import annotations

import asyncio

import pytest
from support.browser import chromium
from support.media_browser import open_decoding

from stream_app.media import MediaConfig, MediaSession

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


@pytest.mark.parametrize("media_site", [MediaConfig(codecs=("H264",))], indirect=True)
async def test_chromium_negotiates_transport_cc_and_its_feedback_drives_the_estimate(
    media_site: tuple[str, list[MediaSession]],
) -> None:
    url, sessions = media_site
    async with chromium() as browser:
        await open_decoding(browser, url)
        (session,) = sessions
        congestion = session.stats().congestion
        for _ in range(50):
            congestion = session.stats().congestion
            if congestion is not None and congestion.acknowledged_bitrate > 0:
                break
            await asyncio.sleep(0.1)
    assert session.transport_cc and congestion is not None and congestion.transport_cc
    # Feedback arrived and was read: the estimate comes from the delay-based controller (not the
    # start value, not REMB, which Chromium stops sending once transport-cc is negotiated).
    assert congestion.limited_by in ("delay", "max"), congestion
    assert 0 < congestion.acknowledged_bitrate < 20_000_000
    assert congestion.probes >= 1  # the initial probe went out
    assert congestion.target_bitrate >= MediaConfig().bitrate_min


@pytest.mark.parametrize("media_site", [MediaConfig(codecs=("H264",), congestion_control="legacy")], indirect=True)
async def test_legacy_keeps_aiortcs_loop_and_answers_no_transport_cc(
    media_site: tuple[str, list[MediaSession]],
) -> None:
    url, sessions = media_site
    async with chromium() as browser:
        _, inbound = await open_decoding(browser, url)
    (session,) = sessions
    assert not session.transport_cc and session.video_sender is None
    assert session.stats().congestion is None
    assert inbound["video"]["framesDecoded"] >= 30
