"""The input protocol's pure parser, staleness rule and rate limiter (docs/protocol.md section 5)."""

import json
import logging
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app import input_protocol as ip
from stream_app.input_protocol import InputError, parse


def msg(kind: str, seq: int = 0, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": kind, "seq": seq, "t": 1700000000000.5, **fields})


def msg2(kind: str, seq: int = 0, **fields: Any) -> str:
    return json.dumps({"v": 2, "type": kind, "seq": seq, "t": 1700000000000.5, **fields})


KEY = {"action": "down", "code": "KeyA", "key": "a", "mods": 0, "repeat": False}


def test_parses_every_type_into_its_event() -> None:
    assert parse("input", msg("key", 3, **KEY)) == ip.KeyEvent(3, 1700000000000.5, "down", "KeyA", "a", 0, False)
    assert parse("input-motion", msg("mouse_move", x=0.25, y=1, buttons=1)) == ip.MouseMove(
        0, 1700000000000.5, 0.25, 1.0, 1
    )
    assert parse("input-motion", msg("mouse_motion", dx=-3, dy=4.5, buttons=0)).dx == -3.0
    assert parse("input", msg("mouse_button", action="up", button=2, x=0, y=0.5, mods=3)).button == 2
    assert parse("input", msg("wheel", dx=0, dy=-120, mods=0)).dy == -120.0
    touch = parse("input", msg("touch", phase="start", touches=[{"id": 7, "x": 0.1, "y": 0.2}]))
    assert touch == ip.Touch(0, 1700000000000.5, "start", (ip.TouchPoint(7, 0.1, 0.2),))
    assert isinstance(parse("input-motion", msg("touch", phase="move", touches=[])), ip.Touch)
    pad = parse("input", msg("gamepad", index=1, connected=True, id="pad", buttons=[0, 1, 0.5], axes=[-1, 0.25]))
    assert pad == ip.Gamepad(0, 1700000000000.5, 1, True, "pad", (0.0, 1.0, 0.5), (-1.0, 0.25))
    assert parse("input", msg("clipboard", text="héllo")).text == "héllo"
    assert parse("input", msg("resize", width=1920, height=1080)) == ip.Resize(
        0, 1700000000000.5, 1920, 1080, css_width=1920, css_height=1080, dpr=1.0
    )
    assert parse("input", msg("key", **KEY).encode()).code == "KeyA"


def test_version_2_adds_text_pinch_and_the_css_size_of_resize() -> None:
    assert parse("input", msg2("key", **KEY)) == ip.KeyEvent(0, 1700000000000.5, "down", "KeyA", "a", 0, False)
    assert parse("input", msg2("text", 4, text="é")) == ip.Text(4, 1700000000000.5, "é")
    # Composed text from an input method, emoji outside the BMP, a non-breaking space: all text.
    assert parse("input", msg2("text", text="日本語 👍\u00a0")).text == "日本語 👍\u00a0"
    assert parse("input", msg2("text", text="x" * 256)).text == "x" * 256
    assert parse("input", msg2("pinch", phase="move", scale=1.5, x=0.25, y=0.75)) == ip.Pinch(
        0, 1700000000000.5, "move", 1.5, 0.25, 0.75
    )
    assert parse("input", msg2("resize", width=2000, height=1400, css_width=1000, css_height=700, dpr=2)) == ip.Resize(
        0, 1700000000000.5, 2000, 1400, css_width=1000, css_height=700, dpr=2.0
    )
    assert parse("input", msg2("resize", width=1500, height=1050, css_width=1000, css_height=700, dpr=1.5)).dpr == 1.5


@pytest.mark.parametrize(
    ("channel", "text", "reason"),
    [
        ("input", "not json", "not UTF-8 JSON"),
        ("input", b"\xff\xfe", "not UTF-8 JSON"),
        ("input", "[1]", "JSON object"),
        ("input", json.dumps({"type": "key", "seq": 0, "t": 0}), "'v' is missing"),
        ("input", json.dumps({"v": 9, "type": "key", "seq": 0, "t": 0}), "version 9"),
        ("input", msg("launch"), "unknown message type 'launch'"),
        ("input", json.dumps({"v": 1, "type": 5, "seq": 0, "t": 0}), "'type' must be a string"),
        ("input", msg("key", -1, **KEY), "'seq' must be >= 0"),
        ("input", json.dumps({"v": 1, "type": "key", "seq": 0, "t": "now", **KEY}), "'t' must be a number"),
        ("input", msg("key", **{**KEY, "action": "press"}), "'action' must be one of"),
        ("input", msg("key", **{**KEY, "code": ""}), "'code' must be 1-32"),
        ("input", msg("key", **{**KEY, "key": "x" * 33}), "'key' must be 1-32"),
        ("input", msg("key", **{**KEY, "mods": 16}), "'mods' must be 0-15"),
        ("input", msg("key", **{**KEY, "mods": True}), "'mods' must be an integer"),
        ("input", msg("key", **{**KEY, "repeat": 0}), "'repeat' must be true or false"),
        ("input-motion", msg("mouse_move", x=1.01, y=0, buttons=0), "'x' must be 0..1"),
        ("input-motion", msg("mouse_move", x=0, y=0, buttons=32), "'buttons' must be 0-31"),
        ("input-motion", msg("mouse_motion", dx=10001, dy=0, buttons=0), "'dx' must be"),
        ("input", msg("mouse_button", action="down", button=5, x=0, y=0, mods=0), "'button' must be 0-4"),
        ("input", msg("wheel", dx=0, dy=1e300, mods=0), "'dy' must be"),
        ("input", msg("touch", phase="start", touches=[{"id": 0, "x": 0, "y": 0}] * 11), "at most 10"),
        ("input", msg("touch", phase="start", touches=[5]), "must be an object"),
        ("input", msg("touch", phase="start", touches=[{"id": -1, "x": 0, "y": 0}]), "'id' must be >= 0"),
        ("input", msg("gamepad", index=4, connected=True, id="", buttons=[], axes=[]), "'index' must be 0-3"),
        ("input", msg("gamepad", index=0, connected=True, id="", buttons=[1.5], axes=[]), "'buttons' must be 0..1"),
        ("input", msg("gamepad", index=0, connected=True, id="", buttons=[0] * 33, axes=[]), "at most 32"),
        ("input", msg("gamepad", index=0, connected=True, id="", buttons=[], axes=[0] * 17), "at most 16"),
        ("input", msg("gamepad", index=0, connected=True, id="x" * 129, buttons=[], axes=[]), "'id' must be 0-128"),
        ("input", msg("clipboard", text="x" * 8193), "'text' must be 0-8192"),
        ("input", msg("resize", width=63, height=100), "'width' must be 64-7680"),
        ("input", msg("resize", width=100, height=4321), "'height' must be 64-4320"),
        ("input", msg("key", **KEY) + " " * 16384, "at most 16384"),
        ("input", json.dumps({"v": 3, "type": "key", "seq": 0, "t": 0}), "this app speaks 1, 2"),
        # Version 2's additions, each refusal with its reason.
        ("input", msg("text", text="a"), "'text' needs input protocol version 2, not 1"),
        ("input", msg("pinch", phase="start", scale=1, x=0, y=0), "'pinch' needs input protocol version 2"),
        ("input", msg2("text", text=""), "'text' must be 1-256"),
        ("input", msg2("text", text="x" * 257), "'text' must be 1-256"),
        ("input", msg2("text", text=5), "'text' must be a string"),
        ("input", msg2("text", text="a\rb"), "control character U+000D"),
        ("input", msg2("text", text="\x7f"), "control character U+007F"),
        ("input", msg2("text", text="\x85"), "control character U+0085"),
        ("input-motion", msg2("text", text="a"), "belongs on channel 'input'"),
        ("input", msg2("pinch", phase="twist", scale=1, x=0, y=0), "'phase' must be one of start, move, end"),
        ("input", msg2("pinch", phase="move", scale=0, x=0, y=0), "'scale' must be 0.01..100"),
        ("input", msg2("pinch", phase="move", scale=101, x=0, y=0), "'scale' must be 0.01..100"),
        ("input", msg2("pinch", phase="move", scale=1, x=2, y=0), "'x' must be 0..1"),
        ("input-motion", msg2("pinch", phase="move", scale=1, x=0, y=0), "belongs on channel 'input'"),
        ("input", msg2("resize", width=200, height=100), "'css_width' is missing"),
        ("input", msg2("resize", width=200, height=100, css_width=100, css_height=50), "'dpr' is missing"),
        ("input", msg2("resize", width=200, height=100, css_width=15, css_height=50, dpr=2), "'css_width' must be"),
        ("input", msg2("resize", width=200, height=100, css_width=100, css_height=16385, dpr=2), "'css_height'"),
        ("input", msg2("resize", width=200, height=100, css_width=100, css_height=50, dpr=0.2), "'dpr' must be 0.25"),
        ("input", msg2("resize", width=200, height=100, css_width=100, css_height=50, dpr=9), "'dpr' must be 0.25..8"),
        ("input", msg2("resize", width=200, height=100, css_width=100, css_height=50, dpr="2"), "'dpr' must be a num"),
        ("input", json.dumps({"v": 1, "type": "key", "seq": 0, "t": 10**400, **KEY}), "'t'"),
        ("input", "[" * 100000 + "]" * 100000, "at most 16384"),
        ("input", "[" * 5000 + "]" * 5000, "JSON"),
        # Each type on its own channel only.
        ("input", msg("mouse_move", x=0, y=0, buttons=0), "belongs on channel 'input-motion'"),
        ("input-motion", msg("key", **KEY), "belongs on channel 'input'"),
        ("input-motion", msg("touch", phase="start", touches=[]), "belongs on channel 'input'"),
        ("input", msg("touch", phase="move", touches=[]), "belongs on channel 'input-motion'"),
        ("chat", msg("key", **KEY), "unknown input channel 'chat'"),
    ],
)
def test_bad_messages_raise_input_error_with_a_reason(channel: str, text: str | bytes, reason: str) -> None:
    with pytest.raises(InputError) as info:
        parse(channel, text)
    assert reason in info.value.reason


@settings(max_examples=300, deadline=None)
@given(channel=st.sampled_from(["input", "input-motion", "other"]), data=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_nothing_but_input_error(channel: str, data: bytes) -> None:
    try:
        parse(channel, data)
    except InputError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
_field_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | st.lists(_json)


@settings(max_examples=500, deadline=None)
@given(
    channel=st.sampled_from(["input", "input-motion"]),
    kind=st.sampled_from(
        [
            *("key", "mouse_move", "mouse_motion", "mouse_button", "wheel", "touch", "gamepad", "clipboard"),
            *("resize", "text", "pinch", "x"),
        ]
    ),
    version=st.sampled_from([1, 2]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                *("action", "code", "key", "mods", "repeat", "x", "y", "dx", "dy", "buttons", "button", "phase"),
                *("touches", "index", "connected", "id", "axes", "text", "width", "height", "seq", "t"),
                *("css_width", "css_height", "dpr", "scale"),
            ]
        ),
        _field_values,
    ),
)
def test_well_formed_json_with_arbitrary_fields_raises_nothing_but_input_error(
    channel: str, kind: str, version: int, fields: dict[str, Any]
) -> None:
    text = json.dumps({"v": version, "type": kind, "seq": 0, "t": 0, **fields})
    try:
        parse(channel, text)
    except InputError:
        pass


def test_motion_order_drops_messages_older_than_the_last_applied() -> None:
    order = ip.MotionOrder()
    assert [order.accept(seq) for seq in (0, 2, 1, 2, 3, 10, 9)] == [True, True, False, False, True, True, False]


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = ip.TokenBucket(rate=10, burst=5, clock=lambda: now[0])
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] = 0.25  # 2.5 tokens back
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 100.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 5


def test_token_bucket_tolerates_a_clock_that_steps_back() -> None:
    now = [5.0]
    bucket = ip.TokenBucket(rate=1, burst=1, clock=lambda: now[0])
    assert bucket.take()
    now[0] = 1.0
    assert not bucket.take()


def test_an_accepted_message_is_logged_at_debug_for_the_latency_benchmark(caplog: pytest.LogCaptureFixture) -> None:
    from benchmarks.input_latency import APP_LINE, APP_LOG_MARKER
    from stream_app.input_receiver import InputCounters, InputReceiver

    receiver = InputReceiver("s1", InputCounters(), rate=100, burst=100)
    receiver.receive("input", msg("key", 7, **KEY))  # INFO level: no line, and no cost
    assert "input applied" not in caplog.text
    caplog.set_level(logging.DEBUG, logger="stream_app.input_receiver")
    before = time.time() * 1000
    receiver.receive("input-motion", msg("mouse_move", 4, x=0.5, y=0.5, buttons=0))
    receiver.receive("input", "not json")  # dropped: no "applied" line
    [line] = [r.getMessage() for r in caplog.records if "input applied" in r.getMessage()]
    assert line.startswith("input applied type=mouse_move seq=4 t=1700000000000.500 recv=")
    assert APP_LOG_MARKER in line
    found = APP_LINE.search(line)
    assert found and found["seq"] == "4" and float(found["t"]) == 1700000000000.5
    assert before <= float(found["recv"]) <= time.time() * 1000 + 1
