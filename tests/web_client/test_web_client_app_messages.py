"""The page's app-channel module (web_client/app-messages.js) in the real Chromium, held against the
stream app's side of the same protocol (stream_app/app_messages.py, docs/protocol.md section 7)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page
from support.browser import chromium

from stream_app import app_messages as am
from web_client import STATIC_DIR

pytestmark = pytest.mark.browser


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of the web client's origin, to import its modules from."""
    app = web.Application()
    app.router.add_static("/", STATIC_DIR)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/app-messages.js")
            yield page
    finally:
        await runner.cleanup()


async def parse_in_page(page: Page, texts: list[str]) -> list[dict[str, Any]]:
    """What parseAppMessage makes of each text: the message, or the error's code and reason."""
    result: list[dict[str, Any]] = await page.evaluate(
        """async (texts) => {
          const { parseAppMessage, AppMessageError } = await import('/app-messages.js');
          return texts.map((text) => {
            try {
              return { message: parseAppMessage(text) };
            } catch (error) {
              if (!(error instanceof AppMessageError)) throw error;
              return { code: error.code, reason: error.reason };
            }
          });
        }""",
        texts,
    )
    return result


async def test_the_page_reads_every_message_the_app_writes(page: Page) -> None:
    messages: list[am.AppToPage] = [
        am.Message({"score": 1, "list": [None, True, "ü"]}),
        am.ClipboardText("two\nlines"),
        am.Cursor("grabbing"),
        am.Cursor("text", visible=False),
        am.Rumble(3, 250, 0.5, 1.0),
        am.ChannelError("rate-limit", "too many", refused_seq=4, dropped=9),
    ]
    parsed = await parse_in_page(page, [am.serialize(m, seq) for seq, m in enumerate(messages)])
    assert [p["message"] for p in parsed] == [
        {"seq": 0, "type": "message", "data": {"score": 1, "list": [None, True, "ü"]}},
        {"seq": 1, "type": "clipboard", "text": "two\nlines"},
        {"seq": 2, "type": "cursor", "shape": "grabbing", "visible": True},
        {"seq": 3, "type": "cursor", "shape": "text", "visible": False},
        {"seq": 4, "type": "rumble", "index": 3, "duration": 250, "strongMagnitude": 0.5, "weakMagnitude": 1.0},
        {"seq": 5, "type": "error", "code": "rate-limit", "reason": "too many", "refusedSeq": 4, "dropped": 9},
    ]
    # Both sides know the same cursor names.
    assert await page.evaluate("import('/app-messages.js').then((m) => [...m.CURSOR_SHAPES])") == list(am.CURSOR_SHAPES)


async def test_what_the_page_builds_the_stream_app_accepts(page: Page) -> None:
    texts = await page.evaluate(
        """async () => {
          const m = await import('/app-messages.js');
          return [m.customMessage(0, { text: 'hi', n: [1, 2.5] }), m.customMessage(1, null),
                  m.errorMessage(2, 'unknown-type', 'what is teleport?', 7)];
        }"""
    )
    assert [am.parse_from_page(text) for text in texts] == [
        am.Received(0, am.Message({"text": "hi", "n": [1, 2.5]})),
        am.Received(1, am.Message(None)),
        am.Received(2, am.ChannelError("unknown-type", "what is teleport?", 7, 1)),
    ]


async def test_the_page_refuses_what_it_cannot_use_with_a_code(page: Page) -> None:
    envelope = {"v": 1, "seq": 0}
    cases = {
        "not json": "bad-json",
        "[]": "bad-message",
        json.dumps({**envelope, "v": 2, "type": "message", "data": 1}): "unsupported-version",
        json.dumps({**envelope, "type": "teleport"}): "unknown-type",
        json.dumps({**envelope, "type": "cursor", "shape": "banana", "visible": True}): "bad-message",
        json.dumps(
            {**envelope, "type": "rumble", "index": 0, "duration": 0, "strongMagnitude": 1, "weakMagnitude": 1}
        ): ("bad-message"),
        json.dumps({**envelope, "type": "clipboard", "text": "x" * (64 * 1024)}): "too-large",
    }
    parsed = await parse_in_page(page, list(cases))
    assert [p.get("code") for p in parsed] == list(cases.values()), parsed
    assert all(p["reason"] for p in parsed)
    # And what it cannot send, it refuses before sending.
    refused = await page.evaluate(
        """async () => {
          const m = await import('/app-messages.js');
          const codes = [];
          for (const data of [undefined, 10n, 'x'.repeat(70000)]) {
            try { m.customMessage(0, data); codes.push(null); } catch (error) { codes.push(error.code); }
          }
          return codes;
        }"""
    )
    assert refused == ["bad-message", "bad-message", "too-large"]
