"""The stream app as a real process (`python -m stream_app`): exit after a session, SIGTERM, --app."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from support.scripted_client import open_session

from benchmarks.ports import free_ports, free_udp_port_range
from stream_app.config import load_config

REPO = Path(__file__).resolve().parents[2]


@dataclass
class StreamAppProcess:
    process: asyncio.subprocess.Process
    control_url: str
    sign_in_url: str


@asynccontextmanager
async def stream_app_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[StreamAppProcess]:
    """`python -m stream_app` on free loopback ports; waits for /v1/streaming/startup; killed on exit."""
    control, streaming = free_ports(2)
    first, last = free_udp_port_range(4)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stream_app",
        "--host=127.0.0.1",
        f"--control-port={control}",
        f"--streaming-port={streaming}",
        f"--port-range={first}-{last}",
        "--ice-addresses=127.0.0.1",
        "--width=800",
        "--height=448",
        "--fps=15",
        *args,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    running = StreamAppProcess(process, f"http://127.0.0.1:{control}", f"ws://127.0.0.1:{streaming}/sign_in")
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                assert process.returncode is None, "the stream app exited at start"
                assert time.monotonic() < deadline, "the stream app never started"
                try:
                    async with http.get(f"{running.control_url}/v1/streaming/startup") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_exit_after_session_exits_0_when_the_session_ends(http: aiohttp.ClientSession) -> None:
    async with stream_app_process("--exit-after-session") as app:
        session = await open_session(http, app.sign_in_url)
        await session.latencies(2)
        await session.bye()
        await session.pc.close()
        assert await asyncio.wait_for(app.process.wait(), 15) == 0


async def test_without_exit_after_session_the_app_is_ready_again(http: aiohttp.ClientSession) -> None:
    async with stream_app_process("--no-exit-after-session") as app:
        session = await open_session(http, app.sign_in_url)
        await session.close()
        deadline = time.monotonic() + 10
        while True:
            async with http.get(f"{app.control_url}/v1/streaming/ready") as response:
                if response.status == 200:
                    break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert app.process.returncode is None


async def test_sigterm_ends_the_session_politely_and_exits_0(http: aiohttp.ClientSession) -> None:
    async with stream_app_process("--no-exit-after-session") as app:
        session = await open_session(http, app.sign_in_url)
        await session.latencies(2)
        app.process.send_signal(signal.SIGTERM)
        msg = await session.ws.receive(timeout=10)
        await session.pc.close()
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1000, "shutting down")
        assert await asyncio.wait_for(app.process.wait(), 15) == 0


async def test_a_user_app_is_loaded_with_app_module_factory(http: aiohttp.ClientSession) -> None:
    async with stream_app_process("--app=examples.paint:make_app", "--exit-after-session") as app:
        session = await open_session(http, app.sign_in_url)
        frame_latencies = await session.latencies(3)
        await session.bye()
        await session.pc.close()
        assert await asyncio.wait_for(app.process.wait(), 15) == 0
    assert all(0 < latency < 2000 for latency in frame_latencies)


async def test_a_bad_app_spec_stops_with_status_2_and_says_why() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stream_app",
        "--app=no_such_module:make_app",
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"cannot import no_such_module" in stderr


@pytest.mark.parametrize(
    ("env", "dockerenv", "argv", "expected"),
    [
        ({}, False, [], False),
        ({}, True, [], True),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, False, [], True),
        ({"NVCF_FUNCTION_ID": "abc"}, False, [], True),
        ({"NVCF_FUNCTION_ID": "abc"}, False, ["--no-exit-after-session"], False),
        ({"NVCF_FUNCTION_ID": "abc", "STREAM_APP_EXIT_AFTER_SESSION": "0"}, False, [], False),
        ({"STREAM_APP_EXIT_AFTER_SESSION": "yes"}, False, [], True),
        ({"STREAM_APP_EXIT_AFTER_SESSION": "0"}, False, ["--exit-after-session"], True),
    ],
)
def test_exit_after_session_defaults_on_in_a_container_and_can_be_overridden(
    tmp_path: Path, env: dict[str, str], dockerenv: bool, argv: list[str], expected: bool
) -> None:
    marker = tmp_path / ".dockerenv"
    if dockerenv:
        marker.touch()
    assert load_config(argv, env, dockerenv=marker).exit_after_session is expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_LEVEL": "LOUD"}, b"LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
        ({"LOG_LEVELS": "aioice"}, b"LOG_LEVELS: 'aioice' is not logger=LEVEL"),
        ({"LOG_LEVELS": "aioice=CHATTY"}, b"LOG_LEVELS: aioice: 'CHATTY' is not one of"),
    ],
)
async def test_a_bad_log_setting_stops_with_status_2_and_says_why(env: dict[str, str], message: bytes) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stream_app", cwd=REPO, env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert message in stderr, stderr


async def test_log_levels_turns_on_one_logger_without_the_rest(http: aiohttp.ClientSession) -> None:
    """The input receiver's per-message DEBUG line, without aiortc's per-packet DEBUG lines."""
    env = {"LOG_LEVEL": "INFO", "LOG_LEVELS": "stream_app.input_receiver=DEBUG"}
    async with stream_app_process("--exit-after-session", env=env) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True)
        await session.channels_open()
        await session.latencies(3)
        session.send_input("key", action="down", code="KeyA", key="a", mods=0, repeat=False)
        await asyncio.sleep(0.5)
        await session.bye()
        await session.pc.close()
        assert await asyncio.wait_for(app.process.wait(), 15) == 0
        assert app.process.stderr is not None
        log = (await app.process.stderr.read()).decode()
    applied = [line for line in log.splitlines() if "input applied type=key" in line]
    marker = " DEBUG stream-app stream_app.input_receiver: "  # observability's text format
    assert len(applied) == 1 and marker in applied[0], log[-2000:]
    assert " DEBUG " not in log.replace(marker, ""), "another logger wrote DEBUG"


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({}, [], ()),  # every non-loopback address, as on NVCF (listening on 0.0.0.0)
        ({"STREAM_APP_HOST": "127.0.0.1"}, [], ("127.0.0.1",)),  # nvcf-local's instances
        ({"STREAM_APP_HOST": "::"}, [], ()),
        ({"STREAM_APP_HOST": "::1"}, [], ("::1",)),
        ({"STREAM_APP_HOST": "localhost"}, [], ()),
        ({"STREAM_APP_HOST": "127.0.0.1", "ICE_HOST_ADDRESSES": "10.0.0.5"}, [], ("10.0.0.5",)),
        ({}, ["--host", "127.0.0.1"], ("127.0.0.1",)),
        # NVCF gives this variable to its sidecar only; the app does not read it.
        ({"NVCF_WORKER_NODE_IP": "10.1.2.3"}, [], ()),
    ],
)
def test_ice_host_addresses_default_to_the_listening_address(
    env: dict[str, str], argv: list[str], expected: tuple[str, ...]
) -> None:
    assert load_config(argv, env, dockerenv=Path("/nonexistent")).ice_addresses == expected
