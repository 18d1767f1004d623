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
async def chromium(*, loopback_ice: bool = True) -> AsyncIterator[Browser]:
    """A headless Chromium for one test.

    With `loopback_ice` False it gathers ICE candidates as an ordinary desktop browser does.
    """
    args = CHROMIUM_ARGS if loopback_ice else [a for a in CHROMIUM_ARGS if a != chromium_flags.LOOPBACK_ICE]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


firefox = firefox_launcher.firefox
"""A headless Firefox ESR for one test, as a WebDriver BiDi session (`benchmarks.firefox.firefox`)."""
