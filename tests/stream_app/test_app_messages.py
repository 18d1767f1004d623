"""The app channel's messages (docs/protocol.md section 7): round trips and every refusal, without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream_app import app_messages as am


def page_text(**fields: Any) -> str:
    return json.dumps({"v": 1, "seq": 0, **fields})


@pytest.mark.parametrize(
    "message",
    [
        am.Message({"score": 3, "names": ["a", "ü"], "ok": True, "none": None}),
        am.Message("just text"),
        am.Message(None),
        am.ClipboardText("copied ✓\nline two"),
        am.Cursor("crosshair"),
        am.Cursor("default", visible=False),
        am.Rumble(index=2, duration=150, strong_magnitude=0.25, weak_magnitude=1),
        am.ChannelError("rate-limit", "over the rate", refused_seq=7, dropped=12),
        am.ChannelError("bad-json", "not JSON"),
    ],
)
def test_every_app_message_round_trips(message: am.AppToPage) -> None:
    text = am.serialize(message, 41)
    assert am.parse_from_app(text) == am.Received(41, message)
    assert json.loads(text)["v"] == 1


def test_the_page_sends_custom_messages_and_errors() -> None:
    assert am.parse_from_page(page_text(type="message", data={"a": [1, 2]})) == am.Received(
        0, am.Message({"a": [1, 2]})
    )
    refused = am.parse_from_page(page_text(type="error", code="unknown-type", reason="what is 'x'?", refusedSeq=3))
    assert refused == am.Received(0, am.ChannelError("unknown-type", "what is 'x'?", 3, 1))


def test_wire_names_follow_the_protocol() -> None:
    text = am.serialize(am.Rumble(1, 300, 0.5, 0.75), 0)
    assert json.loads(text) == {
        "v": 1,
        "seq": 0,
        "type": "rumble",
        "index": 1,
        "duration": 300,
        "strongMagnitude": 0.5,
        "weakMagnitude": 0.75,
    }
    assert json.loads(am.serialize(am.Cursor("text"), 5)) == {
        "v": 1,
        "seq": 5,
        "type": "cursor",
        "shape": "text",
        "visible": True,
    }


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        ("not json", "bad-json", "not UTF-8 JSON"),
        (b"\xff\xfe", "bad-json", "not UTF-8 JSON"),
        ("[" * 5000 + "]" * 5000, "bad-json", "not UTF-8 JSON"),
        ("[1, 2]", "bad-message", "must be a JSON object"),
        (json.dumps({"type": "message", "seq": 0, "data": 1}), "bad-message", "'v' is missing"),
        (json.dumps({"v": 2, "type": "message", "seq": 0, "data": 1}), "unsupported-version", "version 2"),
        (json.dumps({"v": True, "type": "message", "seq": 0, "data": 1}), "unsupported-version", "version True"),
        (json.dumps({"v": 1, "type": 5, "seq": 0, "data": 1}), "bad-message", "'type' must be a string"),
        (json.dumps({"v": 1, "type": "message", "data": 1}), "bad-message", "'seq' is missing"),
        (json.dumps({"v": 1, "type": "message", "seq": -1, "data": 1}), "bad-message", "'seq' must be >= 0"),
        (json.dumps({"v": 1, "type": "message", "seq": 1.5, "data": 1}), "bad-message", "'seq' must be an integer"),
        (page_text(type="message"), "bad-message", "'data' is missing"),
        (page_text(type="clipboard", text="x"), "unknown-type", "'clipboard' from the page"),
        (page_text(type="error", code="x"), "bad-message", "'reason' is missing"),
        (page_text(type="error", code="", reason="r"), "bad-message", "error code must be"),
        (page_text(type="error", code="x", reason="r", dropped=0), "bad-message", "'dropped' must be >= 1"),
        (page_text(type="message", data="x" * (64 * 1024)), "too-large", "at most 65536 are allowed"),
    ],
)
def test_every_refusal_of_a_page_message_has_a_code_and_reason(data: str | bytes, code: str, reason: str) -> None:
    with pytest.raises(am.AppMessageError) as caught:
        am.parse_from_page(data)
    assert caught.value.code == code and reason in caught.value.reason, caught.value


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (page_text(type="cursor", shape="banana", visible=True), "bad-message", "cursor shape must be one of"),
        (page_text(type="cursor", shape="text", visible=1), "bad-message", "visible must be true or false"),
        (page_text(type="cursor", shape="text"), "bad-message", "'visible' is missing"),
        (page_text(type="clipboard", text=5), "bad-message", "clipboard text must be a string"),
        (page_text(type="rumble", index=4, duration=1, strongMagnitude=1, weakMagnitude=1), "bad-message", "'index'"),
        (page_text(type="rumble", index=0, duration=0, strongMagnitude=1, weakMagnitude=1), "bad-message", "1-5000"),
        (page_text(type="rumble", index=0, duration=9, strongMagnitude=2, weakMagnitude=1), "bad-message", "0..1"),
        (page_text(type="rumble", index=0, duration=9, strongMagnitude=1, weakMagnitude="1"), "bad-message", "number"),
        (page_text(type="teleport"), "unknown-type", "'teleport' from the app"),
    ],
)
def test_every_refusal_of_an_app_message_has_a_code_and_reason(data: str, code: str, reason: str) -> None:
    with pytest.raises(am.AppMessageError) as caught:
        am.parse_from_app(data)
    assert caught.value.code == code and reason in caught.value.reason, caught.value


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: am.Message({1, 2}), "not JSON"),
        (lambda: am.Message(float("nan")), "not JSON"),
        (lambda: am.Message(object()), "not JSON"),
        (lambda: am.Cursor("hand"), "cursor shape must be one of default, pointer"),
        (lambda: am.Rumble(duration=6000), "'duration' must be 1-5000"),
        (lambda: am.ClipboardText(b"bytes"), "must be a string"),  # type: ignore[arg-type]
    ],
)
def test_the_app_cannot_make_an_unusable_message(make: Any, reason: str) -> None:
    with pytest.raises(am.AppMessageError) as caught:
        make()
    assert reason in caught.value.reason


def test_a_message_over_the_size_limit_cannot_be_serialized() -> None:
    fits = am.ClipboardText("x" * (am.MAX_MESSAGE_BYTES - 100))
    assert len(am.serialize(fits, 0).encode()) <= am.MAX_MESSAGE_BYTES
    with pytest.raises(am.AppMessageError) as caught:
        am.serialize(am.ClipboardText("é" * am.MAX_MESSAGE_BYTES), 0)  # two bytes each in UTF-8
    assert caught.value.code == "too-large"


def test_seq_of_reads_the_seq_of_an_otherwise_unusable_message() -> None:
    assert am.seq_of(page_text(type="teleport", seq=9)) == 9
    assert am.seq_of("not json") is None
