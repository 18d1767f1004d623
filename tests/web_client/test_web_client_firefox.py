"""The web client in Firefox ESR (Debian's `firefox-esr`) through the real stack, over WebDriver BiDi.

Proxy (serving the strict CSP itself) → nvcf-local → stream app → coturn, as in the Chromium tests:
the page streams and decodes; with no H.264 in Firefox (no OpenH264 plugin) the codec negotiation
falls back to VP8 by itself and the stats overlay says so; keyboard, mouse, wheel and touch reach
the paint example, whose reaction comes back in the video, and fullscreen works without Keyboard
Lock; a connection the proxy drops comes back with `resume`, and a key held through the drop is
not released a second time. Marked `firefox` (and `browser`): `pytest -m firefox` runs these alone
(with `test_web_client_firefox_input.py`: layouts, app channel, clipboard, gamepads, resize).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from support.browser import firefox
from support.echo_app import ECHO_APP, echo_app_pythonpath
from support.firefox_harness import echoed, inputs, open_page, wait_for_state, wait_until
from support.local_stack import LocalStack, local_stack, restart_proxy
from support.services import NvcfLocalFactory, RunningNvcfLocal, use_app, write_definition

from benchmarks.bidi import KEYBOARD, BidiPage

pytestmark = [pytest.mark.browser, pytest.mark.firefox]

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 720
TOLERANCE = 60
"""Per channel: colour error the video encoder may add (examples/paint/README.md)."""

FINGER = {"type": "pointer", "id": "finger", "parameters": {"pointerType": "touch"}}
CONTROL, ALT = "\ue009", "\ue00a"
"""WebDriver's key values for the left Control and Alt keys."""
VIDEO_SIZE = "[window.streamSession.video.videoWidth, window.streamSession.video.videoHeight]"
INBOUND = "[...(await window.streamSession.pc.getStats()).values()].find((r) => r.type === 'inbound-rtp')"


@pytest.fixture
async def stack(nvcf_local: RunningNvcfLocal, tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with local_stack(nvcf_local, tmp_path) as running:
        yield running


def remote_addresses(pid: int) -> set[str]:
    """The addresses Firefox (process `pid` and its children) has sockets connected to now."""
    main = psutil.Process(pid)
    found: set[str] = set()
    for process in [main, *main.children(recursive=True)]:
        try:
            found |= {c.raddr.ip for c in process.net_connections(kind="inet") if c.raddr}
        except psutil.NoSuchProcess:
            continue
    return found


async def test_firefox_streams_vp8_and_the_overlay_says_so(stack: LocalStack) -> None:
    async with firefox() as browser:
        page = await browser.new_page()
        # The page asks for H.264 first (its default); Firefox cannot receive it here.
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}&stats=1", WIDTH, HEIGHT)
        await wait_for_state(page, "streaming")
        receivable = await page.evaluate("RTCRtpReceiver.getCapabilities('video').codecs.map((c) => c.mimeType)")
        offer = await page.evaluate("window.streamSession.pc.localDescription.sdp")
        await wait_until(page, "window.streamSession.stats.history.length >= 3")
        frames_before = (await page.evaluate(INBOUND))["framesDecoded"]
        await asyncio.sleep(2)
        latest = await page.evaluate("window.streamSession.stats.latest")
        shown = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#overlay [data-stat]')]"
            ".map((e) => [e.dataset.stat, e.textContent]))"
        )
        inbound = await page.evaluate(INBOUND)
        violations = await page.evaluate("window.cspViolations")
        assert browser.browser_pid is not None
        connected_to = remote_addresses(browser.browser_pid)
        await page.evaluate("window.streamSession.end()")
        console = list(browser.console)
    print("Firefox console:", console)
    # Its prefs keep Firefox on this machine: signaling, media and WebDriver BiDi over loopback only.
    assert connected_to and connected_to <= {"127.0.0.1", "::1"}, connected_to
    assert "video/H264" not in receivable and "video/VP8" in receivable, receivable
    assert "H264/90000" not in offer
    # Negotiated VP8 by itself, and the page says so.
    assert latest["codec"] == "VP8" and shown["codec"] == "VP8", (latest, shown)
    assert inbound["framesDecoded"] > frames_before + 10, (frames_before, inbound)
    assert shown["resolution"] == "1280×720", shown
    assert 5 <= latest["fps"] <= 70 and latest["bitrateKbps"] > 10, latest
    assert 0 <= latest["lossPercent"] <= 5, latest
    # The glass-to-glass reading works in Firefox too (requestVideoFrameCallback and VideoFrame).
    assert latest["latencyMs"] is not None and 0 < latest["latencyMs"] < 1000, latest
    assert re.fullmatch(r"\d+\.\d ms", shown["latency"]), shown
    # What Firefox's getStats() lacks shows as a dash, never as an error.
    assert latest["freezeCount"] is None or latest["freezeCount"] >= 0, latest
    assert violations == [], violations
    # No feature the page uses threw (log.entryAdded reports uncaught errors at level "error").
    assert not [line for line in console if line.startswith("error")], console
    await stack.nvcf.wait_until_idle(timeout=10)


def swatch(index: int) -> tuple[int, int, int, int]:
    """The middle of paint's status swatch `index` (examples/paint/README.md)."""
    return (64 * index + 16, 24, 32, 16)


async def wait_for_colour(page: BidiPage, region: tuple[int, int, int, int], wanted: tuple[int, int, int]) -> float:
    """Wait until the mean colour of `region` (x, y, w, h of the picture) is `wanted`; return the seconds."""
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < 10:
        seen = await page.evaluate(f"window.streamSession.sampleVideo({', '.join(map(str, region))})")
        if seen is not None and all(abs(s - w) <= TOLERANCE for s, w in zip(seen, wanted, strict=True)):
            return time.monotonic() - started
        await asyncio.sleep(0.03)
    raise AssertionError(f"region {region} is {seen}, not {wanted} ± {TOLERANCE}")


async def test_firefox_keyboard_mouse_wheel_and_touch_reach_the_app(
    nvcf_local_factory: NvcfLocalFactory, tmp_path: Path
) -> None:
    # The paint example shows what it received (examples/paint/README.md); the page sends it input.
    nvcf = await nvcf_local_factory(
        write_definition(tmp_path, use_app("examples.paint:make_app")), env={"PYTHONPATH": str(REPO)}
    )
    await nvcf.wait_for_status("ACTIVE")
    timings: dict[str, float] = {}
    async with local_stack(nvcf, tmp_path) as stack, firefox() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}", WIDTH, HEIGHT)
        await wait_for_state(page, "streaming")
        await wait_until(page, "window.streamSession.input && window.streamSession.input.open")
        assert await page.evaluate(VIDEO_SIZE) == [WIDTH, HEIGHT]
        box = await page.evaluate(
            "(() => { const r = document.getElementById('stream').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        await wait_for_colour(page, swatch(0), (255, 255, 255))  # The brush at start.
        await page.mouse_move(left + width * 0.25, top + height * 0.75)

        # Key: R held turns the held-key swatch magenta and the brush red; released, black again.
        await page.key_down("r")
        timings["key down"] = await wait_for_colour(page, swatch(1), (255, 0, 255))
        await wait_for_colour(page, swatch(0), (255, 0, 0))
        await page.key_up("r")
        timings["key up"] = await wait_for_colour(page, swatch(1), (0, 0, 0))

        # Mouse: the primary button over the picture lights swatch 2 and paints a dot under the pointer.
        await page.mouse_down()
        timings["mouse down"] = await wait_for_colour(page, swatch(2), (0, 255, 255))
        await wait_for_colour(page, (WIDTH // 4 - 2, HEIGHT * 3 // 4 - 2, 4, 4), (255, 0, 0))
        await page.mouse_up()
        timings["mouse up"] = await wait_for_colour(page, swatch(2), (0, 0, 0))

        # Wheel: ten notches up grow the brush from 8 to 28 px; its bar then covers x 330-345.
        bar = (330, 26, 16, 12)
        started = time.monotonic()
        for _ in range(10):
            await page.wheel(left + width * 0.25, top + height * 0.75, 0, -100)
        await wait_for_colour(page, bar, (255, 255, 255))
        timings["wheel"] = time.monotonic() - started

        # Touch: a finger down lights swatch 2 and draws under it; lifted, swatch 2 goes black again.
        x, y = left + width * 0.6, top + height * 0.5
        await page.perform(
            FINGER, [{"type": "pointerMove", "x": round(x), "y": round(y)}, {"type": "pointerDown", "button": 0}]
        )
        timings["touch start"] = await wait_for_colour(page, swatch(2), (0, 255, 255))
        await wait_for_colour(page, (WIDTH * 6 // 10 - 2, HEIGHT // 2 - 2, 4, 4), (255, 0, 0))
        await page.perform(FINGER, [{"type": "pointerUp", "button": 0}])
        timings["touch end"] = await wait_for_colour(page, swatch(2), (0, 0, 0))

        # Fullscreen by its shortcut: Firefox has no Keyboard Lock, and the page goes on without it.
        assert await page.evaluate("'keyboard' in navigator") is False
        keys = [("keyDown", CONTROL), ("keyDown", ALT), ("keyDown", "f"), ("keyUp", "f"), ("keyUp", ALT)]
        await page.perform(KEYBOARD, [{"type": kind, "value": key} for kind, key in [*keys, ("keyUp", CONTROL)]])
        await wait_until(page, "document.fullscreenElement?.id === 'area'", timeout=5)
        await page.evaluate("document.exitFullscreen()")
        violations = await page.evaluate("window.cspViolations")
        await page.evaluate("window.streamSession.end()")
    print("paint reactions in Firefox (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    assert violations == [], violations


async def test_firefox_comes_back_after_the_proxy_dropped_the_connection_and_forgets_held_keys(
    nvcf_local_factory: NvcfLocalFactory, tmp_path: Path
) -> None:
    # A rolling restart of the proxy: the old one drains (1001), the page reconnects with `resume`.
    # The echo app (support/echo_app.py) tells the page every input event it got.
    definition = write_definition(tmp_path, use_app(ECHO_APP))
    nvcf = await nvcf_local_factory(definition, env={"PYTHONPATH": echo_app_pythonpath(REPO)})
    await nvcf.wait_for_status("ACTIVE")
    async with local_stack(nvcf, tmp_path) as stack, firefox() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}", WIDTH, HEIGHT)
        await wait_for_state(page, "streaming")
        await wait_until(page, "window.streamSession.input?.open")
        await page.evaluate(
            "(window.seenStates = [], window.streamSession.addEventListener('statechange',"
            " (e) => window.seenStates.push(e.detail.state)), true)"
        )
        session_id = await page.evaluate("window.streamSession.sessionId")
        await page.key_down("w")  # held through the drop
        await echoed(page, "KeyEvent", 1)
        await stack.proxy.stop()
        await wait_for_state(page, "reconnecting", timeout=10)
        proxy = await restart_proxy(stack, tmp_path)
        try:
            text = await wait_for_state(page, "streaming", timeout=25)
            await wait_until(page, "window.streamSession.input?.open", timeout=10)
            states = await page.evaluate("window.seenStates")
            frames = (await page.evaluate(INBOUND))["framesDecoded"]
            resumed_id = await page.evaluate("window.streamSession.sessionId")
            held = await page.evaluate("window.streamSession.capture.keysDown.size")
            # The app let go of W itself when the connection dropped; its real release means nothing now.
            await page.key_up("w")
            await page.perform(KEYBOARD, [{"type": "keyDown", "value": "q"}, {"type": "keyUp", "value": "q"}])
            await echoed(page, "KeyEvent", 4)
            await asyncio.sleep(0.3)  # a stray release would come within this
            keys = [(k["action"], k["code"]) for k in await inputs(page) if k["event"] == "KeyEvent"]
            await page.evaluate("window.streamSession.end()")
        finally:
            await proxy.stop()
    assert states[0] == "reconnecting" and states[-1] == "streaming", states
    assert "ended" not in states and "failed" not in states, states
    assert text == "Streaming (resumed)" and resumed_id == session_id, (text, session_id, resumed_id)
    assert frames > 0
    assert held == 0
    # W's one release is the app's own; the page sent none for it after the reconnect.
    assert keys == [("down", "KeyW"), ("up", "KeyW"), ("down", "KeyQ"), ("up", "KeyQ")], keys
