"""Session lifecycle (docs/protocol.md section 6): readiness, resume window, bye, endsession, idle timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support.recording_app import RecordingApp
from support.scripted_client import negotiate, open_session, sign_in
from support.stream_app_harness import RunningStreamApp, running_stream_app

from stream_app.app import PatternApp
from stream_app.app_state import StreamAppState
from stream_app.config import StreamAppConfig
from stream_app.control import make_control_app


@asynccontextmanager
async def recording(**settings: Any) -> AsyncIterator[tuple[RunningStreamApp, RecordingApp]]:
    apps: list[RecordingApp] = []

    def factory(config: StreamAppConfig) -> RecordingApp:
        apps.append(RecordingApp(config))
        return apps[-1]

    async with running_stream_app(app_factory=factory, **settings) as running:
        yield running, apps[0]


async def ready_status(http: aiohttp.ClientSession, app: RunningStreamApp) -> int:
    async with http.get(f"{app.control_url}/v1/streaming/ready") as response:
        return response.status


async def wait_ready(http: aiohttp.ClientSession, app: RunningStreamApp, status: int, timeout: float = 5) -> float:
    """Wait until ready answers `status`; returns how long that took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await ready_status(http, app) == status:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"ready never answered {status}")


async def close_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10) -> tuple[int, str]:
    """Skip messages until the server's close; its code and reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=deadline - time.monotonic())
        if msg.type is aiohttp.WSMsgType.CLOSE:
            return int(msg.data), str(msg.extra or "")
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return int(ws.close_code or 0), str(msg.extra or "")
    raise AssertionError("the server never closed the WebSocket")


async def test_a_sign_in_within_the_resume_window_resumes_the_same_session(http: aiohttp.ClientSession) -> None:
    async with recording(resume_window=5.0) as (app, recorder):
        first = await open_session(http, app.sign_in_url)
        await first.latencies(2)
        await first.drop()
        await recorder.wait_for("lost")
        assert await ready_status(http, app) == 500  # still busy: waiting for the client
        ws, hello = await sign_in(http, app.sign_in_url)
        assert hello["resumed"] is True and hello["sessionId"] == first.hello["sessionId"]
        second = await negotiate(ws, hello)
        try:
            assert len(await second.latencies(5)) == 5  # a fresh peer connection carries the media
            await recorder.wait_for("resumed")
        finally:
            await second.close()
        await recorder.wait_for("ended")
    assert recorder.names() == ["started", "lost", "resumed", "ended"]
    assert recorder.events[2][1].resumed is True
    assert recorder.events[3][2] == "ended by client"


async def test_the_session_ends_when_the_resume_window_runs_out(http: aiohttp.ClientSession) -> None:
    async with recording(resume_window=0.5) as (app, recorder):
        first = await open_session(http, app.sign_in_url)
        await first.drop()
        waited = await wait_ready(http, app, 200)
        assert 0.2 < waited < 5
        assert recorder.events[-1][2] == "resume window expired"
        ws, hello = await sign_in(http, app.sign_in_url)
        await ws.close()
    assert hello["resumed"] is False and hello["sessionId"] != first.hello["sessionId"]


async def test_a_second_sign_in_during_a_connected_session_is_refused_not_resumed(
    http: aiohttp.ClientSession,
) -> None:
    async with recording(resume_window=5.0) as (app, _):
        first, _hello = await sign_in(http, app.sign_in_url)
        second = await http.ws_connect(app.sign_in_url)
        assert (await close_frame(second))[0] == 1013
        await first.close()


async def test_bye_ends_the_session_for_good_with_1000(http: aiohttp.ClientSession) -> None:
    async with recording(resume_window=30.0) as (app, recorder):
        session = await open_session(http, app.sign_in_url)
        await session.bye()
        assert await close_frame(session.ws) == (1000, "ended by client")
        await session.pc.close()
        assert await wait_ready(http, app, 200) < 3
    assert recorder.names() == ["started", "ended"]


async def endsession(http: aiohttp.ClientSession, app: RunningStreamApp, body: object = None) -> tuple[int, Any]:
    """``POST /v1/streaming/endsession`` as NVCF's sidecar sends it: its status and JSON answer."""
    async with http.post(f"{app.control_url}/v1/streaming/endsession", json=body) as response:
        return response.status, await response.json()


# The end-session contract follows Omniverse Kit's omni.services.livestream.nvcf `end_session`
# handler and NVIDIA's notes on the NICLLS sidecar that calls it (stream_app/endsession.py).


async def test_endsession_without_a_session_answers_complete(http: aiohttp.ClientSession) -> None:
    async with recording() as (app, _):
        assert await endsession(http, app) == (200, {"sessionStatus": "COMPLETE"})
        assert await endsession(http, app, {"sessionId": "x", "gracefulShutdown": True}) == (
            200,
            {"sessionStatus": "COMPLETE"},
        )


async def test_endsession_keeps_a_connected_session_and_ends_it_only_when_graceful(
    http: aiohttp.ClientSession,
) -> None:
    async with recording() as (app, recorder):
        session = await open_session(http, app.sign_in_url)
        status, answer = await endsession(http, app, {"sessionId": "relay-id"})
        assert (status, answer["sessionStatus"]) == (200, "AWAITING_RESUME")
        assert len(await session.latencies(2)) == 2  # the session goes on
        status, answer = await endsession(http, app, {"sessionId": "relay-id", "gracefulShutdown": True})
        assert (status, answer["sessionStatus"]) == (200, "COMPLETE")
        assert answer["sessionId"] == session.hello["sessionId"]
        assert await close_frame(session.ws) == (1000, "ended by endsession")
        await session.pc.close()
        assert await ready_status(http, app) == 200  # ports released before the answer
    assert recorder.events[-1][2] == "ended by endsession"


async def test_endsession_keeps_a_lost_session_resumable_until_graceful_shutdown(
    http: aiohttp.ClientSession,
) -> None:
    async with recording(resume_window=30.0) as (app, recorder):
        first = await open_session(http, app.sign_in_url)
        await first.drop()
        await recorder.wait_for("lost")
        for _ in range(3):  # the sidecar polls; every answer keeps the session
            assert (await endsession(http, app, {}))[1]["sessionStatus"] == "AWAITING_RESUME"
        ws, hello = await sign_in(http, app.sign_in_url)
        assert hello["resumed"] is True and hello["sessionId"] == first.hello["sessionId"]
        await ws.close(code=4000)
        await recorder.wait_for("lost")
        assert (await endsession(http, app, {"gracefulShutdown": True}))[1]["sessionStatus"] == "COMPLETE"
        assert await ready_status(http, app) == 200
    assert recorder.names()[-1] == "ended" and recorder.events[-1][2] == "ended by endsession"


async def test_endsession_right_after_a_close_answers_for_the_session_as_the_close_left_it(
    http: aiohttp.ClientSession,
) -> None:
    async with recording(resume_window=30.0) as (app, recorder):
        session = await open_session(http, app.sign_in_url)
        await session.ws.close()  # 1000: the session is over, though the app may not have heard yet
        assert await endsession(http, app, {"sessionId": "relay-id"}) == (200, {"sessionStatus": "COMPLETE"})
        await session.pc.close()
        second = await open_session(http, app.sign_in_url)
        await second.ws.close(code=4000)  # lost: the session waits for a resume
        assert (await endsession(http, app, {"sessionId": "relay-id"}))[1]["sessionStatus"] == "AWAITING_RESUME"
        await recorder.wait_for("lost")
        await second.pc.close()
    assert recorder.events[1][2] == "ended by client"


async def test_endsession_answers_complete_once_the_resume_window_ran_out(http: aiohttp.ClientSession) -> None:
    async with recording(resume_window=0.5) as (app, recorder):
        first = await open_session(http, app.sign_in_url)
        await first.drop()
        await recorder.wait_for("lost")
        assert (await endsession(http, app))[1]["sessionStatus"] == "AWAITING_RESUME"
        await wait_ready(http, app, 200)
        assert await endsession(http, app) == (200, {"sessionStatus": "COMPLETE"})
    assert recorder.events[-1][2] == "resume window expired"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"gracefulShutdown": "yes"}', "gracefulShutdown must be true or false"),
        (b'{"sessionId": 7}', "sessionId must be a string"),
        (b"[" * 5000, "not JSON"),
    ],
)
async def test_a_bad_endsession_body_is_refused_and_changes_nothing(
    http: aiohttp.ClientSession, body: bytes, reason: str
) -> None:
    async with recording() as (app, _):
        session = await open_session(http, app.sign_in_url)
        async with http.post(f"{app.control_url}/v1/streaming/endsession", data=body) as response:
            assert response.status == 400
            assert reason in (await response.json())["error"]
        assert len(await session.latencies(1)) == 1
        await session.close()


async def test_idle_timeout_ends_a_session_without_input(http: aiohttp.ClientSession) -> None:
    async with recording(idle_timeout=1.0) as (app, recorder):
        session = await open_session(http, app.sign_in_url, input_channels=True)
        start = time.monotonic()
        assert await close_frame(session.ws) == (1000, "idle timeout")
        assert 0.8 < time.monotonic() - start < 4
        await session.pc.close()
        await wait_ready(http, app, 200)
    assert recorder.events[-1][2] == "idle timeout"


async def test_input_keeps_a_session_from_idling_out(http: aiohttp.ClientSession) -> None:
    async with recording(idle_timeout=1.0) as (app, _):
        session = await open_session(http, app.sign_in_url, input_channels=True)
        await session.channels_open()
        try:
            for _ in range(10):  # 2.5 s, over twice the timeout
                session.send_input("mouse_move", x=0.5, y=0.5, buttons=0)
                await asyncio.sleep(0.25)
            assert not session.ws.closed and await ready_status(http, app) == 500
        finally:
            await session.close()


async def test_startup_answers_503_until_started_then_200(http: aiohttp.ClientSession) -> None:
    config = StreamAppConfig()
    state = StreamAppState(config, PatternApp(config))
    runner = web.AppRunner(make_control_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/streaming/startup"
    try:
        async with http.get(url) as response:
            assert response.status == 503
        state.started = True
        async with http.get(url) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()


async def test_a_failing_handler_is_logged_and_the_session_goes_on(http: aiohttp.ClientSession) -> None:
    made: list[RecordingApp] = []

    def factory(config: StreamAppConfig) -> RecordingApp:
        made.append(RecordingApp(config, fail_on_input=True))
        return made[-1]

    async with running_stream_app(app_factory=factory) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True)
        await session.channels_open()
        try:
            for _ in range(3):
                session.send_input("key", action="down", code="KeyA", key="a", mods=0, repeat=False)
            await made[0].wait_for("input", 3)
            assert len(await session.latencies(3)) == 3
            current = app.state.slot.current
            assert current is not None and current.handler_errors == 3
        finally:
            await session.close()
