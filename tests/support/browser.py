"""Launching the real browsers (Debian's Chromium through Playwright, Firefox ESR over WebDriver BiDi),
with network use kept on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from playwright.async_api import Browser, async_playwright

from benchmarks import chromium as chromium_flags
from benchmarks import firefox as firefox_launcher

CHROMIUM = chromium_flags.EXECUTABLE
CHROMIUM_ARGS = list(chromium_flags.LOCAL_ARGS)


@asynccontextmanager
async def chromium(
    *, loopback_ice: bool = True, fake_microphone: bool = False, args: Sequence[str] = ()
) -> AsyncIterator[Browser]:
    """A headless Chromium for one test.

    With `loopback_ice` False it gathers ICE candidates as an ordinary desktop browser does. With
    `fake_microphone` `getUserMedia` grants, without asking, Chromium's own test device (a beep).
    `args` are more command-line arguments (e.g. `two_screens`).
    """
    launch_args = CHROMIUM_ARGS if loopback_ice else [a for a in CHROMIUM_ARGS if a != chromium_flags.LOOPBACK_ICE]
    if fake_microphone:
        launch_args = [*launch_args, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[*launch_args, *args], headless=True)
        try:
            yield browser
        finally:
            await browser.close()


def two_screens(density: float) -> list[str]:
    """Chromium arguments for two screens side by side, 1600x1200 pixels each: the first at
    devicePixelRatio 1, the second (from x = 1600) at `density`. Moving the window from one to the
    other (CDP `Browser.setWindowBounds`) changes its ratio as a real window moving between screens
    does, which device-metrics emulation alone does not: Chromium then tells no media query.
    """
    return [f"--screen-info={{0,0 1600x1200}}{{1600,0 1600x1200 devicePixelRatio={density:g}}}"]


firefox = firefox_launcher.firefox
"""A headless Firefox ESR for one test, as a WebDriver BiDi session (`benchmarks.firefox.firefox`)."""
