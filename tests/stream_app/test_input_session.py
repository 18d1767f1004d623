"""Input over the session's data channels, from a scripted WebRTC client to the app's handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from support.recording_app import RecordingApp
from support.scripted_client import ScriptedSession, open_session
from support.stream_app_harness import RunningStreamApp, running_stream_app

from stream_app import input_protocol as ip
from stream_app.config import StreamAppConfig


@asynccontextmanager
async def session_with_input(
    http: aiohttp.ClientSession, **settings: Any
) -> AsyncIterator[tuple[RunningStreamApp, RecordingApp, ScriptedSession]]:
    apps: list[RecordingApp] = []

    def factory(config: StreamAppConfig) -> RecordingApp:
        apps.append(RecordingApp(config))
        return apps[-1]

    async with running_stream_app(app_factory=factory, **settings) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True)
        try:
            await session.channels_open()
            yield app, apps[0], session
        finally:
            await session.close()


async def test_every_input_type_reaches_the_app_as_its_typed_event(http: aiohttp.ClientSession) -> None:
    async with session_with_input(http) as (_, recorder, session):
        session.send_input("key", action="down", code="ArrowLeft", key="ArrowLeft", mods=ip.SHIFT, repeat=False)
        session.send_input("mouse_button", action="down", button=0, x=0.5, y=0.25, mods=0)
        session.send_input("wheel", dx=0, dy=120, mods=0)
        session.send_input("touch", phase="start", touches=[{"id": 1, "x": 0.1, "y": 0.9}])
        session.send_input("gamepad", index=0, connected=True, id="pad", buttons=[1, 0], axes=[0.5, -0.5])
        session.send_input("clipboard", text="hello")
        session.send_input("resize", width=1024, height=576)
        await recorder.wait_for("resize")
        session.send_input("mouse_move", x=0.75, y=0.5, buttons=1)
        session.send_input("mouse_motion", dx=3, dy=-4, buttons=0)
        deadline = time.monotonic() + 5
        while len(recorder.inputs()) < 9 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    kinds = [type(event) for event in recorder.inputs()]
    assert kinds[:7] == [ip.KeyEvent, ip.MouseButton, ip.Wheel, ip.Touch, ip.Gamepad, ip.Clipboard, ip.Resize]
    assert set(kinds[7:9]) == {ip.MouseMove, ip.MouseMotion}
    # The key and the button still down were released when the client left.
    assert kinds[9:] == [ip.KeyEvent, ip.MouseButton]
    key = recorder.inputs()[0]
    assert isinstance(key, ip.KeyEvent) and key.code == "ArrowLeft" and key.mods == ip.SHIFT
    assert ("resize", ip.Resize(6, recorder.inputs()[6].t, 1024, 576, 1024, 576, 1.0)) in recorder.events


async def test_bad_input_messages_are_dropped_and_the_session_goes_on(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stream_app.input_receiver")
    async with session_with_input(http) as (app, recorder, session):
        bad: list[tuple[str, str | bytes]] = [
            ("input", "not json"),
            ("input", b"\xff\x00"),
            ("input", json.dumps({"v": 1, "type": "launch", "seq": 0, "t": 0})),
            ("input", json.dumps({"v": 1, "type": "key", "seq": 0, "t": 0, "action": "down"})),
            ("input", "x" * 20000),
            ("input-motion", json.dumps({"v": 1, "type": "key", "seq": 0, "t": 0})),
        ]
        for channel, data in bad:
            session.send_raw(channel, data)
        session.send_input("key", action="down", code="KeyB", key="b", mods=0, repeat=False)
        await recorder.wait_for("input")
        assert len(await session.latencies(3)) == 3
        current = app.state.slot.current
        assert current is not None
        assert current.input_counters.dropped["invalid"] == len(bad)
        assert current.input_counters.accepted == 1
    event = recorder.inputs()[0]
    assert isinstance(event, ip.KeyEvent) and event.code == "KeyB" and event.action == "down"
    # Logged with the reason, but not once per message: one line a second per kind.
    drops = [r.getMessage() for r in caplog.records if "dropped an input message" in r.getMessage()]
    assert drops and "message is not UTF-8 JSON" in drops[0] and len(drops) < len(bad)


async def test_stale_motion_is_dropped(http: aiohttp.ClientSession) -> None:
    async with session_with_input(http) as (app, recorder, session):
        for seq in (5, 3, 6):
            session.send_raw(
                "input-motion",
                json.dumps({"v": 1, "type": "mouse_move", "seq": seq, "t": 0, "x": 0, "y": 0, "buttons": 0}),
            )
        session.send_input("clipboard", text="done")
        await recorder.wait_for("input", 2)
        await asyncio.sleep(0.2)
        current = app.state.slot.current
        assert current is not None
    assert [e.seq for e in recorder.inputs() if isinstance(e, ip.MouseMove)] == [5, 6]
    assert current.input_counters.dropped["stale"] == 1


async def test_the_rate_limit_drops_a_flood_and_the_session_goes_on(http: aiohttp.ClientSession) -> None:
    async with session_with_input(http, input_rate=50.0, input_burst=100) as (app, recorder, session):
        flooded = time.monotonic()
        for _ in range(1000):
            session.send_input("wheel", dx=0, dy=1, mods=0)
        deadline = time.monotonic() + 10
        current = app.state.slot.current
        assert current is not None
        counters = current.input_counters
        while counters.accepted + counters.dropped["rate-limit"] < 1000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        arrived_within = time.monotonic() - flooded
        assert counters.accepted + counters.dropped["rate-limit"] == 1000
        # The burst plus what the rate refilled while the flood arrived (about a second; longer on a
        # busy machine, so the bound is what 50/s refills over the time it actually took).
        assert 100 <= counters.accepted <= 100 + 50 * arrived_within + 1, (counters, arrived_within)
        assert len(await session.latencies(3)) == 3
        await asyncio.sleep(0.5)  # the bucket refills; input flows again
        session.send_input("clipboard", text="after the flood")
        deadline = time.monotonic() + 5
        while not any(isinstance(e, ip.Clipboard) for e in recorder.inputs()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(("leave", "then"), [("drop", "lost"), ("close", "ended")])
async def test_keys_and_buttons_still_down_are_released_when_the_client_goes(
    http: aiohttp.ClientSession, leave: str, then: str
) -> None:
    async with session_with_input(http, resume_window=5.0) as (_, recorder, session):
        session.send_input("key", action="down", code="KeyW", key="w", mods=0, repeat=False)
        session.send_input("key", action="down", code="KeyW", key="w", mods=0, repeat=True)
        session.send_input("key", action="down", code="KeyE", key="e", mods=0, repeat=False)
        session.send_input("key", action="up", code="KeyE", key="e", mods=0, repeat=False)
        session.send_input("mouse_button", action="down", button=0, x=0.5, y=0.25, mods=0)
        while len(recorder.inputs()) < 5:
            await asyncio.sleep(0.02)
        await getattr(session, leave)()
        await recorder.wait_for(then)
    after = recorder.events[[e[0] for e in recorder.events].index("input") + 5 :]
    ups = [(type(e[1]).__name__, e[1].action) for e in after if e[0] == "input"]
    assert ups == [("KeyEvent", "up"), ("MouseButton", "up")]
    released = [e[1] for e in after if e[0] == "input"]
    assert isinstance(released[0], ip.KeyEvent) and released[0].code == "KeyW"
    assert isinstance(released[1], ip.MouseButton) and released[1].button == 0
    # The releases come before the app hears the client is gone.
    assert [e[0] for e in after].index(then) > [e[0] for e in after].index("input")


async def test_version_2_text_pinch_and_resize_reach_the_app(http: aiohttp.ClientSession) -> None:
    async with session_with_input(http) as (_, recorder, session):
        for seq, fields in enumerate(
            [
                {"type": "text", "text": "日本 é"},
                {"type": "pinch", "phase": "start", "scale": 1.25, "x": 0.5, "y": 0.5},
                {"type": "resize", "width": 2000, "height": 1400, "css_width": 1000, "css_height": 700, "dpr": 2},
            ]
        ):
            session.send_raw("input", json.dumps({"v": 2, "seq": seq, "t": time.time() * 1000, **fields}))
        await recorder.wait_for("resize")
    text, pinch, resize = recorder.inputs()
    assert isinstance(text, ip.Text) and text.text == "日本 é"
    assert isinstance(pinch, ip.Pinch) and pinch.scale == 1.25
    assert isinstance(resize, ip.Resize) and (resize.width, resize.css_width, resize.dpr) == (2000, 1000, 2.0)
