"""The web client's modules in the real Chromium, served by the real proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from aiohttp import web
from browser import chromium

from proxy.config import ProxyConfig
from proxy.server import make_app
from stream_app import stamp
from web_client import STATIC_DIR

pytestmark = pytest.mark.browser


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """The proxy serving the web client; its upstream is never contacted in these tests."""
    config = ProxyConfig(
        nvcf_api_key="k" * 8,
        function_id="00000000-0000-0000-0000-000000000000",
        function_version_id=None,
        jwt_secret=b"s" * 32,
        host="127.0.0.1",
        port=0,
        nvcf_server="ws://127.0.0.1:9",
        web_client_dir=STATIC_DIR,
    )
    runner = web.AppRunner(make_app(config))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_stamp_js_reads_what_python_paints(site: str) -> None:
    times = [0, 1, 1_795_581_334_943, (1 << 48) - 1]
    frames = []
    for capture_ms in times:
        luma = np.zeros((stamp.CELL, stamp.STAMP_WIDTH), dtype=np.uint8)
        stamp.paint(luma, capture_ms)
        rgba = np.repeat(luma[:, :, None], 4, axis=2)
        rgba[:, :, 3] = 255
        frames.append(rgba.flatten().tolist())
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        decoded = await page.evaluate(
            """async (frames) => {
              const { decodeStamp } = await import('/stamp.js');
              return frames.map((pixels) => decodeStamp(new Uint8ClampedArray(pixels)));
            }""",
            frames,
        )
    assert decoded == times


async def test_page_without_a_token_explains_how_to_get_one(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        status = page.locator("#status[data-state='ended']")
        await status.wait_for(timeout=5_000)
        assert "No sign-in token" in (await status.text_content() or "")
