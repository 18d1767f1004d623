"""The web client's modules in the real Chromium, served by the real proxy."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from aiohttp import web
from support.browser import chromium

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


@pytest.mark.parametrize("drift_ms", [0.0, -45.0, 120.0])
async def test_clock_js_gives_the_system_clock_even_when_time_origin_has_drifted(site: str, drift_ms: float) -> None:
    """Chromium's performance.timeOrigin drifts from the system clock when NTP adjusts it after the
    browser started; here the page sees a timeOrigin off by `drift_ms`, and epochTime() must still
    agree with this process's time.time() (the stream app's clock) to within a couple of ms."""
    async with chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(
            f"""(() => {{
              const real = performance.timeOrigin;
              Object.defineProperty(Performance.prototype, 'timeOrigin', {{ get: () => real + ({drift_ms}) }});
            }})()"""
        )
        await page.goto(f"{site}/")
        differences = []
        for _ in range(5):
            before = time.time() * 1000
            page_ms = await page.evaluate("async () => (await import('/clock.js')).epochTime()")
            after = time.time() * 1000
            # How far the page's time falls outside the window in which it was read.
            differences.append(max(before - page_ms, page_ms - after, 0.0))
        raw_drift = await page.evaluate("() => performance.timeOrigin + performance.now() - Date.now()")
    assert abs(raw_drift - drift_ms) < 2.0, raw_drift  # the drift really is there
    assert max(differences) < 2.0, differences


async def test_page_without_a_token_explains_how_to_get_one(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        status = page.locator("#status[data-state='ended']")
        await status.wait_for(timeout=5_000)
        assert "No sign-in token" in (await status.text_content() or "")


async def test_every_close_code_of_the_protocol_has_its_own_message(site: str) -> None:
    codes = [1000, 1001, 1011, 1013, 4400, 4401, 4403, 4404, 4408, 4409, 4410, 4502, 4503, 4504]
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        result = await page.evaluate(
            """async (codes) => {
              const { describeClose, mayReconnect } = await import('/close-codes.js');
              return codes.map((code) =>
                [code, describeClose(code, ''), mayReconnect(code), describeClose(code, 'why')]);
            }""",
            codes,
        )
    messages = {code: text for code, text, _, _ in result}
    assert len(set(messages.values())) == len(codes), messages
    assert all(f"(code {code})" not in text for code, text in messages.items())
    assert all(with_reason.endswith("(why)") for _, _, _, with_reason in result)
    assert messages[4401].startswith("Bad token") and messages[4403].startswith("Forbidden")
    assert messages[4404].startswith("Unknown function") and messages[4409].startswith("Too many sessions")
    assert messages[4410].startswith("Session expired") and messages[4408].startswith("Token expired")
    assert messages[4503].startswith("No capacity") and messages[1013].startswith("No capacity")
    assert messages[4502].startswith("Upstream gone") and messages[4504].startswith("Upstream gone")
    # Deliberate ends and refusals are final; drops and upstream trouble are worth a reconnect.
    final = {code for code, _, reconnect, _ in result if not reconnect}
    assert final == {1000, 4400, 4401, 4403, 4404, 4408, 4409, 4410}


async def test_pictures_are_scaled_by_whole_factors_or_fitted_when_too_big(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        sizes = await page.evaluate(
            """async () => {
              const { drawSize } = await import('/picture.js');
              return [
                drawSize(640, 360, 1920, 1080, 1, 'integer'),   // 3x exactly
                drawSize(640, 360, 1900, 1000, 1, 'integer'),   // 2x: 3x would not fit
                drawSize(640, 360, 1280, 720, 2, 'integer'),    // 4 device px per picture px
                drawSize(1920, 1080, 1280, 720, 1, 'integer'),  // too big: fitted, smooth
                drawSize(640, 360, 1900, 1000, 1, 'fit'),
              ];
            }"""
        )
    assert sizes[0] == {"width": 1920, "height": 1080, "smooth": False}
    assert sizes[1] == {"width": 1280, "height": 720, "smooth": False}
    assert sizes[2] == {"width": 1280, "height": 720, "smooth": False}
    assert sizes[3] == {"width": 1280, "height": 720, "smooth": True}
    assert sizes[4]["smooth"] and abs(sizes[4]["height"] - 1000) < 0.01


async def test_the_wanted_codec_goes_first_when_the_browser_has_it(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        orders = await page.evaluate(
            """async () => {
              const { codecsPreferring } = await import('/stream-session.js');
              const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
              const names = (list) => list && [...new Set(list.map((c) => c.mimeType))];
              return {
                browser: names(codecs),
                h264: names(codecsPreferring('h264', codecs)),
                vp8: names(codecsPreferring('VP8', codecs)),
                unknown: codecsPreferring('av2', codecs),
                missing: codecsPreferring('h264', codecs.filter((c) => c.mimeType !== 'video/H264')),
                count: codecsPreferring('h264', codecs).length === codecs.length,
              };
            }"""
        )
    # Chromium offers VP8 first on its own; the page asks for H.264 first by default.
    assert orders["browser"][0] == "video/VP8", orders["browser"]
    assert orders["h264"][0] == "video/H264" and orders["vp8"][0] == "video/VP8", orders
    assert sorted(orders["h264"]) == sorted(orders["browser"]) and orders["count"]
    assert orders["unknown"] is None and orders["missing"] is None


async def test_the_fragment_gives_the_page_its_options_and_its_token_is_taken_out(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/")
        given, default = await page.evaluate(
            """async () => {
              const { readPageOptions } = await import('/page-options.js');
              return [
                readPageOptions('#token=t.k.n&relay=1&function=f%20g&scale=fit&stats=1&resume=5&codec=vp8&touch=trackpad&mic=1'),
                readPageOptions(''),
              ];
            }"""
        )
    assert given == {
        "token": "t.k.n", "relayOnly": True, "functionName": "f g", "scaleMode": "fit", "resumeWindowMs": 5000,
        "showStats": True, "codec": "vp8", "touchMode": "trackpad", "microphone": True,
        "rest": "relay=1&function=f+g&scale=fit&stats=1&resume=5&codec=vp8&touch=trackpad&mic=1",
    }  # fmt: skip
    assert default == {
        "token": None, "relayOnly": False, "functionName": None, "scaleMode": "integer", "resumeWindowMs": 30_000,
        "showStats": False, "codec": "h264", "touchMode": "direct", "microphone": False, "rest": "",
    }  # fmt: skip


async def test_a_browser_without_what_streaming_needs_says_so(site: str) -> None:
    # Each global removed before the page's scripts run, as in a browser that never had it.
    async with chromium() as browser:
        for removed in ("RTCPeerConnection", "WebSocket"):
            page = await browser.new_page()
            await page.add_init_script(f"delete window.{removed};")
            await page.goto(f"{site}/#token=a.b.c")
            status = page.locator("#status[data-state='unsupported']")
            await status.wait_for(timeout=10_000)
            text = await status.text_content() or ""
            assert text.startswith("This browser cannot stream") and f"lacks {removed} (" in text, text
            assert not await page.locator("#sign-in").is_visible()
            assert "token" not in page.url, page.url  # Out of the address bar all the same.
            await page.close()
