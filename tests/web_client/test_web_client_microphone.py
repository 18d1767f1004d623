"""The toolbar's microphone button in Chromium: off at first, on and off during a session.

The page talks to an aiortc peer (support.web_client_harness) that decodes whatever audio the page
sends; Chromium's fake capture device beeps once a second, so a loud frame means the microphone
really went through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page
from support.browser import chromium
from support.web_client_harness import PeerConnectionRecord, PeerSite, peer_site, wait_until

pytestmark = pytest.mark.browser

BUTTON = "#toggle-mic"
REFUSE = """Object.defineProperty(navigator.mediaDevices, 'getUserMedia',
  { value: () => Promise.reject(new DOMException('refused by the test', 'NotAllowedError')) })"""
NO_CAPTURE = "Object.defineProperty(navigator, 'mediaDevices', { value: undefined })"


@pytest.fixture
async def site() -> AsyncIterator[PeerSite]:
    async with peer_site() as running:
        yield running


async def open_streaming(site: PeerSite, page: Page) -> None:
    await page.goto(f"{site.url}/#token=t")
    await page.locator("#status[data-state='streaming']").wait_for(timeout=20_000)
    await wait_until(page, "window.streamSession.input && window.streamSession.input.open")


async def button(page: Page) -> tuple[str | None, str | None, bool, str | None]:
    """The button's text, aria-pressed, whether it is disabled, and its title."""
    locator = page.locator(BUTTON)
    return (
        await locator.text_content(),
        await locator.get_attribute("aria-pressed"),
        await locator.is_disabled(),
        await locator.get_attribute("title"),
    )


async def frames_within(record: PeerConnectionRecord, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(record.sound) < count:
        assert time.monotonic() < deadline, f"{len(record.sound)} microphone frames in {seconds} s, not {count}"
        await asyncio.sleep(0.05)


def loudest(record: PeerConnectionRecord, start: int = 0) -> float:
    return max((float(abs(f.to_ndarray()).max()) for f in record.sound[start:]), default=0.0)


async def test_the_button_turns_the_microphone_on_and_off_during_a_session(site: PeerSite) -> None:
    async with chromium(fake_microphone=True) as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        assert (await button(page))[:3] == ("Microphone: off", "false", False)
        first = site.records[-1]
        assert first.pc is not None and [t.kind for t in first.pc.getTransceivers()] == ["video"]

        # On: the first offer had no microphone, so the page reconnects to the same session with one.
        started = time.monotonic()
        await page.click(BUTTON)
        await wait_until(page, "window.streamSession.state === 'streaming' && window.streamSession.resumed")
        assert (await button(page))[:3] == ("Microphone: on", "true", False)
        assert len(site.records) == 2 and "resume" in site.records[-1].protocols
        second = site.records[-1]
        await frames_within(second, 100, 10)  # two seconds of sound
        on_seconds = time.monotonic() - started
        assert {f.sample_rate for f in second.sound} == {48000}
        assert loudest(second) > 1000, loudest(second)  # the beep, as Opus through the peer
        assert await page.evaluate("document.activeElement.id") == "text-sink"  # keys still go to the app

        # Off: nothing more is sent and the capture stops (the browser's recording indicator goes out).
        await page.click(BUTTON)
        await wait_until(page, "document.getElementById('toggle-mic').getAttribute('aria-pressed') === 'false'")
        assert await page.evaluate("window.streamSession.microphone.stream") is None
        await asyncio.sleep(0.5)  # what was in flight arrives
        stopped_at = len(second.sound)
        await asyncio.sleep(1.5)
        assert len(second.sound) - stopped_at <= 2, len(second.sound) - stopped_at

        # On again: the connection has its microphone section now, so no new connection is needed.
        await page.click(BUTTON)
        await frames_within(second, stopped_at + 100, 10)
        assert len(site.records) == 2
        assert loudest(second, stopped_at) > 1000
        assert (await button(page))[:2] == ("Microphone: on", "true")
        await page.evaluate("window.streamSession.end()")
    print(f"microphone on: two seconds of sound at the app {on_seconds:.2f} s after the press")


@pytest.mark.parametrize(
    ("script", "reason"),
    [(REFUSE, "NotAllowedError"), (NO_CAPTURE, "cannot capture a microphone here")],
    ids=["permission-refused", "no-getusermedia"],
)
async def test_the_button_is_disabled_with_the_reason_when_there_is_no_microphone(
    site: PeerSite, script: str, reason: str
) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(script)
        await open_streaming(site, page)
        if script == REFUSE:
            assert (await button(page))[2] is False  # asked only when pressed
            await page.click(BUTTON)
            await wait_until(page, "document.getElementById('toggle-mic').disabled")
        text, pressed, disabled, title = await button(page)
        await asyncio.sleep(0.3)
        await page.evaluate("window.streamSession.end()")
    assert (text, pressed, disabled) == ("Microphone: off", "false", True)
    assert title is not None and reason in title, title
    assert len(site.records) == 1  # the session was never reconnected for it
