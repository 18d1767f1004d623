"""The page's input, in the real Chromium, received by a real aiortc peer (docs/protocol.md section 5).

The peer stands in for the stream app's input side: it answers the page's offer, accepts its data
channels and records every message, which each test checks against the protocol's field rules.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page, ViewportSize
from support.browser import chromium, two_screens
from support.web_client_harness import PeerSite, peer_site, record_csp_violations, wait_until

pytestmark = pytest.mark.browser

VIEWPORT: ViewportSize = {"width": 1000, "height": 700}
COMMON = {"v", "type", "seq", "t"}
FIELDS: dict[str, set[str]] = {
    "key": {"action", "code", "key", "mods", "repeat"},
    "mouse_move": {"x", "y", "buttons"},
    "mouse_motion": {"dx", "dy", "buttons"},
    "mouse_button": {"action", "button", "x", "y", "mods"},
    "wheel": {"dx", "dy", "mods"},
    "touch": {"phase", "touches"},
    "gamepad": {"index", "connected", "id", "buttons", "axes"},
    "clipboard": {"text"},
    "resize": {"width", "height", "css_width", "css_height", "dpr"},
    "text": {"text"},
    "pinch": {"phase", "scale", "x", "y"},
}
MOTION = {"mouse_move", "mouse_motion"}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_fraction(value: Any) -> bool:
    return is_number(value) and 0 <= value <= 1


def check_message(label: str, m: dict[str, Any]) -> None:
    """Assert `m`, received on channel `label`, follows docs/protocol.md section 5 to the letter."""
    kind = m.get("type")
    assert kind in FIELDS, m
    assert set(m) == COMMON | FIELDS[kind], f"fields of {m}"
    assert m["v"] == 2 and is_int(m["seq"], 0, 2**53)
    # Within a minute of now, in ms since the epoch.
    assert is_number(m["t"]) and abs(m["t"] - time.time() * 1000) < 60_000, m
    motion = kind in MOTION or (kind == "touch" and m["phase"] == "move")
    assert label == ("input-motion" if motion else "input"), (label, m)
    if "mods" in m:
        assert is_int(m["mods"], 0, 15), m
    if "buttons" in m and kind != "gamepad":
        assert is_int(m["buttons"], 0, 31), m
    if kind == "key":
        assert m["action"] in ("down", "up") and isinstance(m["repeat"], bool)
        assert isinstance(m["code"], str) and 1 <= len(m["code"]) <= 32
        assert isinstance(m["key"], str) and 1 <= len(m["key"]) <= 32
    elif kind in ("mouse_move", "mouse_button"):
        assert is_fraction(m["x"]) and is_fraction(m["y"]), m
        if kind == "mouse_button":
            assert m["action"] in ("down", "up") and is_int(m["button"], 0, 4)
    elif kind in ("mouse_motion", "wheel"):
        assert is_number(m["dx"]) and is_number(m["dy"]) and abs(m["dx"]) <= 10000 and abs(m["dy"]) <= 10000
    elif kind == "touch":
        assert m["phase"] in ("start", "move", "end", "cancel")
        assert isinstance(m["touches"], list) and len(m["touches"]) <= 10
        for touch in m["touches"]:
            assert set(touch) == {"id", "x", "y"} and is_int(touch["id"], 0, 2**31)
            assert is_fraction(touch["x"]) and is_fraction(touch["y"])
    elif kind == "gamepad":
        assert is_int(m["index"], 0, 3) and isinstance(m["connected"], bool)
        assert isinstance(m["id"], str) and len(m["id"]) <= 128
        assert len(m["buttons"]) <= 32 and all(is_number(b) and 0 <= b <= 1 for b in m["buttons"])
        assert len(m["axes"]) <= 16 and all(is_number(a) and -1 <= a <= 1 for a in m["axes"])
    elif kind == "clipboard":
        assert isinstance(m["text"], str) and len(m["text"]) <= 8192
        assert len(json_bytes(m)) <= 16 * 1024
    elif kind == "resize":
        assert is_int(m["width"], 64, 7680) and is_int(m["height"], 64, 4320)
        assert is_int(m["css_width"], 16, 16384) and is_int(m["css_height"], 16, 16384)
        assert is_number(m["dpr"]) and 0.25 <= m["dpr"] <= 8
    elif kind == "text":
        assert isinstance(m["text"], str) and 1 <= len(m["text"]) <= 256
        assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) < 0xA0 for c in m["text"]), m
    elif kind == "pinch":
        assert m["phase"] in ("start", "move", "end") and is_number(m["scale"]) and 0.01 <= m["scale"] <= 100
        assert is_fraction(m["x"]) and is_fraction(m["y"])


def json_bytes(m: dict[str, Any]) -> bytes:
    import json

    return json.dumps(m, ensure_ascii=False).encode()


def check_all(site: PeerSite) -> None:
    """Every recorded message is valid and each channel's seq runs 0, 1, 2... (motion may reorder)."""
    for record in site.records:
        for label, message in record.messages:
            check_message(label, message)
        for label in ("input", "input-motion"):
            seqs = [m["seq"] for lbl, m in record.messages if lbl == label]
            if label == "input":
                assert seqs == list(range(len(seqs))), seqs
            else:
                assert sorted(seqs) == list(range(len(seqs))), seqs


@pytest.fixture
async def site() -> AsyncIterator[PeerSite]:
    async with peer_site() as running:
        yield running


async def open_streaming(site: PeerSite, page: Page, fragment: str = "", viewport: bool = True) -> None:
    if viewport:
        await page.set_viewport_size(VIEWPORT)
    await record_csp_violations(page)
    await page.goto(f"{site.url}/#token=test.token.x{fragment}")
    await page.locator("#status[data-state='streaming']").wait_for(timeout=20_000)
    await wait_until(page, "window.streamSession.input && window.streamSession.input.open")
    # The first resize goes out when the channel opens; wait for it so seq checks see a settled start.
    await site.wait_for("resize")


async def test_page_streams_under_the_strict_csp_with_both_input_channels(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        assert await page.evaluate("window.cspViolations") == []
        record = site.records[-1]
        assert "nvcf-stream-v1" in record.protocols and "resume" not in record.protocols
        reliable, motion = record.channels["input"], record.channels["input-motion"]
        assert reliable.ordered and reliable.maxRetransmits is None
        assert not motion.ordered and motion.maxRetransmits == 0
        # No microphone unless asked for (mic=1).
        assert record.pc is not None and [t.kind for t in record.pc.getTransceivers()] == ["video"]
        size = await page.evaluate(
            "[document.getElementById('stream').videoWidth, window.streamSession.sampleVideo(0, 0, 16, 16)]"
        )
    assert size[0] == 800
    # The stamp's first cell is black or white, never grey.
    assert all(v < 60 for v in size[1]) or all(v > 195 for v in size[1]), size


async def test_keys_go_out_as_key_messages_and_page_shortcuts_do_not(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        await page.keyboard.press("KeyA")
        await page.keyboard.down("Shift")
        await page.keyboard.press("Digit1")
        await page.keyboard.up("Shift")
        await page.keyboard.press("Control+Alt+KeyS")  # the stats overlay's shortcut: the page's own
        keys = await site.wait_for("key", 10)
        assert await page.locator("#overlay").is_visible()
    check_all(site)
    summary = [(k["action"], k["code"], k["key"], k["mods"]) for k in keys]
    # The shortcut's modifiers reach the app (the page cannot know what follows them); its S does not.
    assert all(code != "KeyS" for _, code, _, _ in summary)
    assert summary[:6] == [
        ("down", "KeyA", "a", 0),
        ("up", "KeyA", "a", 0),
        ("down", "ShiftLeft", "Shift", 1),
        ("down", "Digit1", "!", 1),
        ("up", "Digit1", "!", 1),
        ("up", "ShiftLeft", "Shift", 0),
    ]
    assert all(k["repeat"] is False for k in keys)


async def test_mouse_buttons_and_moves_map_to_the_picture(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        box = await page.evaluate(
            "(() => { const r = document.getElementById('stream').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        # A quarter of the way across and three quarters down the picture.
        await page.mouse.move(left + width * 0.25, top + height * 0.75)
        await page.mouse.down(button="right")
        await page.mouse.up(button="right")
        await page.mouse.move(left + width * 0.5, top + height * 0.5, steps=3)
        buttons = await site.wait_for("mouse_button", 2)
        await site.wait_for("mouse_move", 2)
    check_all(site)
    assert [(b["action"], b["button"]) for b in buttons] == [("down", 2), ("up", 2)]
    assert buttons[0]["x"] == pytest.approx(0.25, abs=0.01) and buttons[0]["y"] == pytest.approx(0.75, abs=0.01)
    last_move = site.messages("mouse_move")[-1][1]
    assert last_move["x"] == pytest.approx(0.5, abs=0.01) and last_move["y"] == pytest.approx(0.5, abs=0.01)


async def test_letterboxed_picture_maps_positions_inside_the_picture(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page, "&scale=fit")
        # Stretch the element beyond the picture's aspect ratio: object-fit letterboxes it.
        await page.evaluate(
            "(() => { const v = document.getElementById('stream');"
            " v.style.width = '1000px'; v.style.height = '400px'; })()"
        )
        box = await page.evaluate(
            "(() => { const r = document.getElementById('stream').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        # The picture (800x600 shown 533x400) is centred: its left edge is at (1000 - 533.3) / 2.
        shown = height * 800 / 600
        await page.mouse.click(left + (width - shown) / 2 + shown * 0.1, top + height * 0.9)
        buttons = await site.wait_for("mouse_button", 2)
    check_all(site)
    assert buttons[0]["x"] == pytest.approx(0.1, abs=0.01) and buttons[0]["y"] == pytest.approx(0.9, abs=0.01)


async def test_wheel_lines_become_pixels(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        await page.mouse.move(500, 350)
        await page.mouse.wheel(0, 120)
        # A line-mode wheel (deltaMode 1), as many mice produce: 3 lines of 16 px.
        await page.evaluate(
            "document.getElementById('stream').dispatchEvent(new WheelEvent('wheel',"
            " {deltaY: 3, deltaMode: 1, bubbles: true, cancelable: true, ctrlKey: true}))"
        )
        wheels = await site.wait_for("wheel", 2)
    check_all(site)
    assert wheels[0]["dy"] == pytest.approx(120) and wheels[0]["mods"] == 0
    assert wheels[1]["dy"] == pytest.approx(48) and wheels[1]["mods"] == 2


async def test_pointer_lock_sends_relative_motion(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        await page.mouse.move(500, 350)
        locked = await page.evaluate("window.streamSession.capture.lockPointer()")
        if not locked:
            # Headless Chromium may refuse pointer lock; the documented fallback sends the same
            # relative motion from movementX/Y without the lock.
            await page.evaluate("window.streamSession.capture.relativeFallback = true")
        await page.mouse.move(530, 340)
        motions = await site.wait_for("mouse_motion", 1)
    check_all(site)
    assert sum(m["dx"] for m in motions) == pytest.approx(30, abs=1)
    assert sum(m["dy"] for m in motions) == pytest.approx(-10, abs=1)


async def test_touch_start_move_end_with_motion_on_the_unreliable_channel(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context(has_touch=True, viewport=VIEWPORT)
        page = await context.new_page()
        await open_streaming(site, page)
        cdp = await context.new_cdp_session(page)
        box = await page.evaluate(
            "(() => { const r = document.getElementById('stream').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        for kind, fx in (("touchStart", 0.2), ("touchMove", 0.4), ("touchEnd", 0.4)):
            points = [] if kind == "touchEnd" else [{"x": left + width * fx, "y": top + height * 0.5, "id": 7}]
            await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
        touches = await site.wait_for("touch", 3)
    check_all(site)
    assert [t["phase"] for t in touches] == ["start", "move", "end"]
    assert touches[0]["touches"][0]["x"] == pytest.approx(0.2, abs=0.01)
    assert touches[1]["touches"][0]["x"] == pytest.approx(0.4, abs=0.01)
    assert {t["touches"][0]["id"] for t in touches} == {0}
    assert [label for label, m in site.messages("touch")] == ["input", "input-motion", "input"]


# An emulated pad: navigator.getGamepads() answers from window.fakePad, which the test changes.
FAKE_GAMEPAD = """
window.fakePad = { id: 'Test Pad (STANDARD GAMEPAD)', index: 0, connected: true, timestamp: 0,
  mapping: 'standard', buttons: Array.from({length: 17}, () => ({pressed: false, touched: false, value: 0})),
  axes: [0, 0, 0, 0] };
Object.defineProperty(navigator, 'getGamepads', { value: () => [window.fakePad, null, null, null] });
"""


async def test_gamepad_state_is_sent_when_it_changes(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(FAKE_GAMEPAD)
        await open_streaming(site, page)
        first = await site.wait_for("gamepad", 1)
        await asyncio.sleep(0.3)  # Many animation frames with no change: nothing more is sent.
        assert len(site.messages("gamepad")) == 1
        await page.evaluate(
            "window.fakePad.buttons[0] = {pressed: true, touched: true, value: 1}; window.fakePad.axes[1] = -0.5"
        )
        await site.wait_for("gamepad", 2)
        await page.evaluate("window.fakePad = null")
        pads = await site.wait_for("gamepad", 3)
    check_all(site)
    assert first[0]["connected"] and first[0]["id"] == "Test Pad (STANDARD GAMEPAD)" and first[0]["buttons"] == [0] * 17
    assert pads[1]["buttons"][0] == 1 and pads[1]["axes"] == [0, -0.5, 0, 0]
    assert pads[2] == {**pads[2], "index": 0, "connected": False, "buttons": [], "axes": []}


async def test_paste_sends_the_text_to_the_app(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        paste = """(text) => { const data = new DataTransfer(); data.setData('text/plain', text);
          document.getElementById('stream').dispatchEvent(new ClipboardEvent('paste',
            {clipboardData: data, bubbles: true, cancelable: true})); }"""
        await page.evaluate(paste, "héllo wörld ✓")
        # Too long and multi-byte: cut to fit 8192 characters and 16 KiB.
        await page.evaluate(paste, "✓" * 9000)
        texts = await site.wait_for("clipboard", 2)
    check_all(site)
    assert texts[0]["text"] == "héllo wörld ✓"
    assert 0 < len(texts[1]["text"]) <= 8192 and set(texts[1]["text"]) == {"✓"}


async def test_window_resize_asks_for_a_matching_resolution_once_settled(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        first = (await site.wait_for("resize", 1))[0]
        await page.set_viewport_size({"width": 700, "height": 500})
        resizes = await site.wait_for("resize", 2)
        # A drag: five sizes 20 ms apart (in the page, to keep the timing tight), one request.
        await page.evaluate(
            """async () => {
              const area = document.getElementById('area');
              for (const width of [660, 620, 580, 540, 500]) {
                area.style.width = `${width}px`;
                await new Promise((resolve) => setTimeout(resolve, 20));
              }
            }"""
        )
        resizes = await site.wait_for("resize", 3)
        await asyncio.sleep(0.6)
        assert len(site.messages("resize")) == 3
    check_all(site)
    assert (first["width"], first["height"]) == (1000, 700)
    assert (resizes[1]["width"], resizes[1]["height"]) == (700, 500)
    assert (resizes[2]["width"], resizes[2]["height"]) == (500, 500)


async def test_a_device_pixel_ratio_change_alone_asks_for_a_new_resolution(site: PeerSite) -> None:
    """The window moves to a screen of another density, its CSS size the same: no ResizeObserver
    fires, so the page's `matchMedia` resolution query has to notice and ask again."""
    async with chromium(args=two_screens(2)) as browser:
        # No Playwright viewport: it would pin the ratio to 1. The CSS size is held by emulation
        # (ratio 0: the screen's own), the ratio follows the screen the window is on.
        context = await browser.new_context(no_viewport=True)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Emulation.setDeviceMetricsOverride", {**VIEWPORT, "mobile": False, "deviceScaleFactor": 0})
        window = (await cdp.send("Browser.getWindowForTarget"))["windowId"]
        await open_streaming(site, page, viewport=False)
        first = (await site.wait_for("resize", 1))[0]
        await cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": {"left": 1700, "top": 100}})
        await wait_until(page, "window.devicePixelRatio === 2", timeout=5)
        moved = await page.evaluate("[window.innerWidth, window.innerHeight, window.screenX]")
        second = (await site.wait_for("resize", 2))[1]
        await cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": {"left": 100, "top": 100}})
        third = (await site.wait_for("resize", 3))[2]
        await asyncio.sleep(0.6)  # one request per move, no more
        count = len(site.messages("resize"))
    check_all(site)

    def size(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["width"], r["height"], r["css_width"], r["css_height"], r["dpr"])

    assert moved[:2] == [1000, 700] and moved[2] >= 800, moved  # on the second screen, the same CSS size
    assert size(first) == (1000, 700, 1000, 700, 1)
    assert size(second) == (2000, 1400, 1000, 700, 2)
    assert size(third) == (1000, 700, 1000, 700, 1)
    assert count == 3


async def test_ctrl_v_reaches_the_app_as_keys_and_as_the_pasted_text(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=VIEWPORT)
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
        page = await context.new_page()
        await open_streaming(site, page)
        await page.evaluate("navigator.clipboard.writeText('from the clipboard')")
        await page.keyboard.press("Control+KeyV")
        texts = await site.wait_for("clipboard", 1)
        keys = await site.wait_for("key", 4)
    check_all(site)
    assert texts[0]["text"] == "from the clipboard"
    assert ("down", "KeyV", 2) in [(k["action"], k["code"], k["mods"]) for k in keys]


# Counts Keyboard Lock requests, keeping the real one.
SPY_KEYBOARD_LOCK = """
window.keyboardLocks = 0;
if (navigator.keyboard && navigator.keyboard.lock) {
  const lock = navigator.keyboard.lock.bind(navigator.keyboard);
  navigator.keyboard.lock = (...args) => { window.keyboardLocks += 1; return lock(...args); };
}
"""


async def test_fullscreen_shortcut_locks_the_keyboard_and_is_not_sent(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(SPY_KEYBOARD_LOCK)
        await open_streaming(site, page)
        await page.keyboard.press("Control+Alt+KeyF")
        await wait_until(page, "document.fullscreenElement && document.fullscreenElement.id === 'area'", timeout=5)
        await wait_until(page, "window.keyboardLocks === 1", timeout=5)
        await page.keyboard.press("Control+Alt+KeyF")
        await wait_until(page, "document.fullscreenElement === null", timeout=5)
    codes = [m["code"] for _, m in site.messages("key")]
    assert "KeyF" not in codes, codes


async def press(cdp: Any, key: str, code: str, text: str = "", modifiers: int = 0) -> None:
    """A key as the browser gets it from the OS: `key` and `text` as the user's layout made them."""
    down = {"type": "keyDown" if text else "rawKeyDown", "key": key, "code": code, "modifiers": modifiers}
    await cdp.send("Input.dispatchKeyEvent", {**down, **({"text": text} if text else {})})
    await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code, "modifiers": modifiers})


async def test_a_german_layout_altgr_and_a_dead_key_type_the_right_text(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await open_streaming(site, page)
        cdp = await context.new_cdp_session(page)
        await press(cdp, "z", "KeyY", "z")  # German QWERTZ: the key in the place of Y types z
        await cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "AltGraph", "code": "AltRight"})
        await press(cdp, "@", "KeyQ", "@")  # AltGr+Q on Linux
        await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "AltGraph", "code": "AltRight"})
        await press(cdp, "@", "KeyQ", "@", modifiers=1 | 2)  # AltGr as Windows reports it: Ctrl+Alt
        await press(cdp, "Dead", "Equal")  # the acute dead key makes no text...
        await press(cdp, "é", "KeyE", "é")  # ...the next key makes the composed letter
        await press(cdp, "c", "KeyC", "c", modifiers=2)  # Ctrl+C: a shortcut, not text
        await press(cdp, "Enter", "Enter", "\r")  # Enter is a key, not text
        await press(cdp, "ß", "Minus", "ß")
        texts = await site.wait_for("text", 5)
        keys = await site.wait_for("key", 18)
    check_all(site)
    assert [m["text"] for m in texts] == ["z", "@", "@", "é", "ß"]
    downs = [(k["code"], k["key"]) for k in keys if k["action"] == "down"]
    assert downs[:3] == [("KeyY", "z"), ("AltRight", "AltGraph"), ("KeyQ", "@")]
    assert ("Equal", "Dead") in downs and ("KeyE", "é") in downs and ("KeyC", "c") in downs
    # Each text follows the key-down that made it, on the same ordered channel.
    ordered = [(m["type"], m.get("code") or m.get("text")) for label, m in site.messages() if label == "input"]
    assert ordered.index(("text", "é")) == ordered.index(("key", "KeyE")) + 1


async def test_blur_and_hiding_release_every_held_key_and_button(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        await page.mouse.move(500, 350)
        await page.keyboard.down("KeyW")
        await page.keyboard.down("ShiftLeft")
        await page.mouse.down()
        await site.wait_for("mouse_button", 1)
        await page.evaluate("window.dispatchEvent(new Event('blur'))")
        ups = await site.wait_for("key", 4)
        await site.wait_for("mouse_button", 2)
        # The real releases come later: the app already has them, nothing more is sent.
        await page.keyboard.up("KeyW")
        await page.mouse.up()
        await page.keyboard.down("KeyA")  # held again, then the tab is hidden
        await page.evaluate(
            "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
            " document.dispatchEvent(new Event('visibilitychange'))"
        )
        keys = await site.wait_for("key", 6)
        await asyncio.sleep(0.3)
    check_all(site)
    assert [(k["action"], k["code"]) for k in ups] == [
        ("down", "KeyW"),
        ("down", "ShiftLeft"),
        ("up", "KeyW"),
        ("up", "ShiftLeft"),
    ]
    assert [(b["action"], b["button"]) for _, b in site.messages("mouse_button")] == [("down", 0), ("up", 0)]
    assert [(k["action"], k["code"]) for k in keys[4:]] == [("down", "KeyA"), ("up", "KeyA")]
    assert len(site.messages("key")) == 6


async def test_resize_carries_css_size_and_device_pixel_ratio_and_the_picture_stays_sharp(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=2)
        page = await context.new_page()
        await open_streaming(site, page)
        first = (await site.wait_for("resize", 1))[0]
        # The 800x600 picture at 2 device pixels per CSS pixel: shown 800x600 CSS, 2x2 screen
        # pixels per picture pixel, drawn pixelated (no smoothing blur).
        drawn = await page.evaluate(
            "(() => { const v = document.getElementById('stream'); const r = v.getBoundingClientRect();"
            " return [r.width, r.height, v.classList.contains('smooth'), getComputedStyle(v).imageRendering]; })()"
        )
        await page.set_viewport_size({"width": 640, "height": 480})
        second = (await site.wait_for("resize", 2))[1]
        # Fullscreen on a larger screen. Headless Chromium keeps the window's size in fullscreen,
        # so the test gives the fullscreen page the screen's size itself.
        await page.keyboard.press("Control+Alt+KeyF")
        await wait_until(page, "document.fullscreenElement !== null", timeout=5)
        await page.set_viewport_size({"width": 1280, "height": 800})
        third = (await site.wait_for("resize", 3))[2]
        fullscreen = await page.evaluate("document.fullscreenElement && document.fullscreenElement.id")
    check_all(site)
    assert fullscreen == "area"
    assert (third["width"], third["height"], third["css_width"], third["css_height"]) == (2560, 1600, 1280, 800)
    assert (first["width"], first["height"], first["css_width"], first["css_height"]) == (2000, 1400, 1000, 700)
    assert first["dpr"] == 2
    assert (second["width"], second["height"], second["css_width"], second["css_height"]) == (1280, 960, 640, 480)
    assert drawn[:3] == [800, 600, False] and drawn[3] == "pixelated"


async def touch(cdp: Any, kind: str, *points: tuple[float, float]) -> None:
    touch_points = [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]
    await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})


async def test_trackpad_mode_moves_taps_scrolls_right_clicks_and_pinches(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context(has_touch=True, viewport=VIEWPORT)
        page = await context.new_page()
        await open_streaming(site, page, "&touch=trackpad")
        assert await page.locator("#toggle-touch").text_content() == "Touch: trackpad"
        cdp = await context.new_cdp_session(page)
        width = await page.evaluate("document.getElementById('stream').getBoundingClientRect().width")
        # One finger slides right by a tenth of the picture: the pointer moves from the middle.
        await touch(cdp, "touchStart", (300, 300))
        await touch(cdp, "touchMove", (300 + width * 0.05, 300))
        await touch(cdp, "touchMove", (300 + width * 0.1, 300))
        await touch(cdp, "touchEnd")
        await touch(cdp, "touchStart", (600, 200))  # a tap: a click where the pointer is
        await touch(cdp, "touchEnd")
        await touch(cdp, "touchStart", (400, 300), (500, 300))  # two fingers up by 60 px: scroll
        for dy in (20, 40, 60):
            await touch(cdp, "touchMove", (400, 300 - dy), (500, 300 - dy))
        await touch(cdp, "touchEnd")
        await touch(cdp, "touchStart", (400, 300), (500, 300))  # a two-finger tap: right click
        await touch(cdp, "touchEnd")
        await touch(cdp, "touchStart", (400, 300), (500, 300))  # spreading apart: a pinch
        for spread in (20, 50):
            await touch(cdp, "touchMove", (400 - spread, 300), (500 + spread, 300))
        await touch(cdp, "touchEnd")
        buttons = await site.wait_for("mouse_button", 4)
        pinches = await site.wait_for("pinch", 3)
        await page.locator("#toggle-touch").click()
        assert await page.locator("#toggle-touch").text_content() == "Touch: direct"
    check_all(site)
    assert site.messages("touch") == []  # trackpad mode sends no raw touches
    moves = [m for _, m in site.messages("mouse_move")]
    assert moves[-1]["x"] == pytest.approx(0.6, abs=0.01) and moves[-1]["y"] == pytest.approx(0.5, abs=0.01)
    assert [(b["action"], b["button"]) for b in buttons] == [("down", 0), ("up", 0), ("down", 2), ("up", 2)]
    assert buttons[0]["x"] == pytest.approx(0.6, abs=0.01)
    wheels = [m for _, m in site.messages("wheel")]
    assert sum(w["dy"] for w in wheels) > 20 and all(w["dy"] > 0 and w["dx"] == 0 for w in wheels)
    assert [p["phase"] for p in pinches] == ["start", "move", "end"]
    # Fingers 100 px apart spread to 200 px; their midpoint (x 450) is 350 px into the 800 px picture
    # that starts at x 100 (centred in the 1000 px page).
    assert pinches[1]["scale"] == pytest.approx(2) and pinches[1]["x"] == pytest.approx(350 / 800, abs=0.01)


async def test_the_microphone_goes_to_the_app_when_asked_for_and_stops_with_the_session(site: PeerSite) -> None:
    async with chromium(fake_microphone=True) as browser:
        page = await browser.new_page()
        await open_streaming(site, page, "&mic=1")
        record = site.records[-1]
        deadline = time.monotonic() + 10
        while len(record.sound) < 100 and time.monotonic() < deadline:  # two seconds
            await asyncio.sleep(0.1)
        await page.evaluate("window.streamSession.end()")
        live = await page.evaluate("window.streamSession.microphone.stream")
    assert len(record.sound) >= 100 and {f.sample_rate for f in record.sound} == {48000}
    # Chromium's test device beeps once a second: some frames carry it, as Opus through the peer.
    loudest = max(float(abs(f.to_ndarray()).max()) for f in record.sound)
    assert loudest > 1000, loudest
    assert live is None


async def test_a_reconnect_forgets_held_keys_so_no_release_arrives_unpaired(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await open_streaming(site, page)
        await page.keyboard.down("KeyW")
        await site.wait_for("key", 1)
        await site.drop(1011, "media failed")  # the app releases KeyW itself (its channel closed)
        await wait_until(page, "window.streamSession.state === 'reconnecting'", timeout=5)
        await wait_until(page, "window.streamSession.state === 'streaming' && window.streamSession.input.open")
        await page.keyboard.up("KeyW")  # held through the drop: its release means nothing now
        await page.keyboard.press("KeyQ")
        await site.wait_for("key", 3)
        await asyncio.sleep(0.2)
    check_all(site)
    first, second = site.records[0], site.records[-1]
    assert [(m["action"], m["code"]) for _, m in first.messages if m["type"] == "key"] == [("down", "KeyW")]
    assert [(m["action"], m["code"]) for _, m in second.messages if m["type"] == "key"] == [
        ("down", "KeyQ"),
        ("up", "KeyQ"),
    ]


async def test_an_input_method_and_an_emoji_picker_send_their_text(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await open_streaming(site, page)
        assert await page.evaluate("document.activeElement.id") == "text-sink"
        cdp = await context.new_cdp_session(page)
        # A Japanese IME: the word is composed, then committed.
        await cdp.send("Input.imeSetComposition", {"text": "にほん", "selectionStart": 3, "selectionEnd": 3})
        await cdp.send("Input.imeSetComposition", {"text": "日本", "selectionStart": 2, "selectionEnd": 2})
        await cdp.send("Input.insertText", {"text": "日本"})
        await cdp.send("Input.insertText", {"text": "👍"})  # an emoji picker: text without a key
        await press(cdp, "a", "KeyA", "a")  # and typing goes on as before
        texts = await site.wait_for("text", 3)
        sink = await page.evaluate("document.getElementById('text-sink').value")
    check_all(site)
    assert [m["text"] for m in texts] == ["日本", "👍", "a"]
    assert sink == ""
    assert [(k["action"], k["code"]) for _, k in site.messages("key")] == [("down", "KeyA"), ("up", "KeyA")]
