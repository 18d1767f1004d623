"""Test harness for the web client: the page under the strict CSP, and an in-test aiortc peer.

`PeerSite` serves `web_client/` with the Content-Security-Policy the real proxy adds, answers
`GET /functions` as told, and speaks the signaling protocol (docs/protocol.md section 3) on
`/sign_in` with a real aiortc peer connection: it sends a stamped test pattern, accepts the page's
data channels and records every input message (section 5). `strict_csp(page)` adds the same header
to whatever a real proxy serves, so the real stack is tested under it too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame
from playwright.async_api import Browser, Page, Route, ViewportSize, async_playwright

from benchmarks.ports import free_udp_port_range
from deploy.coturn import RunningCoturn, start_coturn
from stream_app.ice import confine_to_range
from stream_app.media.pattern_source import PatternTrack
from stream_app.ports import PortRange
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.local_stack import LocalStack
from web_client import STATIC_DIR

STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:"
)
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

# Runs before the page's own scripts: collects CSP violations, so a test can assert there were none.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


async def record_csp_violations(page: Page) -> None:
    """Collect the page's CSP violations in `window.cspViolations`."""
    await page.add_init_script(RECORD_CSP_VIOLATIONS)


async def strict_csp(page: Page) -> None:
    """Serve every HTTP response of `page` with the strict CSP header, and record violations.

    The page's responses are then made by Playwright, not by a loopback server, so Chromium's
    Local Network Access checks would block its WebSocket to 127.0.0.1: use a browser from
    `csp_chromium()`.
    """

    async def add_header(route: Route) -> None:
        response = await route.fetch()
        await route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    await page.route("**/*", add_header)
    await page.add_init_script(RECORD_CSP_VIOLATIONS)


@dataclass
class PeerConnectionRecord:
    """One sign-in the peer answered: what the page offered and sent."""

    protocols: list[str]
    query: dict[str, str]
    ws: web.WebSocketResponse
    pc: RTCPeerConnection | None = None
    channels: dict[str, RTCDataChannel] = field(default_factory=dict)
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(channel label, message) for every data-channel message, in arrival order."""
    signals: list[str] = field(default_factory=list)
    """The `type` of every signaling message the page sent."""
    sound: list[AudioFrame] = field(default_factory=list)
    """Every frame of the page's microphone, decoded."""
    listeners: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class PeerSite:
    """The page's server for input tests; `records` holds one entry per sign-in."""

    url: str = ""
    functions: list[dict[str, str]] | None = None
    """The `GET /functions` answer; None answers 404 (a proxy without the endpoint)."""
    records: list[PeerConnectionRecord] = field(default_factory=list)
    ports: PortRange = field(default_factory=lambda: PortRange(*free_udp_port_range(8)))
    resume: str = "accept"
    """What a sign-in offering `resume` gets: `accept` (hello says resumed) or `expire` (close 4410)."""

    def messages(self, type_: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Every input message of every connection (of `type_` if given)."""
        out = [m for r in self.records for m in r.messages]
        return [m for m in out if type_ is None or m[1].get("type") == type_]

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` messages of `type_` arrived; return them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := [m for _, m in self.messages(type_)]) < count:
            if asyncio.get_running_loop().time() > deadline:
                seen = [m.get("type") for _, m in self.messages()]
                raise AssertionError(f"{len(found)} {type_} messages in {timeout} s; seen {seen}")
            await asyncio.sleep(0.05)
        return found

    async def drop(self, code: int, reason: str = "") -> None:
        """Close the latest sign-in's WebSocket with `code` (as a proxy or relay would)."""
        record = self.records[-1]
        if record.pc is not None:
            await record.pc.close()
        await record.ws.close(code=code, message=reason.encode())

    async def index(self, request: web.Request) -> web.FileResponse:
        name = request.match_info.get("name") or "index.html"
        path = STATIC_DIR / name
        if "/" in name or path.suffix not in CONTENT_TYPES or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(
            path, headers={"Content-Type": CONTENT_TYPES[path.suffix], "Content-Security-Policy": STRICT_CSP}
        )

    async def list_functions(self, request: web.Request) -> web.Response:
        if self.functions is None:
            raise web.HTTPNotFound()
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return web.json_response({"error": "token missing"}, status=401)
        return web.json_response({"functions": self.functions})

    async def sign_in(self, request: web.Request) -> web.WebSocketResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        ws = web.WebSocketResponse(protocols=("nvcf-stream-v1",))
        await ws.prepare(request)
        record = PeerConnectionRecord(protocols=offered, query=dict(request.query), ws=ws)
        self.records.append(record)
        resuming = "resume" in offered
        if resuming and self.resume == "expire":
            await ws.close(code=4410, message=b"session expired")
            return ws
        await ws.send_json({"v": 1, "type": "hello", "sessionId": "s1", "iceServers": [], "resumed": resuming})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                await self.on_signal(record, json.loads(msg.data))
        finally:
            if record.pc is not None:
                await record.pc.close()
        return ws

    async def on_signal(self, record: PeerConnectionRecord, message: dict[str, Any]) -> None:
        record.signals.append(message["type"])
        if message["type"] == "offer":
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            record.pc = pc

            @pc.on("datachannel")
            def on_channel(channel: RTCDataChannel) -> None:
                record.channels[channel.label] = channel

                @channel.on("message")
                def on_message(data: str | bytes) -> None:
                    record.messages.append((channel.label, json.loads(data)))

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                if track.kind == "audio":
                    record.listeners.append(asyncio.ensure_future(listen(track, record.sound)))

            await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            pc.addTrack(PatternTrack(800, 600, fps=15))
            confine_to_range(pc, self.ports, ("127.0.0.1",))
            await pc.setLocalDescription(await pc.createAnswer())
            await record.ws.send_json({"v": 1, "type": "answer", "sdp": pc.localDescription.sdp})
        elif message["type"] == "candidate" and message["candidate"] and record.pc is not None:
            text = message["candidate"]["candidate"].removeprefix("candidate:")
            if text:
                candidate = candidate_from_sdp(text)
                candidate.sdpMid = message["candidate"]["sdpMid"]
                candidate.sdpMLineIndex = message["candidate"]["sdpMLineIndex"]
                await record.pc.addIceCandidate(candidate)


async def listen(track: MediaStreamTrack, sound: list[AudioFrame]) -> None:
    """Append every audio frame of `track` to `sound` until it ends."""
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if isinstance(frame, AudioFrame):
            sound.append(frame)


@asynccontextmanager
async def peer_site() -> AsyncIterator[PeerSite]:
    """A running `PeerSite` on a loopback port."""
    site = PeerSite()
    app = web.Application()
    app.router.add_get("/functions", site.list_functions)
    app.router.add_get("/sign_in", site.sign_in)
    app.router.add_get("/", site.index)
    app.router.add_get("/{name}", site.index)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    site.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield site
    finally:
        for record in site.records:
            if record.pc is not None:
                await record.pc.close()
        await runner.cleanup()


@asynccontextmanager
async def csp_chromium() -> AsyncIterator[Browser]:
    """`browser.chromium()` that lets a page whose responses Playwright made (`strict_csp`) reach loopback.

    Chromium's Local Network Access checks treat such a page as public and block its WebSocket
    to 127.0.0.1; the real proxy serving the header itself needs none of this.
    """
    disabled = [a for a in CHROMIUM_ARGS if a.startswith("--disable-features=")]
    features = ",".join([a.split("=", 1)[1] for a in disabled] + ["LocalNetworkAccessChecks"])
    args = [a for a in CHROMIUM_ARGS if a not in disabled] + [f"--disable-features={features}"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def wait_until(page: Page, expression: str, timeout: float = 15.0) -> None:
    """Poll `expression` in the page until it is truthy.

    Playwright's `wait_for_function` evaluates its predicate with `eval`, which the strict CSP
    forbids; `page.evaluate` goes through the DevTools protocol and is not affected.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(expression):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        await asyncio.sleep(0.05)


async def state(page: Page) -> tuple[str | None, str]:
    status = page.locator("#status")
    return await status.get_attribute("data-state"), await status.text_content() or ""


async def wait_for_state(page: Page, wanted: str, timeout: float = 20.0) -> str:
    """Wait until the status says `wanted`; return its text."""
    await page.locator(f"#status[data-state='{wanted}']").wait_for(timeout=timeout * 1000)
    return (await state(page))[1]


async def open_page(page: Page, url: str) -> list[str]:
    """Open the page under the strict CSP; returns the list its console messages go to."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    await page.set_viewport_size(SCREENSHOT_SIZE)
    await strict_csp(page)
    await page.goto(url)
    return console


FRAMES_DECODED_SOON = """new Promise((resolve) => { const poll = () => window.streamSession.pc.getStats()
  .then((s) => { const n = [...s.values()].find((r) => r.type === 'inbound-rtp')?.framesDecoded ?? 0;
    if (n > 0) resolve(n); else setTimeout(poll, 100); }); poll(); })"""


def udp_socket_count(stack: LocalStack) -> int:
    """UDP sockets the stream app instances hold now (the media ports they bind per session)."""
    return stack.nvcf.udp_sockets()


async def wait_for_udp_sockets(stack: LocalStack, wanted: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := udp_socket_count(stack)) != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return count


async def coturn_back_and_the_next_session_streams(
    stack: LocalStack, coturn: RunningCoturn, browser: Any, idle_sockets: int
) -> None:
    """Start the stopped `coturn` again (same port and credentials); a relay-only session streams,
    and once it ends the instances hold `idle_sockets` UDP sockets again."""
    again = await start_coturn(coturn.config)
    try:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&relay=1")
        await wait_for_state(page, "streaming", timeout=30)
        assert await page.evaluate(FRAMES_DECODED_SOON) > 0
        await page.close()  # Ends the session for good.
        await stack.nvcf.wait_until_idle(timeout=15)
        assert await wait_for_udp_sockets(stack, idle_sockets) == idle_sockets
    finally:
        await again.stop()


SCREENSHOT_SIZE: ViewportSize = {"width": 1280, "height": 800}
