"""The web client in Firefox ESR over WebDriver BiDi (`benchmarks.bidi`): waiting on the page, what
the app told it, and the input WebDriver's own actions cannot make.

WebDriver key actions type one character (or a WebDriver key such as Shift) as a US keyboard would
make it: Firefox gives `é` or `ß` no physical key (`code` is empty), `@` the code of the US key
(`Digit2`), and has no AltGraph and no dead key. `layout_keys` types instead as an operating
system's layout hands keys to Firefox: any `key` on any `code`, AltGraph, a dead key, an input
method's composition, through Firefox's own `nsITextInputProcessor` (what Firefox's WebDriver key
actions and its own tests use) in the browser window, so the page gets trusted events from its
focused element exactly as from a keyboard. That needs `benchmarks.firefox.SYSTEM_ACCESS`.

Gamepads: Firefox's test gamepad service (`navigator.requestGamepadServiceTest()`) adds pads and
presses their buttons inside Gecko, so the page reads them through the real Gamepad API. Gecko
offers it only to a browser in automation: the pref `dom.gamepad.test.enabled` and both halves of
`xpc::IsInAutomation()` (`GAMEPAD_TEST_PREFS`, `GAMEPAD_TEST_ENV`).

Microphone: Firefox's fake capture device (`FAKE_MICROPHONE_PREFS`) plays a tone; whether a site may
use it is the permission a user's *Allow* or *Block* stores for the site (`set_site_permission`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from benchmarks.bidi import BidiError, BidiPage, BidiSession

# Collects CSP violations before the page's own scripts run (as web_client_harness does for Chromium).
RECORD_CSP_VIOLATIONS: Final = """() => {
  window.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
  });
}"""

# Everything the app channel delivers, from the first connection on: `window.fromApp` holds
# {kind, data} in arrival order (`message`: the app's value; the others: the event's detail).
RECORD_APP_EVENTS: Final = """() => {
  window.fromApp = [];
  const attach = () => {
    if (!window.streamSession) { setTimeout(attach, 5); return; }
    const app = window.streamSession.app;
    app.addEventListener('message', (e) => window.fromApp.push({ kind: 'message', data: e.data }));
    for (const kind of ['clipboard', 'rumble', 'error']) {
      app.addEventListener(kind, (e) => window.fromApp.push({ kind, data: e.detail }));
    }
  };
  attach();
}"""

GAMEPAD_TEST_PREFS: Final[Mapping[str, bool]] = {
    "dom.gamepad.test.enabled": True,
    # Half of Gecko's "in automation" test; it unlocks test-only APIs such as the gamepad service.
    "security.turn_off_all_security_so_that_viruses_can_take_over_this_computer": True,
}
GAMEPAD_TEST_ENV: Final[Mapping[str, str]] = {"MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1"}
"""The other half: Firefox refuses (crashes on) any connection off this machine."""

FAKE_MICROPHONE_PREFS: Final[Mapping[str, bool]] = {
    # getUserMedia's devices are Firefox's fake ones: the microphone a steady tone.
    "media.navigator.streams.fake": True,
    # Permission as a user's browser has it (benchmarks.firefox.PREFS turns it off): a site's stored
    # Allow or Block answers without a prompt, no stored answer would prompt (and wait, headless).
    "media.navigator.permission.disabled": False,
}

# Stores a permission for an origin as the user's "Allow" or "Block" (remembered) would (chrome scope).
SITE_PERMISSION: Final = """((origin, name, allow) => {
  const principal = Services.scriptSecurityManager.createContentPrincipalFromOrigin(origin);
  Services.perms.addFromPrincipal(principal, name, allow ? Services.perms.ALLOW_ACTION : Services.perms.DENY_ACTION);
  return Services.perms.testExactPermissionFromPrincipal(principal, name);
})"""

# Types `steps` through a TextInputProcessor of the browser window (chrome scope): the content's
# focused element gets the events. A step: ["down"|"up"|"press", key, code] or ["compose"|"commit", text].
LAYOUT_KEYS: Final = """((steps) => {
  const tip = Cc['@mozilla.org/text-input-processor;1'].createInstance(Ci.nsITextInputProcessor);
  if (!tip.beginInputTransactionForTests(window)) throw new Error('another input method holds the window');
  const keyCode = (code) => (/^(Key[A-Z]|Digit\\d)$/.test(code) ? code.charCodeAt(code.length - 1) : 0);
  const key = (name, code) => new KeyboardEvent('', { key: name, code, keyCode: keyCode(code) });
  for (const [kind, text, code] of steps) {
    if (kind === 'down' || kind === 'press') tip.keydown(key(text, code));
    if (kind === 'up' || kind === 'press') tip.keyup(key(text, code));
    if (kind === 'compose') {
      tip.setPendingCompositionString(text);
      tip.appendClauseToPendingComposition(text.length, tip.ATTR_RAW_CLAUSE);
      tip.flushPendingComposition();
    }
    if (kind === 'commit') tip.commitCompositionWith(text);
  }
  return true;
})"""

LayoutStep = tuple[str, str] | tuple[str, str, str]
"""``("press", "z", "KeyY")``, ``("down", "AltGraph", "AltRight")``, ``("compose", "にほん")``..."""


async def layout_keys(browser: BidiSession, steps: Sequence[LayoutStep]) -> None:
    """Type `steps` into the focused page as an OS keyboard layout or input method would deliver them.

    Modifiers held by a ``down`` step (Control, Alt, AltGraph, Shift) apply to the following steps.
    """
    window = await browser.chrome_window()
    await window.evaluate(f"{LAYOUT_KEYS}({json.dumps([list(step) for step in steps])})")


async def set_site_permission(browser: BidiSession, origin: str, name: str, allow: bool) -> None:
    """Allow or block `name` (e.g. ``"microphone"``) for `origin` (``http://127.0.0.1:8080``), as the
    user answering Firefox's prompt with "remember" would. Needs `benchmarks.firefox.SYSTEM_ACCESS`
    (WebDriver BiDi's `permissions.setPermission` does not know the microphone in Firefox ESR 153)."""
    window = await browser.chrome_window()
    stored = await window.evaluate(f"{SITE_PERMISSION}({json.dumps(origin)}, {json.dumps(name)}, {json.dumps(allow)})")
    if stored != (1 if allow else 2):
        raise AssertionError(f"Firefox stored {stored} for {name} on {origin}")


async def wait_until(page: BidiPage, expression: str, timeout: float = 20.0) -> Any:
    """Poll `expression` in the page until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while not (value := await page.evaluate(expression)):
        if time.monotonic() > deadline:
            status = await page.evaluate("document.getElementById('status').textContent")
            raise AssertionError(f"still false after {timeout} s: {expression} (status: {status})")
        await asyncio.sleep(0.1)
    return value


async def wait_for_state(page: BidiPage, wanted: str, timeout: float = 30.0) -> str:
    """Wait until the status says `wanted`; return its text."""
    await wait_until(page, f"document.getElementById('status').dataset.state === {wanted!r}", timeout)
    text: str = await page.evaluate("document.getElementById('status').textContent")
    return text


async def open_page(page: BidiPage, url: str, width: int, height: int, device_pixel_ratio: float | None = None) -> None:
    """Open the web client at `url` in a `width` x `height` viewport, recording CSP violations and
    what the app channel delivers (`window.cspViolations`, `window.fromApp`)."""
    await page.set_viewport(width, height, device_pixel_ratio)
    await page.add_init_script(RECORD_CSP_VIOLATIONS)
    await page.add_init_script(RECORD_APP_EVENTS)
    await page.goto(url)


async def open_streaming(
    page: BidiPage, url: str, width: int, height: int, device_pixel_ratio: float | None = None
) -> None:
    """`open_page`, then wait until it streams with its input and app channels open."""
    await open_page(page, url, width, height, device_pixel_ratio)
    await wait_for_state(page, "streaming")
    await wait_until(page, "window.streamSession.input?.open && window.streamSession.app.open")


@asynccontextmanager
async def streaming_page(
    browser: BidiSession,
    url: str,
    width: int,
    height: int,
    device_pixel_ratio: float | None = None,
    init_scripts: Sequence[str] = (),
) -> AsyncIterator[BidiPage]:
    """A new tab streaming from `url` (`open_streaming`, after `init_scripts`); its session is ended
    for good on the way out, even when the test failed, so the instance is free for the next one."""
    page = await browser.new_page()
    for script in init_scripts:
        await page.add_init_script(script)
    try:
        await open_streaming(page, url, width, height, device_pixel_ratio)
        yield page
    finally:
        with contextlib.suppress(BidiError, ConnectionError, TimeoutError):
            await page.evaluate("window.streamSession?.end()")


async def app_events(page: BidiPage, wanted: int, kind: str = "message", timeout: float = 10.0) -> list[Any]:
    """Wait until the app channel delivered `wanted` events of `kind`; return their data, in order."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e["data"] for e in await page.evaluate("window.fromApp") if e["kind"] == kind]
        if len(found) >= wanted:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {wanted} {kind} events from the app in {timeout} s: {found}")
        await asyncio.sleep(0.05)


async def echoed(page: BidiPage, event: str, wanted: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Wait until the echo app (`support.echo_app`) told the page of `wanted` input events of class
    `event` (e.g. ``"Text"``); return them, in the order the app got them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [i for i in await inputs(page) if i["event"] == event]
        if len(found) >= wanted:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"the app got {len(found)} of {wanted} {event} in {timeout} s: {await inputs(page)}")
        await asyncio.sleep(0.05)


async def inputs(page: BidiPage) -> list[dict[str, Any]]:
    """Every input event the echo app told the page of so far, in order."""
    messages = [e["data"] for e in await page.evaluate("window.fromApp") if e["kind"] == "message"]
    return [m["input"] for m in messages if isinstance(m, dict) and "input" in m]
