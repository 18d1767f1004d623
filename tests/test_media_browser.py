"""Chromium receives and decodes our encoders' video (H.264 and VP8) and our Opus audio.

A tiny aiohttp server in the test serves a page that offers recvonly video and audio plus a data
channel (as the web client does) and posts the offer to an endpoint that answers with an aiortc
peer connection using `attach_media`. The page's `getStats` says what Chromium decoded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiortc import RTCSessionDescription
from browser import chromium
from conftest import free_udp_port_range
from media_peers import loopback_pc

from stream_app.ice import confine_to_range
from stream_app.media import AudioSource, MediaConfig, MediaSession, attach_media, pattern_source
from stream_app.ports import PortRange

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

PAGE = """<!doctype html><meta charset="utf-8"><video autoplay muted playsinline></video><canvas></canvas>
<script type="module">
const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
pc.addTransceiver("video", { direction: "recvonly" });
pc.addTransceiver("audio", { direction: "recvonly" });
pc.createDataChannel("input");
const video = document.querySelector("video");
pc.ontrack = (event) => {
  if (event.track.kind === "video") video.srcObject = new MediaStream([event.track]);
};
await pc.setLocalDescription(await pc.createOffer());
await new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve();
  pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  setTimeout(resolve, 3000);
});
const response = await fetch("/offer", { method: "POST", body: JSON.stringify({ sdp: pc.localDescription.sdp }) });
await pc.setRemoteDescription(await response.json());
window.inbound = async () => {
  const stats = await pc.getStats();
  const out = {};
  stats.forEach((report) => {
    if (report.type === "inbound-rtp") {
      const codec = stats.get(report.codecId);
      out[report.kind] = { ...report, mimeType: codec ? codec.mimeType : null };
    }
  });
  return out;
};
// The stamp (docs/protocol.md section 4) in the picture Chromium shows, read back from a canvas.
window.stampAge = () => {
  const canvas = document.querySelector("canvas");
  canvas.width = video.videoWidth; canvas.height = 16;
  const context = canvas.getContext("2d");
  context.drawImage(video, 0, 0);
  const pixels = context.getImageData(0, 0, 768, 16).data;
  let value = 0;
  for (let bit = 0; bit < 48; bit++) {
    const offset = (8 * 768 + bit * 16 + 8) * 4;  // row 8, middle of cell `bit`
    if (pixels[offset] >= 128) value += 2 ** bit;
  }
  return Date.now() - value;
};
window.ready = true;
</script>"""


@pytest.fixture
async def media_site(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, list[MediaSession]]]:
    config: MediaConfig = request.param
    sessions: list[MediaSession] = []
    peers = []

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def offer(request: web.Request) -> web.Response:
        body = await request.json()
        pc = loopback_pc()
        peers.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        confine_to_range(pc, PortRange(*free_udp_port_range(3)), ("127.0.0.1",))
        sessions.append(attach_media(pc, pattern_source(1280, 720, 30), AudioSource(), config))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"type": "answer", "sdp": pc.localDescription.sdp})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/offer", offer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/", sessions
    finally:
        for pc in peers:
            await pc.close()
        await runner.cleanup()


async def open_decoding(browser: Any, url: str, frames: int = 30) -> tuple[Any, dict[str, Any]]:
    """A page on `url` that has decoded `frames` video frames, and its inbound stats then."""
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_function("window.ready === true", timeout=15_000)
    return page, await wait_for_decoded(page, frames)


async def wait_for_decoded(page: Any, frames: int, timeout: float = 30.0) -> dict[str, Any]:
    inbound: dict[str, Any] = {}
    for _ in range(int(timeout / 0.25)):
        inbound = json.loads(await page.evaluate("async () => JSON.stringify(await window.inbound())"))
        if inbound.get("video", {}).get("framesDecoded", 0) >= frames:
            return inbound
        await asyncio.sleep(0.25)
    raise AssertionError(f"Chromium decoded too few frames: {inbound}")


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
