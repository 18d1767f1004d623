"""The app channel through a real stream app and a scripted aiortc client (docs/protocol.md section 7).

The app sends with its own API (`send`, `set_clipboard`, `set_cursor`, `rumble`); the client's
custom messages reach `on_message`; bad, oversize and excess messages are refused with an `error`
to the client and the session goes on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from support.recording_app import RecordingApp
from support.scripted_client import ScriptedSession, open_session
from support.stream_app_harness import RunningStreamApp, running_stream_app

from stream_app import app_messages as am
from stream_app.app_channel import NOT_SENT_RATE_LIMIT
from stream_app.config import StreamAppConfig

MESSAGE_BURST = StreamAppConfig.message_burst


@asynccontextmanager
async def session_with_app_channel(
    http: aiohttp.ClientSession, **settings: Any
) -> AsyncIterator[tuple[RunningStreamApp, RecordingApp, ScriptedSession]]:
    apps: list[RecordingApp] = []

    def factory(config: StreamAppConfig) -> RecordingApp:
        apps.append(RecordingApp(config))
        return apps[-1]

    async with running_stream_app(app_factory=factory, **settings) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True, app_channel=True)
        try:
            await session.channels_open()
            yield app, apps[0], session
        finally:
            await session.close()


def received(texts: list[str]) -> list[am.Received]:
    return [am.parse_from_app(text) for text in texts]


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_apps_messages_reach_the_client_in_order(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http) as (_, recorder, session):
        assert recorder.send({"score": 1, "names": ["ü"]}) is True
        assert recorder.set_clipboard("copied text") is True
        assert recorder.set_cursor("crosshair") is True
        assert recorder.set_cursor("crosshair") is True  # already shown: not sent again
        assert recorder.set_cursor("text", visible=False) is True
        assert recorder.rumble(index=1, duration=120, strong=0.5, weak=0.25) is True
        texts = await session.wait_for_app_messages(5)
    assert received(texts) == [
        am.Received(0, am.Message({"score": 1, "names": ["ü"]})),
        am.Received(1, am.ClipboardText("copied text")),
        am.Received(2, am.Cursor("crosshair")),
        am.Received(3, am.Cursor("text", visible=False)),
        am.Received(4, am.Rumble(1, 120, 0.5, 0.25)),
    ]


async def test_messages_sent_before_the_channel_opens_arrive_when_it_does(http: aiohttp.ClientSession) -> None:
    class Greeter(RecordingApp):
        def on_session_started(self, info: Any) -> None:
            super().on_session_started(info)
            # At the sign-in: the client has not even offered its channel yet.
            self.send({"hello": info.id})

    async with running_stream_app(app_factory=Greeter) as app:
        session = await open_session(http, app.sign_in_url, app_channel=True)
        try:
            texts = await session.wait_for_app_messages(1)
        finally:
            await session.close()
    assert received(texts) == [am.Received(0, am.Message({"hello": session.hello["sessionId"]}))]


async def test_the_clients_messages_reach_on_message_in_order_with_input(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http) as (_, recorder, session):
        session.send_app(data={"action": "save", "slot": 2})
        session.send_input("key", action="down", code="KeyA", key="a", mods=0, repeat=False)
        session.send_app(data=["second", None])
        await recorder.wait_for("message", 2)
        await recorder.wait_for("input")
    assert [e for e in recorder.events if e[0] == "message"] == [
        ("message", {"action": "save", "slot": 2}),
        ("message", ["second", None]),
    ]
    names = [name for name in recorder.names() if name in ("message", "input")]
    # The last: the key, still down when the client closed, released for it (nothing stays pressed).
    assert names == ["message", "input", "message", "input"]
    inputs = [event[1] for event in recorder.events if event[0] == "input"]
    assert [(e.code, e.action) for e in inputs] == [("KeyA", "down"), ("KeyA", "up")]


async def test_bad_and_oversize_messages_get_an_error_and_the_session_goes_on(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http) as (app, recorder, session):
        session.send_raw("app", "not json")
        session.send_app("teleport", to="mars")
        session.send_app(data="x" * (70 * 1024))
        session.send_raw("app", json.dumps({"v": 9, "type": "message", "seq": 5, "data": 1}))
        session.send_app(data="after all that")
        await recorder.wait_for("message")
        texts = await session.wait_for_app_messages(4)
        assert len(await session.latencies(3)) == 3  # video still flows
        current = app.state.slot.current
        assert current is not None and not current.ended
        refused = dict(current.app_counters.refused)
    errors = [r.message for r in received(texts)]
    assert [(e.code, e.refused_seq) for e in errors if isinstance(e, am.ChannelError)] == [
        ("bad-json", None),
        ("unknown-type", 0),
        ("too-large", None),
        ("unsupported-version", None),
    ]
    assert "'teleport' from the page" in errors[1].reason  # type: ignore[union-attr]
    assert refused == {"bad-json": 1, "unknown-type": 1, "too-large": 1, "unsupported-version": 1}
    assert [e for e in recorder.events if e[0] == "message"] == [("message", "after all that")]


async def test_a_flood_is_cut_to_the_rate_and_told_in_few_errors(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http, message_rate=50.0, message_burst=100) as (app, recorder, session):
        current = app.state.slot.current
        assert current is not None
        counters = current.app_counters
        for number in range(1000):
            session.send_app(data=number)
        await wait_until(lambda: counters.received + counters.refused["rate-limit"] == 1000)
        # The burst plus what the rate refilled while the flood arrived.
        assert 100 <= counters.received < 200, counters
        # Every refusal is told to the client, in at most one error a second (the last one held
        # back for up to a second), each saying how many it stands for.
        await wait_until(
            lambda: (
                sum(r.message.dropped for r in received(session.app_messages) if isinstance(r.message, am.ChannelError))
                == counters.refused["rate-limit"]
            ),
            timeout=5,
        )
        errors = [r.message for r in received(session.app_messages)]
        assert 1 <= len(errors) <= 4 and all(
            isinstance(e, am.ChannelError) and e.code == "rate-limit" for e in errors
        ), errors
        assert len(await session.latencies(3)) == 3
        await asyncio.sleep(0.5)  # the bucket refills: messages flow again
        session.send_app(data="after the flood")
        await wait_until(lambda: ("message", "after the flood") in recorder.events)
        assert not current.ended


async def test_the_app_is_told_what_it_cannot_send(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http) as (app, recorder, session):
        with pytest.raises(am.AppMessageError, match="not JSON"):
            recorder.send({"a set": {1, 2}})
        with pytest.raises(am.AppMessageError, match="cursor shape must be one of"):
            recorder.set_cursor("hand")
        with pytest.raises(am.AppMessageError) as caught:
            recorder.send("x" * am.MAX_MESSAGE_BYTES)
        assert caught.value.code == "too-large"
        sent = [recorder.send(n) for n in range(MESSAGE_BURST + 50)]
        current = app.state.slot.current
        assert current is not None
        assert sent.count(True) >= MESSAGE_BURST and sent[-1] is False
        assert current.app_counters.not_sent[NOT_SENT_RATE_LIMIT] == sent.count(False)
        await session.wait_for_app_messages(sent.count(True))
    # No session: nothing to send to, said with False, and a bad message still raises.
    await app.state.slot.session_over.wait()
    assert recorder.send("anyone?") is False
    with pytest.raises(am.AppMessageError):
        recorder.rumble(duration=0)


async def test_the_cursor_is_shown_again_after_a_resume(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http, resume_window=10.0) as (app, recorder, session):
        recorder.set_cursor("grab")
        await session.wait_for_app_messages(1)
        await session.drop()
        await recorder.wait_for("lost")
        recorder.send("while you were away")
        again = await open_session(http, app.sign_in_url, app_channel=True)
        try:
            assert again.hello["resumed"] is True
            texts = await again.wait_for_app_messages(2)
        finally:
            await again.close()
    assert [r.message for r in received(texts)] == [am.Cursor("grab"), am.Message("while you were away")]


async def test_page_messages_keep_the_session_from_idling_out(http: aiohttp.ClientSession) -> None:
    async with session_with_app_channel(http, idle_timeout=1.0) as (_, recorder, session):
        for number in range(5):  # 2 s of page messages, longer than the idle timeout
            session.send_app(data=number)
            await asyncio.sleep(0.4)
        assert "ended" not in recorder.names()
        await recorder.wait_for("ended", timeout=5)  # silence: the timeout ends it
    assert recorder.events[-1][2] == "idle timeout"
    assert [e[1] for e in recorder.events if e[0] == "message"] == list(range(5))
