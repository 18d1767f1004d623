"""Launching the real browsers (Debian's Chromium through Playwright, Firefox ESR over WebDriver BiDi),
with network use kept on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, async_playwright

from benchmarks import chromium as chromium_flags
from benchmarks import firefox as firefox_launcher

CHROMIUM = chromium_flags.EXECUTABLE
CHROMIUM_ARGS = list(chromium_flags.LOCAL_ARGS)


@asynccontextmanager
async def chromium(*, loopback_ice: bool = True, fake_microphone: bool = False) -> AsyncIterator[Browser]:
    """A headless Chromium for one test.

    With `loopback_ice` False it gathers ICE candidates as an ordinary desktop browser does. With
    `fake_microphone` `getUserMedia` grants, without asking, Chromium's own test device (a beep).
    """
    args = CHROMIUM_ARGS if loopback_ice else [a for a in CHROMIUM_ARGS if a != chromium_flags.LOOPBACK_ICE]
    if fake_microphone:
        args = [*args, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


firefox = firefox_launcher.firefox
"""A headless Firefox ESR for one test, as a WebDriver BiDi session (`benchmarks.firefox.firefox`)."""
