"""A small WebDriver BiDi client (https://w3c.github.io/webdriver-bidi/): what the tests and the
benchmark need to drive Firefox, over one WebSocket, in the caller's event loop.

Firefox speaks WebDriver BiDi itself (``--remote-debugging-port``), so no driver process (geckodriver)
and no second language (puppeteer on Node) stands between a test and the browser. Only the commands
used here are wrapped: navigate, evaluate, viewport, preload scripts, input actions and screenshots,
and (with Firefox's system access) the browser window's own chrome context.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

Action = dict[str, Any]
"""One input action (WebDriver BiDi `input.performActions`), e.g. ``{"type": "keyDown", "value": "r"}``."""


class BidiError(Exception):
    """A command the browser answered with an error: its `error` code and `message`."""

    def __init__(self, method: str, error: str, message: str) -> None:
        super().__init__(f"{method}: {error}: {message}")
        self.error = error


@dataclass
class BidiSession:
    """A WebDriver BiDi session on `connection`; `console` collects the pages' console lines."""

    connection: ClientConnection
    console: list[str] = field(default_factory=list)
    browser_pid: int | None = None
    """The browser's main process, when the caller started it (e.g. to see what it connects to)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.connection:
                message = json.loads(text)
                if "id" in message and message["id"] in self._waiting:
                    self._waiting.pop(message["id"]).set_result(message)
                elif message.get("method") == "log.entryAdded":
                    entry = message["params"]
                    self.console.append(f"{entry.get('level')}: {entry.get('text')}")
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the browser closed its WebDriver BiDi connection"))

    async def command(self, method: str, params: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """Send `method` with `params`; return its result or raise BidiError."""
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        await self.connection.send(json.dumps({"id": command_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, timeout)
        if answer.get("type") == "error":
            raise BidiError(method, answer.get("error", "?"), answer.get("message", ""))
        result: dict[str, Any] = answer["result"]
        return result

    async def close(self) -> None:
        with contextlib.suppress(BidiError, ConnectionError, TimeoutError, websockets.ConnectionClosed):
            await self.command("session.end", {}, timeout=5)
        await self.connection.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def new_page(self) -> BidiPage:
        """A new tab."""
        result = await self.command("browsingContext.create", {"type": "tab"})
        return BidiPage(self, result["context"])

    async def chrome_window(self) -> BidiPage:
        """The browser window itself (Firefox's `browser.xhtml`), where scripts run with the browser's
        privileges: Firefox's `moz:scope` extension, allowed only when Firefox was started with
        ``--remote-allow-system-access`` (`benchmarks.firefox.SYSTEM_ACCESS`)."""
        tree = await self.command("browsingContext.getTree", {"moz:scope": "chrome", "maxDepth": 0})
        windows = [c for c in tree["contexts"] if c["url"] == "chrome://browser/content/browser.xhtml"]
        if not windows:
            raise BidiError("browsingContext.getTree", "no such window", f"no browser window in {tree}")
        return BidiPage(self, windows[0]["context"])


async def open_session(url: str) -> BidiSession:
    """Connect to a browser's WebDriver BiDi endpoint `url` (``ws://host:port``) and start a session."""
    connection = await websockets.connect(f"{url}/session", max_size=None)
    session = BidiSession(connection)
    session.start()
    await session.command("session.new", {"capabilities": {"alwaysMatch": {"unhandledPromptBehavior": "ignore"}}})
    await session.command("session.subscribe", {"events": ["log.entryAdded"]})
    return session


@dataclass
class BidiPage:
    """One browsing context (a tab) of `session`."""

    session: BidiSession
    context: str

    async def goto(self, url: str) -> None:
        await self.session.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def set_viewport(self, width: int, height: int, device_pixel_ratio: float | None = None) -> None:
        """The page's size in CSS pixels and, when given, its `devicePixelRatio` (device pixels per CSS pixel)."""
        params: dict[str, Any] = {"context": self.context, "viewport": {"width": width, "height": height}}
        if device_pixel_ratio is not None:
            params["devicePixelRatio"] = device_pixel_ratio
        await self.session.command("browsingContext.setViewport", params)

    async def screenshot(self, x: float, y: float, width: float, height: float) -> bytes:
        """A PNG of that box of the viewport (CSS pixels), in device pixels as the screen shows it."""
        clip = {"type": "box", "x": x, "y": y, "width": width, "height": height}
        result = await self.session.command(
            "browsingContext.captureScreenshot", {"context": self.context, "origin": "viewport", "clip": clip}
        )
        return base64.b64decode(result["data"])

    async def add_init_script(self, function_declaration: str) -> None:
        """Run `function_declaration` (``() => {...}``) in every document this tab loads, before its scripts."""
        params = {"functionDeclaration": function_declaration, "contexts": [self.context]}
        await self.session.command("script.addPreloadScript", params)

    async def evaluate(self, expression: str) -> Any:
        """The value of the JavaScript `expression` (awaited when it is a promise), through JSON.

        The page's Content-Security-Policy forbids `eval`; BiDi's `script.evaluate` is not subject to it.
        """
        wrapped = f"(async () => JSON.stringify(await ({expression})) ?? 'null')()"
        params = {
            "expression": wrapped,
            "target": {"context": self.context},
            "awaitPromise": True,
            "resultOwnership": "none",
        }
        result = await self.session.command("script.evaluate", params)
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError("script.evaluate", "javascript error", str(details.get("text", details)))
        return json.loads(result["result"]["value"])

    async def perform(self, source: dict[str, Any], actions: Sequence[Action]) -> None:
        """Run `actions` of one input `source` (``{"type": "key"|"pointer"|"wheel", "id": ...}``)."""
        params = {"context": self.context, "actions": [{**source, "actions": list(actions)}]}
        await self.session.command("input.performActions", params)

    async def key_down(self, key: str) -> None:
        """`key` is a character or a WebDriver key code point (e.g. ``"\\ue008"`` for Shift)."""
        await self.perform(KEYBOARD, [{"type": "keyDown", "value": key}])

    async def key_up(self, key: str) -> None:
        await self.perform(KEYBOARD, [{"type": "keyUp", "value": key}])

    async def mouse_move(self, x: float, y: float) -> None:
        await self.perform(MOUSE, [{"type": "pointerMove", "x": round(x), "y": round(y)}])

    async def mouse_down(self, button: int = 0) -> None:
        await self.perform(MOUSE, [{"type": "pointerDown", "button": button}])

    async def mouse_up(self, button: int = 0) -> None:
        await self.perform(MOUSE, [{"type": "pointerUp", "button": button}])

    async def wheel(self, x: float, y: float, delta_x: int, delta_y: int) -> None:
        scroll = {"type": "scroll", "x": round(x), "y": round(y), "deltaX": delta_x, "deltaY": delta_y}
        await self.perform(WHEEL, [scroll])

    async def close(self) -> None:
        with contextlib.suppress(BidiError, ConnectionError, TimeoutError):
            await self.session.command("browsingContext.close", {"context": self.context}, timeout=10)


KEYBOARD = {"type": "key", "id": "keyboard"}
MOUSE = {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}}
WHEEL = {"type": "wheel", "id": "wheel"}
