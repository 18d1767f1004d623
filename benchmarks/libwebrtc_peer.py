"""The libwebrtc reference: one Chromium page sends a canvas capture of the textured scene
(`js/scene.js`, the twin of `benchmarks/scene.py`) to a page in a second Chromium, through the lab's
TURN path; this module serves both pages and passes offer and answer between them (no trickle:
each side answers once its gathering is complete, as aiortc does).

The receiving page is measured exactly as the web client is (`browser.measure_stream`: the stamp
read from every presented frame); `instrument.js` is installed in it, so `window.__bench.pc` is
its peer connection and the first presented frame is marked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from playwright.async_api import Browser, Page

from benchmarks.browser import init_script
from benchmarks.ports import free_port
from web_client import STATIC_DIR

JS_DIR: Final = Path(__file__).resolve().parent / "js"
_FILES: Final = {
    "/libwebrtc.html": (JS_DIR / "libwebrtc.html", "text/html"),
    "/scene.js": (JS_DIR / "scene.js", "text/javascript"),
    "/clock.js": (STATIC_DIR / "clock.js", "text/javascript"),
    "/stamp.js": (STATIC_DIR / "stamp.js", "text/javascript"),
}
MAX_BITRATE_BPS: Final = 20_000_000
"""The sender's ceiling: Chromium's own default for one 720p stream is a few Mbit/s, which would keep
it under most caps without any congestion control at all."""


async def _file(request: web.Request) -> web.FileResponse:
    path, kind = _FILES[request.path]
    return web.FileResponse(path, headers={"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"})


def make_app() -> web.Application:
    """The pages server: the reference page and the modules it imports."""
    app = web.Application()
    for route in _FILES:
        app.router.add_get(route, _file)
    return app


@asynccontextmanager
async def running_pages(host: str) -> AsyncIterator[str]:
    """The pages server on `host` (in this process); yields its base URL."""
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def open_reference(
    sender_browser: Browser,
    receiver_browser: Browser,
    base_url: str,
    *,
    sender_ice: list[dict[str, Any]],
    receiver_ice: list[dict[str, Any]],
    fps: int = 60,
    codec: str = "vp8",
    timeout_s: float = 20.0,
) -> tuple[Page, Page]:
    """A sending and a receiving page, connected and showing frames; raises TimeoutError otherwise."""
    sender = await sender_browser.new_page()
    receiver = await receiver_browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        await receiver.add_init_script(script=init_script())
        await sender.goto(f"{base_url}/libwebrtc.html#role=sender")
        await receiver.goto(f"{base_url}/libwebrtc.html#role=receiver")
        await sender.wait_for_function("() => window.libwebrtc !== undefined", timeout=timeout_s * 1000)
        await receiver.wait_for_function("() => window.libwebrtc !== undefined", timeout=timeout_s * 1000)
        offer = await sender.evaluate(
            "(o) => window.libwebrtc.offer(o)",
            {"iceServers": sender_ice, "fps": fps, "maxBitrate": MAX_BITRATE_BPS, "codec": codec},
        )
        answer = await receiver.evaluate(
            "(o) => window.libwebrtc.answer(o)", {"iceServers": receiver_ice, "sdp": offer}
        )
        await sender.evaluate("(sdp) => window.libwebrtc.accept(sdp)", answer)
        await receiver.wait_for_function(
            "() => window.__bench && 'first_frame' in window.__bench.marks", timeout=timeout_s * 1000
        )
    except Exception as exc:
        await sender.close()
        await receiver.close()
        raise TimeoutError(f"the libwebrtc reference showed no frame within {timeout_s:g} s ({exc})") from exc
    return sender, receiver
