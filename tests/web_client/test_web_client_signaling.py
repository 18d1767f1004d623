"""The web client's signaling module (web_client/signaling.js) in the real Chromium, held against the
stream app's side of the same protocol (stream_app/signaling.py, docs/protocol.md section 3)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page
from support.browser import chromium

from stream_app import signaling
from web_client import STATIC_DIR

pytestmark = pytest.mark.browser


async def _static_site() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_static("/", STATIC_DIR)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of the web client's origin, to import its modules from (no page is opened)."""
    async for site in _static_site():
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{site}/signaling.js")
            yield page


async def _parse_in_page(page: Page, texts: list[str]) -> list[dict[str, Any]]:
    """What parseServerMessage makes of each text: the message, or the error's code and reason."""
    result: list[dict[str, Any]] = await page.evaluate(
        """async (texts) => {
          const { parseServerMessage, SignalingError } = await import('/signaling.js');
          return texts.map((text) => {
            try {
              return { message: parseServerMessage(text) };
            } catch (error) {
              if (!(error instanceof SignalingError)) throw error;
              return { code: error.code, reason: error.reason };
            }
          });
        }""",
        texts,
    )
    return result


async def test_the_messages_the_page_builds_are_what_the_stream_app_accepts(page: Page) -> None:
    texts = await page.evaluate(
        """async () => {
          const s = await import('/signaling.js');
          const candidate = new RTCIceCandidate(
            { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 });
          return [s.offerMessage('v=0\\r\\n'), s.candidateMessage(candidate), s.candidateMessage(null), s.byeMessage()];
        }"""
    )
    parsed = [signaling.parse_client_message(text) for text in texts]
    assert parsed == [
        signaling.Offer(sdp="v=0\r\n"),
        signaling.IceCandidate(candidate="candidate:1 1 udp 1 127.0.0.1 9 typ host", sdp_mid="0", sdp_mline_index=0),
        signaling.EndOfCandidates(),
        signaling.Bye(),
    ]


async def test_the_page_reads_every_message_the_stream_app_writes(page: Page) -> None:
    turn = {"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "u", "credential": "c"}
    report = signaling.MediaReport(
        codec="H264", width=1280, height=720, fps=59.5, max_fps=60, target_kbps=4000, estimate_kbps=5000,
        pacing_kbps=6000, acknowledged_kbps=3900, limited_by="delay", delay_state="normal", loss_percent=0.5,
        rtt_ms=1.25, pacer_queue_ms=3.0, frames_skipped=2, retransmissions=7, keyframes=1, transport_cc=True,
    )  # fmt: skip
    texts = [
        signaling.serialize(signaling.Hello("s1", [turn], resumed=True, ice_transport_policy="relay")),
        signaling.serialize(signaling.Answer("v=0")),
        signaling.serialize(signaling.Error("bad-sdp", "no video")),
        signaling.serialize(report),
    ]
    hello, answer, error, media = (entry["message"] for entry in await _parse_in_page(page, texts))
    assert hello == {
        "type": "hello", "sessionId": "s1", "iceServers": [turn], "resumed": True, "iceTransportPolicy": "relay",
    }  # fmt: skip
    assert answer == {"type": "answer", "sdp": "v=0"}
    assert error == {"type": "error", "code": "bad-sdp", "reason": "no video"}
    sent = json.loads(texts[3])
    assert media == {key: value for key, value in sent.items() if key != "v"}


async def test_a_hello_of_the_first_version_of_the_protocol_gets_the_defaults(page: Page) -> None:
    [entry] = await _parse_in_page(page, [json.dumps({"v": 1, "type": "hello", "sessionId": "s", "iceServers": []})])
    assert entry["message"]["resumed"] is False and entry["message"]["iceTransportPolicy"] == "all"


# Text from the server, the error code the page gives it, and words of the reason.
UNUSABLE = [
    ("not json", "bad-json", "message is not JSON"),
    ("[1]", "bad-message", "message must be a JSON object"),
    ('{"v": 2, "type": "hello"}', "unsupported-version", "protocol version 2 is not supported"),
    ('{"type": "hello"}', "bad-message", "field 'v' is missing"),
    ('{"v": 1, "type": "welcome"}', "unknown-type", "unknown message type 'welcome'"),
    ('{"v": 1, "type": "answer"}', "bad-message", "field 'sdp' is missing"),
    ('{"v": 1, "type": "answer", "sdp": 5}', "bad-message", "field 'sdp' must be string, not number"),
    ('{"v": 1, "type": "hello", "sessionId": "s", "iceServers": {}}', "bad-message", "'iceServers' must be array"),
    ('{"v": 1, "type": "hello", "sessionId": "s", "iceServers": [{"urls": [3]}]}', "bad-message", "urls must be"),
    ('{"v": 1, "type": "media", "codec": "H264"}', "bad-message", "field 'width' is missing"),
    ('{"v": 1, "type": "answer", "sdp": "' + "x" * 70_000 + '"}', "too-large", "larger than 65536 bytes"),
]


async def test_a_message_the_page_cannot_use_is_refused_with_its_reason(page: Page) -> None:
    # One page for every case: a browser per case would cost more than the cases.
    entries = await _parse_in_page(page, [text for text, _, _ in UNUSABLE])
    for (text, code, reason), entry in zip(UNUSABLE, entries, strict=True):
        assert entry.get("code") == code, (text[:80], entry)
        assert reason in entry["reason"], (text[:80], entry)


async def test_sign_in_carries_the_token_and_resume_as_subprotocol_items(page: Page) -> None:
    lists = await page.evaluate(
        """async () => {
          const { signInProtocols } = await import('/signaling.js');
          return [signInProtocols('abc', false), signInProtocols('abc', true)];
        }"""
    )
    assert lists == [["nvcf-stream-v1", "token.abc"], ["nvcf-stream-v1", "token.abc", "resume"]]
