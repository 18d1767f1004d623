"""Firefox ESR for the benchmarks: open the web client, wait for its first frame, read the stamps.

The same instrument (`browser.init_script`) and the same measuring function (`browser.MEASURE`) as
the Chromium runs, over WebDriver BiDi (`benchmarks.bidi`) instead of Playwright, so a Firefox row
is measured exactly as a Chromium one. Firefox's VideoFrame from a video element is BGRA, not the
I420/NV12 the luma reader wants, so the stamps are read through the canvas (`stamp_reader`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from benchmarks.bidi import BidiError, BidiPage, BidiSession
from benchmarks.browser import MEASURE, init_script


async def open_session(browser: BidiSession, url: str, timeout_s: float = 20.0) -> BidiPage:
    """Open the page at `url` in a new tab and wait for its first presented frame; TimeoutError otherwise."""
    page = await browser.new_page()
    await page.set_viewport(1920, 1080)
    await page.add_init_script(f"() => {{\n{init_script()}\n}}")
    await page.goto(url)
    deadline = time.monotonic() + timeout_s
    while not await page.evaluate("Boolean(window.__bench && 'first_frame' in window.__bench.marks)"):
        if time.monotonic() > deadline:
            status = await page.evaluate("document.getElementById('status')?.textContent ?? null")
            await page.close()
            raise TimeoutError(f"no frame within {timeout_s:g} s (status: {status})")
        await asyncio.sleep(0.1)
    return page


async def close_session(page: BidiPage) -> None:
    """End the page's streaming session for good (`bye`, close 1000) and close the tab."""
    try:
        await page.evaluate("window.streamSession?.end()")
    except BidiError:  # a page that already broke down: closing it is all that is left
        pass
    await page.close()


async def measure_stream(page: BidiPage, seconds: float) -> dict[str, Any]:
    """`browser.measure_stream` in Firefox: per presented frame for `seconds`, plus getStats deltas."""
    raw: dict[str, Any] = await page.evaluate(f"({MEASURE})({json.dumps(seconds)})")
    return raw
