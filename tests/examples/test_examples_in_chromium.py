"""The examples in Chromium through the real chain: typed text, pinches and the microphone change what they draw.

Chromium → proxy → nvcf-local → stream app running `examples.paint:make_app` or
`examples.orbit:make_app` → coturn. Text goes in as the browser gets it from the OS (CDP key events
with the layout's text, a dead key, an input method's commit); pinches as CDP touch events; the
microphone from Chromium's fake capture device, turned on with the toolbar's button. What
the app drew is read back from the page's video with `streamSession.sampleVideo`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page
from support.browser import chromium
from support.local_stack import LocalStack, app_stack
from support.web_client_harness import wait_until

from examples.orbit.scene import create_context

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 720
STEP_TIMEOUT = 10.0
"""How long one visible reaction may take to show."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def paint_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    # The instance imports `examples` from the repository, wherever pytest was started.
    async with app_stack("examples.paint:make_app", tmp_path_factory.mktemp("paint"), str(REPO)) as stack:
        yield stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def orbit_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    try:
        create_context().release()
    except RuntimeError as exc:
        pytest.skip(f"EGL is unavailable: {exc}")
    async with app_stack("examples.orbit:make_app", tmp_path_factory.mktemp("orbit"), str(REPO)) as stack:
        yield stack


async def open_streaming(context: BrowserContext, stack: LocalStack, fragment: str = "") -> Page:
    page = await context.new_page()
    await page.goto(f"{stack.proxy_url}/#token={stack.token()}{fragment}")
    await page.locator("#status[data-state='streaming']").wait_for(timeout=30_000)
    await wait_until(page, "window.streamSession.input && window.streamSession.input.open")
    return page


async def sample(page: Page, region: tuple[int, int, int, int]) -> list[float]:
    """Mean [r, g, b] of `region` (x, y, w, h in video pixels) on screen now."""
    seen: list[float] | None = await page.evaluate("(r) => window.streamSession.sampleVideo(...r)", list(region))
    assert seen is not None, "no video yet"
    return seen


async def wait_for(page: Page, region: tuple[int, int, int, int], test: Any, what: str) -> float:
    """Wait until `test(mean colour of region)` holds; return the seconds it took."""
    started = time.monotonic()
    while True:
        # None between connections (a reconnect): no picture to test yet.
        seen: list[float] | None = await page.evaluate("(r) => window.streamSession.sampleVideo(...r)", list(region))
        if seen is not None and test(seen):
            return time.monotonic() - started
        if time.monotonic() - started > STEP_TIMEOUT:
            raise AssertionError(f"{what}: region {region} is {seen} after {STEP_TIMEOUT} s")
        await page.wait_for_timeout(30)


def brightness(colour: Sequence[float]) -> float:
    return sum(colour) / 3


def lit(colour: Sequence[float]) -> bool:
    """A white glyph in the cell (10 to 12 of its 15 dots on, black around them)."""
    return brightness(colour) > 100


def black(colour: Sequence[float]) -> bool:
    return brightness(colour) < 20


def canvas(colour: Sequence[float]) -> bool:
    """Paint's background, (40, 40, 40)."""
    return all(abs(c - 40) <= 15 for c in colour)


def typed_cell(index: int) -> tuple[int, int, int, int]:
    """The glyph cell of typed character `index` (examples/paint/README.md)."""
    return (8 + 16 * index, HEIGHT - 52, 12, 20)


async def press(cdp: Any, key: str, code: str, text: str = "") -> None:
    """A key as the browser gets it from the OS: `key` and `text` as the user's layout made them."""
    down = {"type": "keyDown" if text else "rawKeyDown", "key": key, "code": code}
    await cdp.send("Input.dispatchKeyEvent", {**down, **({"text": text} if text else {})})
    await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code})


async def touch(cdp: Any, kind: str, *points: tuple[float, float]) -> None:
    touch_points = [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]
    await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})


async def pinch_apart(cdp: Any, x: float, y: float) -> None:
    """Two fingers 100 px apart around (x, y) spread to 200 px: a pinch of scale 2."""
    await touch(cdp, "touchStart", (x - 50, y), (x + 50, y))
    for spread in (20, 50):
        await touch(cdp, "touchMove", (x - 50 - spread, y), (x + 50 + spread, y))
    await touch(cdp, "touchEnd")


async def video_middle(page: Page) -> tuple[float, float]:
    x, y = await page.evaluate(
        "(() => { const r = document.getElementById('stream').getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
    )
    return x, y


async def test_paint_draws_typed_text_and_a_pinch_scales_the_brush(paint_stack: LocalStack) -> None:
    timings: dict[str, float] = {}
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, has_touch=True)
        page = await open_streaming(context, paint_stack, "&touch=trackpad")
        assert await page.evaluate("[streamSession.video.videoWidth, streamSession.video.videoHeight]") == [
            WIDTH,
            HEIGHT,
        ]
        cdp = await context.new_cdp_session(page)
        await wait_for(page, typed_cell(0), canvas, "no typed line at the start")

        # Enter opens a line, as a game's chat does; then a letter, é from a dead key (which makes no
        # text itself), and 日 from an input method.
        await press(cdp, "Enter", "Enter", "\r")
        timings["line opened"] = await wait_for(page, typed_cell(0), black, "the line Enter opens")
        await press(cdp, "a", "KeyA", "a")
        timings["typed letter"] = await wait_for(page, typed_cell(0), lit, "the typed a")
        await press(cdp, "Dead", "Equal")
        await press(cdp, "é", "KeyE", "é")
        await cdp.send("Input.imeSetComposition", {"text": "にほん", "selectionStart": 3, "selectionEnd": 3})
        await cdp.send("Input.insertText", {"text": "日"})
        timings["composed text"] = await wait_for(page, typed_cell(2), lit, "the committed 日")
        assert lit(await sample(page, typed_cell(1))), "é"
        assert black(await sample(page, typed_cell(3))), "the dead key typed a character of its own"
        # é is drawn as an E (its middle row lit on the left only), 日 as a box (lit on both sides).
        e_middle_right, box_middle_right = (8 + 16 + 8, HEIGHT - 48, 4, 4), (8 + 32 + 8, HEIGHT - 48, 4, 4)
        assert brightness(await sample(page, e_middle_right)) < 100 < brightness(await sample(page, box_middle_right))

        await press(cdp, "Backspace", "Backspace")
        timings["backspace"] = await wait_for(page, typed_cell(2), black, "日 removed by Backspace")
        await press(cdp, "Enter", "Enter", "\r")
        timings["enter"] = await wait_for(page, typed_cell(0), canvas, "the typed line sent by Enter")
        assert lit(await sample(page, (8, HEIGHT - 24, 12, 20))), "the entered line in the bottom band"

        # The brush bar (x 320 + size) grows from 8 to 16 px when the fingers spread to twice their distance.
        bar = (330, 26, 4, 12)
        assert black(await sample(page, bar))
        await pinch_apart(cdp, *await video_middle(page))
        timings["pinch"] = await wait_for(page, bar, lambda c: brightness(c) > 200, "the brush bar after the pinch")
        assert black(await sample(page, (338, 26, 4, 12))), "the brush grew past 16 px"
        await page.evaluate("window.streamSession.end()")
    print("paint reactions seen in the video (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    await paint_stack.nvcf.wait_until_idle(timeout=10)


def green(colour: Sequence[float]) -> bool:
    return colour[1] > 195 and colour[0] < 60 and colour[2] < 60


async def test_paint_hears_the_microphone_while_the_toolbar_button_is_on(paint_stack: LocalStack) -> None:
    """The button's reconnect (a resume whose offer carries the microphone) through the real proxy
    and stream app: the same app session hears Chromium's test beep, and stops hearing it."""
    await paint_stack.nvcf.wait_until_idle(timeout=10)
    heard = (6 * 64 + 16, 24, 32, 16)  # status swatch 6
    async with chromium(fake_microphone=True) as browser:
        context = await browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = await open_streaming(context, paint_stack)
        cdp = await context.new_cdp_session(page)
        await press(cdp, "Enter", "Enter", "\r")  # a line open with an `a` in it: this session's, to see
        await press(cdp, "a", "KeyA", "a")  # after the reconnect
        await wait_for(page, typed_cell(0), lit, "the typed a")
        await page.wait_for_timeout(1500)
        assert black(await sample(page, heard)), "heard before the microphone was on"
        await page.click("#toggle-mic")
        on_seconds = await wait_for(page, heard, green, "the microphone heard by paint")
        assert await page.evaluate("window.streamSession.resumed") is True
        assert lit(await sample(page, typed_cell(0))), "the app session did not survive the reconnect"
        await page.click("#toggle-mic")
        off_seconds = await wait_for(page, heard, black, "the microphone no longer heard")
        await page.wait_for_timeout(1500)
        assert black(await sample(page, heard)), "heard again after the microphone was turned off"
        await page.evaluate("window.streamSession.end()")
    print(f"paint heard the microphone {on_seconds:.2f} s after the press; not {off_seconds:.2f} s after the second")
    await paint_stack.nvcf.wait_until_idle(timeout=10)


def grid(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Sixteen regions covering the picture below the stamp rows."""
    w, h = width // 4, (height - 16) // 4
    return [(i * w, 16 + j * h, w, h) for j in range(4) for i in range(4)]


async def picture(page: Page) -> list[list[float]]:
    width, height = await page.evaluate("[streamSession.video.videoWidth, streamSession.video.videoHeight]")
    return [await sample(page, region) for region in grid(width, height)]


def change(a: list[list[float]], b: list[list[float]]) -> float:
    """The largest change of a region's mean colour between two pictures."""
    return max(max(abs(x - y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))


async def test_orbit_zooms_in_on_a_pinch(orbit_stack: LocalStack) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, has_touch=True)
        page = await open_streaming(context, orbit_stack)  # direct touch: fingers and the pinch
        cdp = await context.new_cdp_session(page)
        # Wait for the picture to settle at the size the page asked for.
        before = await picture(page)
        deadline = time.monotonic() + STEP_TIMEOUT
        while change(before, now := await picture(page)) > 3:
            assert time.monotonic() < deadline, "the picture never settled"
            before = now
        started = time.monotonic()
        await pinch_apart(cdp, *await video_middle(page))
        while change(before, after := await picture(page)) < 20:
            assert time.monotonic() - started < STEP_TIMEOUT, "no pinch showed in the video"
        seconds = time.monotonic() - started
        await page.evaluate("window.streamSession.end()")
    print(f"orbit: pinch seen in the video after {seconds:.2f} s; largest region change {change(before, after):.0f}")
    await orbit_stack.nvcf.wait_until_idle(timeout=10)
