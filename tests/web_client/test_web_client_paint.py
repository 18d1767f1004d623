"""The complete web client driving the paint example through the real chain, seen in the video.

Chromium (strict CSP) → proxy → nvcf-local → stream app running `examples.paint:make_app` → coturn:
each input kind the page sends (key, mouse button, wheel, pointer-lock motion, an emulated gamepad,
paste, resize) reaches the app, and the app's visible reaction (examples/paint/README.md) comes
back in the video, read with `streamSession.sampleVideo`; the app channel carries paint's cursor,
clipboard text, rumble and replies to the page, and the page's message to paint. One stack for the module, one page load
for all the inputs, one per codec.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page
from support.local_stack import LocalStack, app_stack
from support.web_client_harness import csp_chromium, strict_csp, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[2]
VIDEO_SIZE = "[window.streamSession.video.videoWidth, window.streamSession.video.videoHeight]"
WIDTH, HEIGHT = 1280, 720
"""The page's area is the whole viewport: at this size its first `resize` keeps paint's default."""
TOLERANCE = 60
"""Per channel: colour error the video encoder may add (examples/paint/README.md)."""
STEP_TIMEOUT = 10.0
"""How long one visible reaction may take to show."""

RED, MAGENTA, CYAN, ORANGE, YELLOW = (255, 0, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0), (255, 255, 0)
BLACK, BACKGROUND = (0, 0, 0), (40, 40, 40)
SPRITE = 24

# An emulated pad: navigator.getGamepads() answers from window.fakePad, which the test changes.
FAKE_GAMEPAD = """
window.fakePad = { id: 'Test Pad (STANDARD GAMEPAD)', index: 0, connected: true, timestamp: 0,
  mapping: 'standard', buttons: Array.from({length: 17}, () => ({pressed: false, touched: false, value: 0})),
  axes: [0, 0, 0, 0] };
Object.defineProperty(navigator, 'getGamepads', { value: () => [window.fakePad, null, null, null] });
"""
PASTE = """(text) => { const data = new DataTransfer(); data.setData('text/plain', text);
  document.getElementById('stream').dispatchEvent(new ClipboardEvent('paste',
    {clipboardData: data, bubbles: true, cancelable: true})); }"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def paint_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    """Proxy, nvcf-local and coturn for the module; the instance runs paint."""
    # The instance imports `examples` from the repository, wherever pytest was started.
    async with app_stack("examples.paint:make_app", tmp_path_factory.mktemp("paint"), str(REPO)) as stack:
        yield stack


def near(seen: Sequence[float] | None, wanted: tuple[int, int, int]) -> bool:
    return seen is not None and all(abs(s - w) <= TOLERANCE for s, w in zip(seen, wanted, strict=True))


async def sample(page: Page, x: int, y: int, w: int, h: int) -> list[float] | None:
    result: list[float] | None = await page.evaluate(f"window.streamSession.sampleVideo({x}, {y}, {w}, {h})")
    return result


async def wait_for_colour(
    page: Page, region: tuple[int, int, int, int], wanted: tuple[int, int, int], what: str
) -> float:
    """Wait until the mean colour of `region` (x, y, w, h of the picture) is `wanted`; return the seconds."""
    started = time.monotonic()
    seen = None
    for _ in range(1000):
        seen = await sample(page, *region)
        if near(seen, wanted):
            return time.monotonic() - started
        if time.monotonic() - started > STEP_TIMEOUT:
            break
        await page.wait_for_timeout(30)
    raise AssertionError(f"{what}: region {region} is {seen}, not {wanted} ± {TOLERANCE} after {STEP_TIMEOUT} s")


def swatch(index: int) -> tuple[int, int, int, int]:
    """The middle of status swatch `index` (examples/paint/README.md)."""
    return (64 * index + 16, 24, 32, 16)


def sprite_inside(x: int, y: int) -> tuple[int, int, int, int]:
    """The sprite's fill (inside its 3-pixel border) when its top left is at x, y."""
    return (x + 6, y + 6, SPRITE - 12, SPRITE - 12)


async def open_streaming(page: Page, url: str) -> None:
    await page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    await strict_csp(page)
    await page.goto(url)
    await page.locator("#status[data-state='streaming']").wait_for(timeout=30_000)
    await wait_until(page, "window.streamSession.input && window.streamSession.input.open")


async def video_box(page: Page) -> tuple[float, float, float, float]:
    left, top, width, height = await page.evaluate(
        "(() => { const r = document.getElementById('stream').getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; })()"
    )
    return left, top, width, height


async def test_every_input_kind_shows_in_the_video(paint_stack: LocalStack) -> None:
    timings: dict[str, float] = {}
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(FAKE_GAMEPAD)
        started = time.monotonic()
        await open_streaming(page, f"{paint_stack.proxy_url}/#token={paint_stack.token()}")
        timings["page to streaming"] = time.monotonic() - started
        assert await page.evaluate(VIDEO_SIZE) == [WIDTH, HEIGHT]
        left, top, width, height = await video_box(page)
        # Paint at the start: white brush, nothing held, the sprite at the centre.
        await wait_for_colour(page, swatch(0), (255, 255, 255), "the brush at start")
        await wait_for_colour(page, sprite_inside(WIDTH // 2, HEIGHT // 2), (255, 255, 255), "the sprite at start")

        # Key: hold R, the brush turns red and the held-key swatch magenta; release clears it.
        await page.mouse.move(left + width * 0.25, top + height * 0.75)
        await page.keyboard.down("r")
        timings["key down"] = await wait_for_colour(page, swatch(1), MAGENTA, "R held")
        await wait_for_colour(page, swatch(0), RED, "R held: brush")
        await page.keyboard.up("r")
        timings["key up"] = await wait_for_colour(page, swatch(1), BLACK, "R released")

        # Mouse: the primary button down over the picture lights swatch 2 (and paints a red dot there).
        await page.mouse.down()
        timings["mouse down"] = await wait_for_colour(page, swatch(2), CYAN, "mouse down")
        await wait_for_colour(page, (WIDTH // 4 - 2, HEIGHT * 3 // 4 - 2, 4, 4), RED, "the dot under the pointer")
        # A drag draws a line along the pointer (mouse_move with the button held).
        started = time.monotonic()
        await page.mouse.move(left + width * 0.35, top + height * 0.75, steps=5)
        await wait_for_colour(page, (WIDTH * 3 // 10 - 2, HEIGHT * 3 // 4 - 2, 4, 4), RED, "the line of the drag")
        timings["mouse drag"] = time.monotonic() - started
        await page.mouse.up()
        timings["mouse up"] = await wait_for_colour(page, swatch(2), BLACK, "mouse up")

        # Wheel: ten notches up, the brush grows from 8 to 28 px: the bar covers x 330-345 now.
        bar = (330, 26, 16, 12)
        assert near(await sample(page, *bar), BLACK), await sample(page, *bar)
        started = time.monotonic()
        for _ in range(10):
            await page.mouse.wheel(0, -100)
        await wait_for_colour(page, bar, (255, 255, 255), "the brush bar after scrolling up")
        timings["wheel"] = time.monotonic() - started

        # Pointer lock: relative motion moves the sprite 200 px right.
        locked = await page.evaluate("window.streamSession.capture.lockPointer()")
        assert locked, "headless Chromium refused pointer lock"
        started = time.monotonic()
        await page.mouse.move(left + width * 0.35 + 200, top + height * 0.75)
        x, y = WIDTH // 2 + 200, HEIGHT // 2
        await wait_for_colour(page, sprite_inside(x, y), RED, "the sprite after mouse_motion")
        await wait_for_colour(page, sprite_inside(WIDTH // 2, y), BACKGROUND, "where the sprite was")
        timings["pointer-lock motion"] = time.monotonic() - started
        await page.evaluate("document.exitPointerLock()")

        # Gamepad: a button lights swatch 3 (button 1: button 0 would also stamp a dot).
        await page.evaluate("window.fakePad.buttons[1] = {pressed: true, touched: true, value: 1}")
        timings["gamepad button"] = await wait_for_colour(page, swatch(3), ORANGE, "gamepad button")
        await page.evaluate("window.fakePad.buttons[1] = {pressed: false, touched: false, value: 0}")
        await wait_for_colour(page, swatch(3), BLACK, "gamepad button released")
        # The left stick full left runs the sprite to the picture's left edge (600 px/s).
        started = time.monotonic()
        await page.evaluate("window.fakePad.axes[0] = -1")
        await wait_for_colour(page, sprite_inside(0, y), RED, "the sprite after the stick")
        await page.evaluate("window.fakePad.axes[0] = 0")
        await wait_for_colour(page, sprite_inside(x, y), BACKGROUND, "where the sprite was before the stick")
        timings["gamepad stick"] = time.monotonic() - started

        # Paste: swatch 4 turns yellow, the text shows in the bottom band.
        await page.evaluate(PASTE, "HELLO PAINT")
        timings["paste"] = await wait_for_colour(page, swatch(4), YELLOW, "clipboard")
        text_band = await sample(page, 8, HEIGHT - 24, 12 * 11, 20)
        assert text_band is not None and min(text_band) > 25, text_band  # Glyphs: some white on black.

        # Resize: a smaller window asks for a smaller picture, and the picture follows.
        started = time.monotonic()
        await page.set_viewport_size({"width": 1024, "height": 576})
        await wait_until(page, f"{VIDEO_SIZE}.join('x') === '1024x576'", timeout=STEP_TIMEOUT)
        timings["resize"] = time.monotonic() - started
        # Paint keeps its state across the resize: the brush is still red.
        await wait_for_colour(page, swatch(0), RED, "the brush after the resize")
        assert await page.evaluate("window.cspViolations") == []
        await page.evaluate("window.streamSession.end()")
    print("paint reactions seen in the video (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    await paint_stack.nvcf.wait_until_idle(timeout=10)


@pytest.mark.parametrize(("option", "expected"), [("h264", "H264"), ("vp8", "VP8")])
async def test_the_codec_option_chooses_the_codec(paint_stack: LocalStack, option: str, expected: str) -> None:
    await paint_stack.nvcf.wait_until_idle(timeout=10)
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_streaming(page, f"{paint_stack.proxy_url}/#token={paint_stack.token()}&codec={option}")
        receivable = await page.evaluate("RTCRtpReceiver.getCapabilities('video').codecs.map((c) => c.mimeType)")
        assert f"video/{expected}" in receivable, receivable
        await page.keyboard.press("Control+Alt+KeyS")
        await wait_until(page, "window.streamSession.stats.latest && window.streamSession.stats.latest.codec")
        codec = await page.evaluate("window.streamSession.stats.latest.codec")
        shown = await page.locator("#overlay [data-stat='codec']").text_content()
        # The video really decodes with it; paint stamps its frames, so glass to glass is measured.
        await wait_until(page, "window.streamSession.stats.history.length >= 4", timeout=STEP_TIMEOUT)
        latest = await page.evaluate("window.streamSession.stats.latest")
        await page.evaluate("window.streamSession.end()")
    print(
        f"{expected}: {latest['fps']:.0f} fps, {latest['bitrateKbps']:.0f} kbit/s, decode {latest['decodeMs']:.1f} ms, "
        f"glass to glass {latest['latencyMs']:.0f} ms"
    )
    assert codec == expected and shown == expected, (codec, shown)
    assert latest["framesDecoded"] > 10 and latest["width"] == WIDTH, latest
    assert latest["latencyMs"] is not None and 0 < latest["latencyMs"] < 1000, latest
    await paint_stack.nvcf.wait_until_idle(timeout=10)


async def test_default_offer_puts_h264_first(paint_stack: LocalStack) -> None:
    await paint_stack.nvcf.wait_until_idle(timeout=10)
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_streaming(page, f"{paint_stack.proxy_url}/#token={paint_stack.token()}")
        offer = await page.evaluate("window.streamSession.pc.localDescription.sdp")
        await wait_until(page, "window.streamSession.stats.latest && window.streamSession.stats.latest.codec")
        codec = await page.evaluate("window.streamSession.stats.latest.codec")
        await page.evaluate("window.streamSession.end()")
    video_line = next(line for line in offer.splitlines() if line.startswith("m=video"))
    first = video_line.split()[3]
    assert f"a=rtpmap:{first} H264/90000" in offer, video_line
    assert codec == "H264"
    await paint_stack.nvcf.wait_until_idle(timeout=10)


# The emulated pad with a rumble motor: every effect the page plays on it is recorded.
RUMBLE_PAD = (
    FAKE_GAMEPAD
    + """
window.rumbles = [];
window.fakePad.vibrationActuator = { type: 'dual-rumble',
  playEffect: (type, params) => { window.rumbles.push({ type, ...params }); return Promise.resolve('complete'); } };
"""
)
VIDEO_CURSOR = "getComputedStyle(document.getElementById('stream')).cursor"
REFUSE_CLIPBOARD = """Object.defineProperty(navigator.clipboard, 'writeText',
  { value: () => Promise.reject(new DOMException('refused by the test', 'NotAllowedError')) })"""


async def test_the_app_channel_both_ways(paint_stack: LocalStack) -> None:
    """Paint's cursor, clipboard text, rumble and reply reach the page; the page's message reaches paint."""
    await paint_stack.nvcf.wait_until_idle(timeout=10)
    async with csp_chromium() as browser:
        context = await browser.new_context()
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=paint_stack.proxy_url)
        page = await context.new_page()
        await page.add_init_script(RUMBLE_PAD)
        await open_streaming(page, f"{paint_stack.proxy_url}/#token={paint_stack.token()}")
        started = time.monotonic()
        # Paint sets the draw tool's cursor as its session starts; the page draws it on the video.
        await wait_until(page, f"{VIDEO_CURSOR} === 'crosshair'", timeout=STEP_TIMEOUT)
        await page.keyboard.press("m")
        await wait_until(page, f"{VIDEO_CURSOR} === 'move'", timeout=STEP_TIMEOUT)
        cursor_seconds = time.monotonic() - started

        # A custom message each way: paint shows the text and answers.
        await page.evaluate(
            "window.fromApp = [];"
            "window.streamSession.app.addEventListener('message', (e) => window.fromApp.push(e.data))"
        )
        assert await page.evaluate("window.streamSession.app.send({ text: 'HELLO APP' })") is True
        await wait_until(page, "window.fromApp.length > 0", timeout=STEP_TIMEOUT)
        assert await page.evaluate("window.fromApp") == [{"shown": "HELLO APP"}]
        # Something the app cannot use comes back as an `error` event; the session goes on.
        await page.evaluate(
            "window.refusals = [];"
            "window.streamSession.app.addEventListener('error', (e) => window.refusals.push(e.detail));"
            "window.streamSession.app.channel.send('not json')"
        )
        await wait_until(page, "window.refusals.length > 0", timeout=STEP_TIMEOUT)
        refusal = (await page.evaluate("window.refusals"))[0]
        assert refusal["code"] == "bad-json" and refusal["dropped"] == 1, refusal

        # Ctrl+C: paint puts a description of its brush on the clipboard, and the page writes it.
        await page.keyboard.press("Control+KeyC")
        await wait_until(page, "window.streamSession.hostClipboard.last !== null", timeout=STEP_TIMEOUT)
        assert await page.evaluate("window.streamSession.hostClipboard.last") == {
            "text": "paint brush white 8px",
            "how": "written",
        }
        assert await page.evaluate("navigator.clipboard.readText()") == "paint brush white 8px"

        # Gamepad button 0: paint rumbles the pad.
        await page.evaluate("window.fakePad.buttons[0] = {pressed: true, touched: true, value: 1}")
        await wait_until(page, "window.rumbles.length > 0", timeout=STEP_TIMEOUT)
        assert await page.evaluate("window.rumbles") == [
            {"type": "dual-rumble", "startDelay": 0, "duration": 120, "strongMagnitude": 0.8, "weakMagnitude": 0.4}
        ]

        # Where the browser refuses to write, the page offers the text behind a button instead.
        await page.evaluate(REFUSE_CLIPBOARD)
        await page.keyboard.press("r")
        await page.keyboard.press("Control+KeyC")
        await page.locator("#app-clipboard").wait_for(state="visible", timeout=STEP_TIMEOUT * 1000)
        assert (await page.evaluate("window.streamSession.hostClipboard.last"))["how"] == "offered"
        await page.click("#app-clipboard button")  # refused again: the text is shown, selected, to copy by hand
        await page.locator("#app-clipboard textarea").wait_for(state="visible", timeout=5000)
        assert await page.locator("#app-clipboard textarea").input_value() == "paint brush red 8px"
        assert await page.evaluate("window.cspViolations") == []
        await page.evaluate("window.streamSession.end()")
    print(f"app cursor shown {cursor_seconds:.2f} s after streaming began (incl. a key round trip)")
    await paint_stack.nvcf.wait_until_idle(timeout=10)
