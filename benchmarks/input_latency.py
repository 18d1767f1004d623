"""Input latency: from the browser's key event (``t`` = event.timeStamp on the system clock,
web_client/clock.js) to
the handler that receives the message over the ``input`` data channel, on one machine's clock.

Two servers:

- *app*: the stream app's own input handler (docs/protocol.md section 5), through the full chain.
  The page is the web client itself; the app writes a DEBUG line per accepted message
  (`stream_app.input_receiver`), read from its output.
- *baseline*: stock aiortc's data channel in the baseline server, the same web client page and its
  own input channels. A reference for what the WebRTC data path itself costs here.

Events are real keyboard events (Playwright's ``keyboard.press``), 10 ms apart.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from playwright.async_api import Page

from benchmarks.browser import chromium, close_session, codec_fragment, open_session
from benchmarks.context import BenchContext
from benchmarks.stack import running_baseline, running_stack
from benchmarks.stats import summarize

QUANTILES = (50, 99)

APP_LOG_MARKER: Final = "input applied"
"""Text of the stream app's per-message DEBUG line, e.g.
``input applied type=key seq=12 t=1732512345678.123 recv=1732512345679.456`` (``recv`` = the
handler's ``time.time() * 1000`` when the message arrived)."""

APP_LOG_ENV: Final[dict[str, str]] = {"LOG_LEVELS": "stream_app.input_receiver=DEBUG"}
"""Environment that makes the stream app write that line: DEBUG for the input receiver's logger only
(``LOG_LEVEL=DEBUG`` would also make aiortc log every RTP packet, slowing the app being measured)."""

APP_LINE = re.compile(r"seq=(?P<seq>\d+)\b.*?\bt=(?P<t>[0-9.]+)\b.*?\brecv=(?P<recv>[0-9.]+)")
"""How that line (`APP_LOG_MARKER`) carries client and receive time."""


async def _press_keys(page: Page, count: int) -> None:
    for _ in range(count):
        await page.keyboard.press("KeyA")
        await asyncio.sleep(0.01)


async def _sent_keys(page: Page, presses: int) -> int:
    """Press keys once the web client's `input` channel is open; the messages it sent for them."""
    await page.wait_for_function("() => window.streamSession?.input?.reliable?.readyState === 'open'", timeout=10_000)
    before = int(await page.evaluate("() => window.streamSession.input.sent"))
    await _press_keys(page, presses)
    await asyncio.sleep(0.3)
    return int(await page.evaluate("() => window.streamSession.input.sent")) - before


async def _baseline(ctx: BenchContext, browser: Any) -> dict[str, Any]:
    async with running_baseline(1280, 720) as baseline:
        # The web client's own input channels and key capture, as on the app path.
        page = await open_session(browser, baseline.page_url(codec_fragment("vp8")))
        try:
            sent = await _sent_keys(page, ctx.profile.input_events)
        finally:
            await close_session(page)
        samples = [s for s in await baseline.input_samples() if s.get("type") == "key"]
    latencies = [s["received"] - s["t"] for s in samples]
    return {
        "status": "ok",
        "presses": ctx.profile.input_events,
        "sent": sent,
        "received": len(samples),
        "latency_ms": summarize(latencies, QUANTILES),
    }


async def _app(ctx: BenchContext, browser: Any) -> dict[str, Any]:
    async with running_stack(ctx.workdir, APP_LOG_ENV) as stack:
        page = await open_session(browser, stack.page_url())
        try:
            # The web client's own capture (web_client/input-capture.js) sends, per press, a `key`
            # down, the `text` it types and a `key` up on its `input` channel once it is open.
            sent = await _sent_keys(page, ctx.profile.input_events)
        finally:
            await close_session(page)
        latencies = []
        for line in stack.output.lines:
            typed = APP_LOG_MARKER in line and ("type=key " in line or "type=text " in line)
            found = APP_LINE.search(line) if typed else None
            if found:
                latencies.append(float(found["recv"]) - float(found["t"]))
    return {
        "status": "ok" if latencies else "failed",
        "presses": ctx.profile.input_events,
        "sent": sent,
        "received": len(latencies),
        "latency_ms": summarize(latencies, QUANTILES),
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    """The app and the baseline."""
    async with chromium(ctx.config.chromium) as browser:
        app = await _app(ctx, browser)
        ctx.log("input_latency: baseline")
        try:
            baseline = await _baseline(ctx, browser)
        except TimeoutError as exc:
            baseline = {"status": "failed", "reason": str(exc)}
    return {
        "status": "ok" if app["status"] == "ok" else "partial",
        "app": app,
        "baseline": baseline,
        "notes": [
            "t is the event's timestamp on the system clock (web_client/clock.js); the receive time is the "
            "handler's time.time(); one machine, one clock.",
            "Keys pressed through Playwright (CDP Input.dispatchKeyEvent), 10 ms apart; the web client sends "
            "a key down, the text it types and a key up per press, each counted.",
        ],
    }
