"""What reaches the app from Firefox ESR, and what comes back, through the real stack.

Proxy (strict CSP) → nvcf-local → stream app running `support.echo_app` → coturn, driven over
WebDriver BiDi: the echo app tells the page over the app channel (docs/protocol.md section 7) every
input event it was given, so each test reads in the page what the app received. Keyboard text for
a German layout, AltGr, a dead key and an input method (through Firefox's TextInputProcessor, see
`support.firefox_harness`); the app channel both ways and the app's clipboard (written, or offered
and copied on a click), pasted back to the app; gamepads from Firefox's test gamepad service, with
rumble; resize requests with CSS size and devicePixelRatio, and the picture drawn without blur; the
toolbar's microphone button with Firefox's fake microphone (its tone heard by the app, then not),
and disabled when the site's microphone is blocked. One stack for the module, one Firefox per test.
Marked `firefox` (and `browser`).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image
from support.browser import firefox
from support.echo_app import ECHO_APP, echo_app_pythonpath
from support.firefox_harness import (
    FAKE_MICROPHONE_PREFS,
    GAMEPAD_TEST_ENV,
    GAMEPAD_TEST_PREFS,
    app_events,
    echoed,
    inputs,
    layout_keys,
    set_site_permission,
    streaming_page,
    wait_until,
)
from support.local_stack import LocalStack, app_stack

from benchmarks.bidi import KEYBOARD, BidiPage
from benchmarks.firefox import SYSTEM_ACCESS

pytestmark = [pytest.mark.browser, pytest.mark.firefox, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 720
"""The test pattern's size (the echo app keeps it whatever the page asks for)."""
CONTROL, ALT = "\ue009", "\ue00a"
"""WebDriver's key values for the left Control and Alt keys."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def echo_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    """Proxy, nvcf-local and coturn for the module; the instance runs the echo app."""
    async with app_stack(ECHO_APP, tmp_path_factory.mktemp("echo"), echo_app_pythonpath(REPO)) as stack:
        yield stack


def url(stack: LocalStack) -> str:
    return f"{stack.proxy_url}/#token={stack.token()}"


async def press(page: BidiPage, *keys: str) -> None:
    """WebDriver key actions: `keys` go down in order and come up in reverse (a chord)."""
    actions = [{"type": "keyDown", "value": k} for k in keys] + [{"type": "keyUp", "value": k} for k in reversed(keys)]
    await page.perform(KEYBOARD, actions)


async def end(page: BidiPage, stack: LocalStack) -> None:
    violations = await page.evaluate("window.cspViolations")
    await page.evaluate("window.streamSession.end()")
    assert violations == [], violations
    await stack.nvcf.wait_until_idle(timeout=10)


async def test_firefox_types_text_for_other_layouts_dead_keys_and_an_input_method(echo_stack: LocalStack) -> None:
    started = time.monotonic()
    async with (
        firefox(args=[SYSTEM_ACCESS]) as browser,
        streaming_page(browser, url(echo_stack), WIDTH, HEIGHT) as page,
    ):
        assert await page.evaluate("document.activeElement.id") == "text-sink"

        # WebDriver key actions: each value typed as a US keyboard would (Firefox's table of keys).
        for value in ("é", "ß", "@", "z"):
            await press(page, value)
        texts = await echoed(page, "Text", 4)
        typed = [(k["code"], k["key"]) for k in await echoed(page, "KeyEvent", 8) if k["action"] == "down"]
        # Firefox gives a character without a key on the US layout no code; the page sends `Unidentified`.
        assert [t["text"] for t in texts] == ["é", "ß", "@", "z"]
        assert typed == [("Unidentified", "é"), ("Unidentified", "ß"), ("Digit2", "@"), ("KeyZ", "z")]

        # As a German layout, a dead key and a Japanese input method hand them to Firefox.
        await layout_keys(
            browser,
            [
                ("press", "z", "KeyY"),  # QWERTZ: the key in the place of Y types z
                ("down", "AltGraph", "AltRight"),
                ("press", "@", "KeyQ"),  # AltGr+Q, as Linux and macOS report it
                ("up", "AltGraph", "AltRight"),
                ("down", "Control", "ControlLeft"),
                ("down", "Alt", "AltLeft"),
                ("press", "@", "KeyQ"),  # AltGr+Q as Windows reports it: Ctrl+Alt
                ("up", "Alt", "AltLeft"),
                ("up", "Control", "ControlLeft"),
                ("press", "Dead", "Equal"),  # the acute dead key types nothing...
                ("press", "é", "KeyE"),  # ...the next key the composed letter
                ("down", "Control", "ControlLeft"),
                ("press", "x", "KeyX"),  # Ctrl+X: a shortcut, not text
                ("up", "Control", "ControlLeft"),
                ("press", "Enter", "Enter"),  # a key, not text
                ("press", "ß", "Minus"),
                ("compose", "にほん"),  # an input method composes...
                ("compose", "日本"),
                ("commit", "日本"),  # ...and commits a word
                ("press", "Dead", "Equal"),  # a dead key whose accent shows as a composition until the next key
                ("compose", "´"),
                ("commit", "é"),
                ("press", "a", "KeyA"),  # and typing goes on as before
            ],
        )
        texts = await echoed(page, "Text", 12)
        received = await inputs(page)
        sink = await page.evaluate("document.getElementById('text-sink').value")
        held = await page.evaluate("window.streamSession.capture.keysDown.size")
        await end(page, echo_stack)
    print(f"Firefox keyboard session: {time.monotonic() - started:.1f} s")
    assert [t["text"] for t in texts[4:]] == ["z", "@", "@", "é", "ß", "日本", "é", "a"]
    keys = [(k["action"], k["code"], k["key"], k["mods"]) for k in received if k["event"] == "KeyEvent"][8:]
    downs = [(code, key, mods) for action, code, key, mods in keys if action == "down"]
    assert downs[:3] == [("KeyY", "z", 0), ("AltRight", "AltGraph", 0), ("KeyQ", "@", 0)]
    assert ("KeyQ", "@", 6) in downs and ("Equal", "Dead", 0) in downs and ("KeyE", "é", 0) in downs
    assert ("KeyX", "x", 2) in downs and ("Enter", "Enter", 0) in downs and ("Minus", "ß", 0) in downs
    # Every key-down has its key-up, nothing is left held, and the text sink stays empty.
    assert len(keys) == 2 * len(downs) and held == 0 and sink == ""
    # Each text follows the key-down that made it, as the app got them.
    order = [(i["event"], i.get("code") or i.get("text")) for i in received]
    after_e = order.index(("KeyEvent", "KeyE")) + 1
    assert order[after_e] == ("Text", "é"), order


async def click(page: BidiPage, selector: str) -> None:
    """A real mouse click in the middle of the element `selector` (a user gesture for the page)."""
    x, y = await page.evaluate(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
    )
    await page.mouse_move(x, y)
    await page.mouse_down()
    await page.mouse_up()


async def test_firefox_app_channel_both_ways_and_the_apps_clipboard_pasted_back(echo_stack: LocalStack) -> None:
    started = time.monotonic()
    async with firefox() as browser, streaming_page(browser, url(echo_stack), WIDTH, HEIGHT) as page:
        # The page's message reaches the app, whose answer fires `message`.
        assert await page.evaluate("window.streamSession.app.send({ hello: 'from Firefox', n: 1 })") is True
        await wait_until(page, "window.fromApp.some((e) => e.kind === 'message' && 'echo' in e.data)", timeout=10)
        messages = await app_events(page, 1)
        assert [m for m in messages if "echo" in m] == [{"echo": {"hello": "from Firefox", "n": 1}}]
        # Something the app cannot use comes back as an `error` event; the session goes on.
        await page.evaluate("window.streamSession.app.channel.send('not json')")
        refusal = (await app_events(page, 1, "error"))[0]
        assert refusal["code"] == "bad-json" and refusal["dropped"] == 1, refusal

        # The app sets clipboard text with no user gesture behind it: Firefox refuses writeText
        # without user activation, so the page offers it behind a button.
        assert await page.evaluate("navigator.userActivation.isActive") is False
        await page.evaluate("window.streamSession.app.send({ clipboard: 'from the app' })")
        assert await app_events(page, 1, "clipboard") == [{"text": "from the app"}]
        offered = await wait_until(page, "window.streamSession.hostClipboard.last")
        assert offered["how"] == "offered" and "NotAllowedError" in offered["why"], offered
        assert await page.evaluate("document.getElementById('app-clipboard').hidden") is False
        # A click is the user activation writeText wants.
        await click(page, "#app-clipboard button")
        await wait_until(page, "window.streamSession.hostClipboard.last.how === 'copied'", timeout=5)
        assert await page.evaluate("document.getElementById('app-clipboard').hidden") is True
        # It is on Firefox's clipboard: Ctrl+V pastes it, and the paste reaches the app as clipboard text.
        await page.evaluate("document.getElementById('text-sink').focus()")
        await press(page, CONTROL, "v")
        pasted = await echoed(page, "Clipboard", 1)
        assert pasted[0]["text"] == "from the app"

        # Ctrl+C in the app: the key press is a user activation, so the page writes the app's text at once.
        await press(page, CONTROL, "c")
        await wait_until(page, "window.streamSession.hostClipboard.last.text === 'copied 1'", timeout=10)
        written = await page.evaluate("window.streamSession.hostClipboard.last")
        await press(page, CONTROL, "v")
        pasted = await echoed(page, "Clipboard", 2)
        keys = [(k["action"], k["code"], k["mods"]) for k in await echoed(page, "KeyEvent", 8)]
        texts = [i for i in await inputs(page) if i["event"] == "Text"]
        await end(page, echo_stack)
    print(f"Firefox app channel session: {time.monotonic() - started:.1f} s")
    assert written == {"text": "copied 1", "how": "written"}, written
    assert pasted[1]["text"] == "copied 1"
    # Ctrl+V and Ctrl+C reach the app as keys too, and type no text.
    assert ("down", "KeyV", 2) in keys and ("down", "KeyC", 2) in keys and texts == []


# Spies on the rumble Firefox's pads can play (GamepadHapticActuator.pulse), keeping the real one.
SPY_HAPTICS = """() => {
  window.pulses = [];
  if (!window.GamepadHapticActuator) return;
  const pulse = GamepadHapticActuator.prototype.pulse;
  GamepadHapticActuator.prototype.pulse = function (value, duration) {
    window.pulses.push({ value, duration });
    return pulse.call(this, value, duration);
  };
}"""
ADD_PAD = """(async () => {
  window.padService ??= navigator.requestGamepadServiceTest();
  return await window.padService.addGamepad(%s, 'standard', '', 17, 4, %d, 0, 0);
})()"""


async def test_firefox_gamepads_reach_the_app_and_rumble_where_they_can(echo_stack: LocalStack) -> None:
    started = time.monotonic()
    async with (
        firefox(prefs=GAMEPAD_TEST_PREFS, env=GAMEPAD_TEST_ENV) as browser,
        streaming_page(browser, url(echo_stack), WIDTH, HEIGHT, init_scripts=[SPY_HAPTICS]) as page,
    ):
        assert await page.evaluate("typeof navigator.requestGamepadServiceTest") == "function"
        # A pad with a rumble motor (Firefox: hapticActuators, no vibrationActuator) and one without.
        rumbling = await page.evaluate(ADD_PAD % ("'Firefox Test Pad'", 1))
        still = await page.evaluate(ADD_PAD % ("'Firefox Still Pad'", 0))

        # Button 1 and the left stick: each change goes out as the pad's whole state. (Firefox shows
        # a page a pad only once one of its buttons was pressed.)
        await page.evaluate(f"window.padService.newButtonEvent({rumbling}, 1, true, true)")
        await page.evaluate(f"window.padService.newAxisMoveEvent({rumbling}, 1, -0.5)")
        await wait_until(
            page,
            "window.fromApp.some((e) => e.data?.input?.event === 'Gamepad' && e.data.input.axes[1] === -0.5)",
            timeout=10,
        )
        states = [g for g in await echoed(page, "Gamepad", 1) if g["index"] == rumbling]
        await page.evaluate(f"window.padService.newButtonEvent({rumbling}, 1, false, false)")

        # Button 0 makes the echo app rumble that pad: Firefox plays it on the pad's haptic actuator.
        await page.evaluate(f"window.padService.newButtonEvent({rumbling}, 0, true, true)")
        first = await app_events(page, 1, "rumble")
        await wait_until(page, "window.pulses.length > 0", timeout=5)
        # On the pad without a motor the page does nothing, and nothing fails.
        await page.evaluate(f"window.padService.newButtonEvent({still}, 0, true, true)")
        rumbles = await app_events(page, 2, "rumble")
        await page.evaluate(f"window.padService.removeGamepad({rumbling})")
        await wait_until(
            page,
            "window.fromApp.some((e) => e.data?.input?.event === 'Gamepad' && !e.data.input.connected)",
            timeout=10,
        )
        gone = [g for g in await echoed(page, "Gamepad", 1) if not g["connected"]]
        pulses = await page.evaluate("window.pulses")
        await end(page, echo_stack)
        console = list(browser.console)
    print(f"Firefox gamepad session: {time.monotonic() - started:.1f} s")
    pressed = next(s for s in states if s["buttons"][1] == 1)
    assert pressed["id"] == "Firefox Test Pad" and len(pressed["buttons"]) == 17 and len(pressed["axes"]) == 4
    assert any(s["buttons"][1] == 1 and s["axes"] == [0, -0.5, 0, 0] for s in states), states
    assert first[0] == {"index": rumbling, "duration": 120, "strongMagnitude": 0.8, "weakMagnitude": 0.4}
    assert [r["index"] for r in rumbles] == [rumbling, still]
    assert pulses == [{"value": 0.8, "duration": 120}], pulses  # the stronger motor's magnitude
    assert gone and gone[0]["index"] == rumbling and gone[0]["buttons"] == [], gone
    assert not [line for line in console if line.startswith("error") or "could not rumble" in line], console


def uniform_blocks(png: bytes) -> float:
    """The share of aligned 2x2 pixel blocks of `png` whose four pixels are equal: 1.0 when each
    picture pixel was drawn as a sharp 2x2 block, less where a smoothing filter blended neighbours.

    The screenshot starts at the picture's top left corner, so its blocks are the picture's pixels.
    """
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    height, width = (pixels.shape[0] // 2) * 2, (pixels.shape[1] // 2) * 2
    blocks = pixels[:height, :width].reshape(height // 2, 2, width // 2, 2, 3)
    return float((blocks == blocks[:, :1, :, :1]).all(axis=(1, 3, 4)).mean())


DRAWN = (
    "(() => { const v = document.getElementById('stream'); const r = v.getBoundingClientRect();"
    " return [r.left, r.top, r.width, r.height, v.classList.contains('smooth'),"
    " getComputedStyle(v).imageRendering]; })()"
)
"""Where and how the page draws the picture: CSS box, smoothing class, computed `image-rendering`."""


async def test_firefox_resize_carries_css_size_and_device_pixel_ratio_and_the_picture_stays_sharp(
    echo_stack: LocalStack,
) -> None:
    started = time.monotonic()
    async with (
        firefox() as browser,
        streaming_page(browser, url(echo_stack), 1280, 800, device_pixel_ratio=2) as page,
    ):
        first = (await echoed(page, "Resize", 1))[0]
        # The 1280x720 picture at 2 device pixels per CSS pixel: 1280x720 CSS, each picture pixel a
        # 2x2 block of screen pixels, drawn pixelated.
        await wait_until(page, f"{DRAWN}[2] === {WIDTH}", timeout=10)
        left, top, width, height, smooth, rendering = await page.evaluate(DRAWN)
        # The stamp's black and white cells (picture rows 0-15): sharp edges to blur, if anything did.
        sharp = uniform_blocks(await page.screenshot(left, top, 768, 16))
        await page.evaluate("document.getElementById('stream').classList.add('smooth')")
        blurred = uniform_blocks(await page.screenshot(left, top, 768, 16))
        await page.evaluate("document.getElementById('stream').classList.remove('smooth')")
        shot = Image.open(io.BytesIO(await page.screenshot(left, top, 768, 16))).size

        # The window moves to a screen of another density, its CSS size the same: a new request.
        await page.set_viewport(1280, 800, device_pixel_ratio=1)
        second = (await echoed(page, "Resize", 2))[1]
        await page.set_viewport(1000, 700, device_pixel_ratio=1)
        third = (await echoed(page, "Resize", 3))[2]
        await wait_until(page, f"{DRAWN}[4] === true", timeout=10)  # larger than the window: scaled down, smoothly
        downscaled = await page.evaluate(DRAWN)
        await page.set_viewport(1000, 700, device_pixel_ratio=2)
        fourth = (await echoed(page, "Resize", 4))[3]
        # Twice the device pixels: the picture fits 1:1 in device pixels again, sharp.
        await wait_until(page, f"{DRAWN}[4] === false", timeout=10)
        one_to_one = await page.evaluate(DRAWN)
        await end(page, echo_stack)
    seconds = time.monotonic() - started
    print(f"Firefox resize session: {seconds:.1f} s; uniform 2x2 blocks {sharp:.3f} sharp, {blurred:.3f} smooth")

    def size(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["width"], r["height"], r["css_width"], r["css_height"], r["dpr"])

    assert size(first) == (2560, 1600, 1280, 800, 2)
    assert (width, height, smooth, rendering) == (WIDTH, HEIGHT, False, "pixelated")
    assert shot == (1536, 32)  # the screenshot is in device pixels
    # The smooth filter, drawn the same way, fails the same measure: it can tell blur.
    assert sharp > 0.999 and blurred < 0.99, (sharp, blurred)
    assert size(second) == (1280, 800, 1280, 800, 1)
    assert size(third) == (1000, 700, 1000, 700, 1)
    assert downscaled[2:5] == [1000, 562.5, True], downscaled
    assert size(fourth) == (2000, 1400, 1000, 700, 2)
    assert one_to_one[2:6] == [640, 360, False, "pixelated"], one_to_one


MIC_BUTTON = "#toggle-mic"
BUTTON_STATE = (
    "(() => { const b = document.getElementById('toggle-mic');"
    " return [b.textContent, b.getAttribute('aria-pressed'), b.disabled, b.title]; })()"
)
"""The microphone button's text, `aria-pressed`, whether it is disabled, and its tooltip."""
# Counts the page's getUserMedia calls and keeps what each captured, calling the real one.
SPY_CAPTURES = """() => {
  window.captures = { calls: 0, streams: [] };
  const devices = navigator.mediaDevices;
  if (!devices?.getUserMedia) return;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    window.captures.calls += 1;
    const stream = await getUserMedia(constraints);
    window.captures.streams.push(stream);
    return stream;
  };
}"""
CAPTURES = "[window.captures.calls, window.captures.streams.flatMap((s) => s.getTracks()).map((t) => t.readyState)]"
"""How often the page called getUserMedia, and the state of every track it got."""
ANSWERS = "window.fromApp.filter((e) => e.kind === 'message' && e.data?.microphone)"


async def heard(page: BidiPage) -> dict[str, Any]:
    """Ask the echo app what it heard of the microphone so far (frames, loud frames, loudest peak, rates)."""
    asked = await page.evaluate(f"{ANSWERS}.length")
    assert await page.evaluate("window.streamSession.app.send({ ask: 'microphone' })") is True
    await wait_until(page, f"{ANSWERS}.length > {asked}", timeout=5)
    answer: dict[str, Any] = await page.evaluate(f"{ANSWERS}.at(-1).data.microphone")
    return answer


async def hears(page: BidiPage, loud: int, timeout: float = 10.0) -> dict[str, Any]:
    """Wait until the app heard `loud` loud frames in all; return what it heard."""
    deadline = time.monotonic() + timeout
    while (so_far := await heard(page))["loud"] < loud:
        assert time.monotonic() < deadline, f"the app heard {so_far} in {timeout} s, not {loud} loud frames"
        await asyncio.sleep(0.2)
    return so_far


async def test_firefox_microphone_button_sends_the_tone_to_the_app_and_stops_it(echo_stack: LocalStack) -> None:
    started = time.monotonic()
    origin = echo_stack.proxy_url
    async with firefox(prefs=FAKE_MICROPHONE_PREFS, args=[SYSTEM_ACCESS]) as browser:
        await set_site_permission(browser, origin, "microphone", allow=True)
        async with streaming_page(browser, url(echo_stack), WIDTH, HEIGHT, init_scripts=[SPY_CAPTURES]) as page:
            off = await page.evaluate(BUTTON_STATE)
            # The toolbar's other buttons leave the microphone button as it was: one press, one change.
            await click(page, "#toggle-touch")
            await click(page, "#toggle-touch")
            touch_mode = await page.evaluate("window.streamSession.capture.touchMode")
            kinds = await page.evaluate("window.streamSession.pc.getTransceivers().map((t) => t.receiver.track.kind)")
            before = await heard(page)

            # On: the first offer had no microphone, so the page reconnects to the same session with one.
            pressed_at = time.monotonic()
            await click(page, MIC_BUTTON)
            await wait_until(page, "window.streamSession.state === 'streaming' && window.streamSession.resumed")
            on = await page.evaluate(BUTTON_STATE)
            first = await hears(page, 50)  # a second of the tone, through Opus and the real stack
            on_seconds = time.monotonic() - pressed_at
            focused = await page.evaluate("document.activeElement.id")
            captured = await page.evaluate(CAPTURES)
            await page.evaluate("window.withMicrophone = window.streamSession.pc")

            # Off: nothing more is sent, and the capture stops.
            await click(page, MIC_BUTTON)
            await wait_until(page, "document.getElementById('toggle-mic').getAttribute('aria-pressed') === 'false'")
            capture = await page.evaluate("window.streamSession.microphone.stream")
            released = await page.evaluate(CAPTURES)
            await asyncio.sleep(0.5)  # what was in flight arrives
            stopped = await heard(page)
            await asyncio.sleep(1.5)
            silent = await heard(page)

            # On again: this connection has its microphone section, so the track is swapped back in.
            await click(page, MIC_BUTTON)
            again = await hears(page, silent["loud"] + 50)
            same_connection = await page.evaluate("window.streamSession.pc === window.withMicrophone")
            await click(page, MIC_BUTTON)
            await wait_until(page, "document.getElementById('toggle-mic').getAttribute('aria-pressed') === 'false'")
            released_again = await page.evaluate(CAPTURES)

            # The user blocks the microphone for the site: the next press is refused, and the button
            # stays off, disabled, with the reason in its tooltip.
            await set_site_permission(browser, origin, "microphone", allow=False)
            await click(page, MIC_BUTTON)
            await wait_until(page, "document.getElementById('toggle-mic').disabled", timeout=5)
            refused = await page.evaluate(BUTTON_STATE)
            error = await page.evaluate("window.streamSession.microphone.error")
            still = await page.evaluate("window.streamSession.pc === window.withMicrophone")
            asked = (await page.evaluate(CAPTURES))[0]
            await end(page, echo_stack)
    print(
        f"Firefox microphone session: {time.monotonic() - started:.1f} s; a second of the tone at the app "
        f"{on_seconds:.2f} s after the press, loudest {first['loudest']}"
    )
    assert off[:3] == ["Microphone: off", "false", False], off
    assert touch_mode == "direct"
    assert kinds == ["video"], kinds  # no audio section offered before the press
    assert before["frames"] == 0, before
    assert on[:3] == ["Microphone: on", "true", False], on
    assert first["rates"] == [48000] and first["loudest"] > 1000, first
    assert focused == "text-sink"  # keys go back to the app, not to the button
    # One capture per press; turned off, every track it got has ended (the recording indicator goes out).
    assert captured == [1, ["live"]] and released == [1, ["ended"]], (captured, released)
    assert capture is None and released_again == [2, ["ended", "ended"]], released_again
    assert silent["frames"] - stopped["frames"] <= 2, (stopped, silent)
    assert again["frames"] > silent["frames"] and same_connection is True, (silent, again)
    assert refused[:3] == ["Microphone: off", "false", True], refused
    assert "NotAllowedError" in refused[3] and "NotAllowedError" in error, (refused, error)
    assert still is True and asked == 3  # refused without a new connection
