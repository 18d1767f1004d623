"""Launching the real Chromium (Debian's) through Playwright, with network use kept on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    # WebRTC on loopback only: Chromium leaves 127.0.0.1 out of ICE unless told otherwise.
    "--allow-loopback-in-peer-connection",
    # Real host candidates instead of mDNS names, so ICE needs no multicast.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    # No traffic beyond this machine: no background services, update checks or QUIC probes.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-sandbox",
    "--disable-gpu",
]


@asynccontextmanager
async def chromium(*, loopback_ice: bool = True) -> AsyncIterator[Browser]:
    """A headless Chromium for one test.

    With `loopback_ice` False it gathers ICE candidates as an ordinary desktop browser does.
    """
    args = CHROMIUM_ARGS if loopback_ice else [a for a in CHROMIUM_ARGS if a != "--allow-loopback-in-peer-connection"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            await browser.close()
