"""The whole chain end to end: Chromium -> proxy -> nvcf-local -> stream app, relay-only through coturn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page
from support.browser import chromium
from support.local_stack import LocalStack, local_stack
from support.services import RunningNvcfLocal

from deploy.coturn import RunningCoturn
from stream_app.ports import PortRange

pytestmark = pytest.mark.browser

NVCF_RANGE = PortRange(47998, 48020)

# Runs in the page: per presented frame (requestVideoFrameCallback), the display time minus the
# capture time read from the stamp; then what getStats says about decoding and the ICE pair.
MEASURE = """async (samples) => {
  const { StampReader } = await import('/stamp.js');
  const { epochTime } = await import('/clock.js');
  const video = document.getElementById('stream');
  const reader = new StampReader(video);
  const latencies = [];
  await new Promise((resolve) => {
    const onFrame = (now, meta) => {
      const stamp = reader.readPresented(meta);
      if (stamp !== null) latencies.push(epochTime(meta.expectedDisplayTime) - stamp);
      if (latencies.length >= samples) resolve(); else video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  });
  const stats = await window.streamSession.pc.getStats();
  let inbound = null, pair = null;
  stats.forEach((report) => {
    if (report.type === 'inbound-rtp' && report.kind === 'video') inbound = report;
    if (report.type === 'transport' && report.selectedCandidatePairId) pair = stats.get(report.selectedCandidatePairId);
  });
  return {
    latencies,
    framesDecoded: inbound.framesDecoded,
    width: inbound.frameWidth,
    codec: stats.get(inbound.codecId).mimeType,
    local: stats.get(pair.localCandidateId),
    remote: stats.get(pair.remoteCandidateId),
  };
}"""


async def frames_decoded(page: Page) -> int:
    """Video frames the page's peer connection has decoded so far."""
    return int(
        await page.evaluate(
            """async () => {
              const pc = window.streamSession && window.streamSession.pc;
              let frames = 0;
              if (pc) (await pc.getStats()).forEach((r) => {
                if (r.type === 'inbound-rtp' && r.kind === 'video') frames = r.framesDecoded;
              });
              return frames;
            }"""
        )
    )


@pytest.fixture
async def stack(nvcf_local: RunningNvcfLocal, tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with local_stack(nvcf_local, tmp_path) as running:
        yield running


async def test_chromium_plays_the_stamped_stream_relayed_through_coturn(
    stack: LocalStack, coturn: RunningCoturn
) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        await page.goto(f"{stack.proxy_url}/#token={stack.token()}&relay=1")
        # At least 30 frames decoded within 15 s of opening the page.
        opened = time.monotonic()
        while (decoded := await frames_decoded(page)) < 30 and time.monotonic() - opened < 15:
            await asyncio.sleep(0.1)
        assert decoded >= 30, f"{decoded} frames decoded in 15 s; console: {console}"
        assert await page.locator("#status").get_attribute("data-state") == "streaming", console
        result = await page.evaluate(MEASURE, 60)
        bound = [conn.laddr.port for proc in stack.stream_app_processes() for conn in proc.net_connections(kind="udp")]

    assert result["framesDecoded"] >= 30 and result["width"] == 1280
    # Relay-only: the browser's side of the selected pair is its TURN allocation on coturn.
    assert result["local"]["candidateType"] == "relay", result["local"]
    assert result["local"]["relayProtocol"] == "udp"
    assert result["local"]["url"].startswith(f"turn:{coturn.host}:{coturn.port}")
    # Every UDP socket the stream app holds lies in NVCF's media range.
    assert bound, "the stream app held no UDP sockets while streaming"
    assert all(port in NVCF_RANGE for port in bound), bound
    latencies = result["latencies"]
    assert len(latencies) == 60
    assert all(0 < latency < 1000 for latency in latencies), sorted(latencies)


async def test_page_with_a_bad_token_says_so_and_nothing_streams(stack: LocalStack) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{stack.proxy_url}/#token=not.a.jwt")
        status = page.locator("#status[data-state='ended']")
        await status.wait_for(timeout=10_000)
        assert "token is missing, invalid or expired" in (await status.text_content() or "")
        assert await page.evaluate("window.streamSession.pc") is None


async def test_page_takes_the_token_out_of_the_address_bar(stack: LocalStack) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{stack.proxy_url}/#token={stack.token()}&relay=1")
        await page.wait_for_function("window.streamSession !== undefined")
        assert "token" not in page.url and page.url.endswith("#relay=1")
