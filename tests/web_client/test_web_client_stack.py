"""The web client against the real stack (proxy, nvcf-local, stream app, coturn) under the strict CSP.

Each failure state is produced for real: a bad token, a second session while the only instance is
busy, the upstream going away; the stats overlay shows live numbers; a connection the proxy drops
comes back on its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page
from support.local_stack import LocalStack, local_stack, restart_proxy
from support.services import NvcfLocalFactory, RunningNvcfLocal
from support.web_client_harness import (
    coturn_back_and_the_next_session_streams,
    csp_chromium,
    open_page,
    state,
    udp_socket_count,
    wait_for_state,
    wait_for_udp_sockets,
    wait_until,
)

from deploy.coturn import RunningCoturn

pytestmark = pytest.mark.browser

SCREENSHOT_ENV = "WEB_CLIENT_SCREENSHOT"
"""When set, the streaming test also saves its screenshot there (how docs/web-client.png is made)."""


@pytest.fixture
async def stack(nvcf_local: RunningNvcfLocal, tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with local_stack(nvcf_local, tmp_path) as running:
        yield running


async def overlay_numbers(page: Page) -> dict[str, str]:
    return dict(
        await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#overlay [data-stat]')]"
            ".map((e) => [e.dataset.stat, e.textContent]))"
        )
    )


def number(text: str) -> float:
    match = re.search(r"-?\d+(\.\d+)?", text)
    assert match, text
    return float(match.group())


async def test_streaming_page_shows_live_plausible_stats(
    stack: LocalStack, coturn: RunningCoturn, tmp_path: Path
) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        console = await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&relay=1")
        await wait_for_state(page, "streaming")
        await page.keyboard.press("Control+Alt+KeyS")
        assert await page.locator("#overlay").is_visible()
        # Two readings a few seconds apart: the numbers move.
        await wait_until(page, "window.streamSession.stats.history.length >= 3")
        first = await overlay_numbers(page)
        frames_before = await page.evaluate("window.streamSession.stats.latest.framesDecoded")
        await asyncio.sleep(2.5)
        second = await overlay_numbers(page)
        latest = await page.evaluate("window.streamSession.stats.latest")
        shot = tmp_path / "web-client.png"
        if os.environ.get(SCREENSHOT_ENV):  # A graph with some history for the docs.
            await wait_until(page, "window.streamSession.stats.history.length >= 20", timeout=40)
        await page.screenshot(path=str(shot))
        assert await page.evaluate("window.cspViolations") == [], console
    assert latest["framesDecoded"] > frames_before
    assert first != second
    # Plausible: the test pattern runs at 60 fps (the page may decode fewer on a busy machine).
    assert 5 <= number(second["fps"]) <= 70, second
    assert "bit/s" in second["bitrate"] and latest["bitrateKbps"] > 10, second
    assert 0 <= latest["lossPercent"] <= 5, second
    assert 0 <= latest["rttMs"] < 500, second
    assert 0 <= latest["decodeMs"] < 200 and 0 <= latest["jitterBufferMs"] < 1000, second
    assert second["resolution"] == "1280×720" and second["codec"] in ("H264", "VP8"), second
    # The test pattern stamps its frames: glass to glass is measured and sane on one machine.
    assert 0 < latest["latencyMs"] < 1000 and second["latency"].endswith("ms"), second
    # The stream app's side, from its once-a-second `media` report: the congestion control reads
    # Chromium's transport feedback, and its numbers reach the overlay.
    server = latest["server"]
    assert server["transportCc"] is True and server["limitedBy"] in ("delay", "max", "loss"), server
    assert second["sending"].startswith("1280×720 @ ") and "bit/s (" in second["estimate"], second
    assert server["targetKbps"] >= 150 and server["pacerQueueMs"] >= 0, server
    assert second["freezes"] != "–" and latest["freezeCount"] >= 0, second
    assert shot.stat().st_size > 10_000
    if target := os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, target)


async def test_bad_token_says_so_and_offers_the_sign_in_box(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token=not.a.jwt")
        text = await wait_for_state(page, "ended")
        assert "Bad token" in text
        assert await page.locator("#status").get_attribute("data-code") == "4401"
        assert await page.locator("#sign-in").is_visible()
        # Paste a good token into the box: the page connects with it.
        await page.fill("#token-input", stack.token())
        await page.click("#sign-in button")
        await wait_for_state(page, "streaming")
        assert await page.evaluate("sessionStorage.getItem('stream-token')") is not None


async def test_second_session_while_the_instance_is_busy_says_no_capacity(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        first = await browser.new_page()
        await open_page(first, f"{stack.proxy_url}/#token={stack.token()}")
        await wait_for_state(first, "streaming")
        second = await browser.new_page()
        await open_page(second, f"{stack.proxy_url}/#token={stack.token()}")
        text = await wait_for_state(second, "ended")
        code = await second.locator("#status").get_attribute("data-code")
        # nvcf-local answers 503 while its only instance is busy (4503); the app itself says 1013.
        assert code in ("4503", "1013") and "No capacity" in text, (code, text)
        assert await second.locator("#connect-again").is_visible()
        # The first session is unharmed.
        assert (await state(first))[0] == "streaming"


async def test_upstream_gone_reconnects_then_says_so(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        # A 4 s resume window keeps the test short; the page's default is 30 s.
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&resume=4")
        await wait_for_state(page, "streaming")
        await stack.nvcf.child.stop()
        text = await wait_for_state(page, "reconnecting", timeout=10)
        assert re.search(r"Reconnecting… attempt \d+", text), text
        text = await wait_for_state(page, "ended", timeout=15)
    assert "Could not reconnect within 4 s" in text and "Upstream gone" in text, text


FRAMES_DECODED = """window.streamSession.pc.getStats()
  .then((s) => [...s.values()].find((r) => r.type === 'inbound-rtp').framesDecoded)"""


async def test_connection_dropped_by_the_proxy_comes_back(nvcf_local_factory: NvcfLocalFactory, tmp_path: Path) -> None:
    # A rolling restart of the proxy: the old one drains (1001), the page reconnects with `resume`
    # to the new one, which shares the session secret, so the same stream app session continues.
    nvcf = await nvcf_local_factory()
    await nvcf.wait_for_status("ACTIVE")
    async with local_stack(nvcf, tmp_path) as stack, csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}")
        await wait_for_state(page, "streaming")
        seen: list[str] = []
        await page.expose_function("recordState", lambda s: seen.append(s))
        await page.evaluate(
            "window.streamSession.addEventListener('statechange', (e) => window.recordState(e.detail.state))"
        )
        await stack.proxy.stop()  # Drains: closes the page's connection with 1001.
        await wait_for_state(page, "reconnecting", timeout=10)
        proxy = await restart_proxy(stack, tmp_path)
        try:
            text = await wait_for_state(page, "streaming", timeout=25)
            states = list(seen)
            frames = await page.evaluate(FRAMES_DECODED)
        finally:
            await proxy.stop()
    assert states[0] == "reconnecting" and states[-1] == "streaming", states
    assert "ended" not in states and "failed" not in states, states
    assert text == "Streaming (resumed)", text
    assert frames > 0


async def test_ice_failure_is_detected_and_explained(stack: LocalStack, coturn: RunningCoturn) -> None:
    # Relay-only media with the TURN server gone: the page gathers no candidate, ICE cannot succeed.
    await coturn.stop()
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&relay=1")
        started = time.monotonic()
        text = await wait_for_state(page, "failed", timeout=40)
        print(f"ICE failed after {time.monotonic() - started:.1f} s")
    assert text.startswith("ICE failed"), text
    # The page ended the session for good (close 1000), so the instance is free at once.
    await stack.nvcf.wait_until_idle(timeout=10)


async def test_after_an_ice_failure_coturn_back_means_the_next_session_streams(
    stack: LocalStack, coturn: RunningCoturn
) -> None:
    idle_sockets = udp_socket_count(stack)
    await coturn.stop()
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&relay=1")
        text = await wait_for_state(page, "failed", timeout=40)
        assert text.startswith("ICE failed"), text
        await stack.nvcf.wait_until_idle(timeout=10)
        # The failed session left no media socket behind.
        assert await wait_for_udp_sockets(stack, idle_sockets) == idle_sockets
        # The same coturn (port, credentials) back: the credentials the instance pushed still hold.
        await coturn_back_and_the_next_session_streams(stack, coturn, browser, idle_sockets)


# The proxy's access policy (docs/proxy.md): user `tester` may open the one function, one session
# at a time; `mallory` is granted nothing.
POLICY = """
[functions.default]
id = "$FUNCTION_ID"
title = "Test pattern"

[defaults]
function = "default"
max_sessions = 1

[users.tester]
functions = ["default"]
"""


@pytest.fixture
async def policy_stack(nvcf_local: RunningNvcfLocal, tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with local_stack(nvcf_local, tmp_path, policy=POLICY) as running:
        yield running


async def test_page_opens_a_function_the_proxy_lists(stack: LocalStack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.proxy_url}/functions", headers={"Authorization": f"Bearer {stack.token()}"}) as r:
            assert r.status == 200
            assert [f["name"] for f in (await r.json())["functions"]] == ["default"]
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}")
        # One function: the page connects to it without asking.
        await wait_for_state(page, "streaming")
        assert not await page.locator("#picker").is_visible()


async def test_unknown_function_says_so(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&function=no-such-function")
        text = await wait_for_state(page, "ended")
        assert await page.locator("#status").get_attribute("data-code") == "4404"
        assert text.startswith("Unknown function"), text


async def test_forbidden_function_says_so(policy_stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        # Asking for the function by name: the proxy refuses mallory with 4403.
        mallory = policy_stack.token(subject="mallory")
        page = await browser.new_page()
        await open_page(page, f"{policy_stack.proxy_url}/#token={mallory}&function=default")
        text = await wait_for_state(page, "ended")
        assert await page.locator("#status").get_attribute("data-code") == "4403"
        assert text.startswith("Forbidden"), text
        # Without a name the page asks GET /functions first, which lists nothing for mallory.
        page = await browser.new_page()
        await open_page(page, f"{policy_stack.proxy_url}/#token={mallory}")
        text = await wait_for_state(page, "ended")
        assert text == "There is no streaming function you may open.", text
    # Nobody reached the instance.
    await policy_stack.nvcf.wait_until_idle(timeout=1)


async def test_too_many_sessions_says_so(policy_stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        first = await browser.new_page()
        await open_page(first, f"{policy_stack.proxy_url}/#token={policy_stack.token()}")
        await wait_for_state(first, "streaming")
        second = await browser.new_page()
        await open_page(second, f"{policy_stack.proxy_url}/#token={policy_stack.token()}")
        text = await wait_for_state(second, "ended")
        assert await second.locator("#status").get_attribute("data-code") == "4409"
        assert text.startswith("Too many sessions"), text
        # The proxy refused before the upstream: the first session is unharmed.
        assert (await state(first))[0] == "streaming"


async def test_token_expiring_mid_session_says_so(policy_stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{policy_stack.proxy_url}/#token={policy_stack.token(ttl_seconds=8)}")
        await wait_for_state(page, "streaming")
        text = await wait_for_state(page, "ended", timeout=20)
        assert await page.locator("#status").get_attribute("data-code") == "4408"
        assert text.startswith("Token expired") and await page.locator("#sign-in").is_visible(), text
    # The proxy closed the upstream too (4408 both ways): the instance frees itself.
    await policy_stack.nvcf.wait_until_idle(timeout=40)


async def test_resume_after_the_window_says_session_expired(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        # The instance dies, so nvcf-local forgets the session: the page's resume gets 4410.
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&resume=60")
        await wait_for_state(page, "streaming")
        for instance in stack.stream_app_processes():
            instance.kill()
        text = await wait_for_state(page, "ended", timeout=60)
        assert await page.locator("#status").get_attribute("data-code") == "4410"
        assert text.startswith("Session expired") and await page.locator("#connect-again").is_visible()
