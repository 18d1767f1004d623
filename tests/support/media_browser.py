"""A Chromium page that receives our media (recvonly video and audio and a data channel, as the web
client offers), served with an aiortc answerer using `attach_media`, and what the page decoded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiortc import RTCSessionDescription

from benchmarks.ports import free_udp_port_range
from stream_app.ice import confine_to_range
from stream_app.media import AudioSource, MediaConfig, MediaSession, attach_media, pattern_source
from stream_app.ports import PortRange
from support.media_peers import loopback_pc


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


async def wait_for_decoded(page: Any, frames: int, timeout: float = 30.0) -> dict[str, Any]:
    inbound: dict[str, Any] = {}
    for _ in range(int(timeout / 0.25)):
        inbound = json.loads(await page.evaluate("async () => JSON.stringify(await window.inbound())"))
        if inbound.get("video", {}).get("framesDecoded", 0) >= frames:
            return inbound
        await asyncio.sleep(0.25)
    raise AssertionError(f"Chromium decoded too few frames: {inbound}")
