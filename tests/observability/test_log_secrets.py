"""No secret reaches a log line: tokens, API keys, Authorization headers and TURN passwords fed
through every log path of real proxy, stream app and nvcf-local processes, in both log formats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from support.proxy_harness import (
    API_KEY,
    APP_PROTOCOL,
    REPO,
    SECRET,
    Upstream,
    expect_close,
    make_token,
    start_proxy_process,
    wait_ready,
)
from support.services import NvcfLocalFactory

from benchmarks.ports import free_port

# Secrets a test feeds in. The bearer value and the TURN password have no recognisable shape.
BAD_TOKEN = make_token(key=b"not-the-proxy-secret-0123456789abcdef-0123456789")
NVCF_KEY = "nvapi-" + secrets.token_urlsafe(30)
BEARER = secrets.token_urlsafe(24)
TURN_PASSWORD = secrets.token_urlsafe(18)


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def check_format(lines: list[str], fmt: str, piece: str) -> list[dict[str, object]]:
    """Every line in `fmt`; in JSON, the parsed objects (all of `piece`)."""
    if fmt == "text":
        assert all(not line.startswith("{") for line in lines)
        return []
    objects = []
    for line in lines:
        if line.startswith((" ", "Traceback")):
            continue
        parsed = json.loads(line)
        assert parsed["piece"] == piece, parsed
        assert {"time", "level", "logger", "message"} <= parsed.keys()
        objects.append(parsed)
    return objects


async def malformed_request(port: int, target: str) -> bytes:
    """A request aiohttp refuses and logs, quoting a token in its request line and a bearer key."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {target}?token={BAD_TOKEN}&key={NVCF_KEY} HTTP/1.1\x00\r\nHost: x\r\n"
        f"Authorization: Bearer {BEARER}\r\nSec-WebSocket-Protocol: authorization.{NVCF_KEY}\r\n\r\n".encode()
    )
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    return answer


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_the_proxy_never_logs_a_token_or_key(upstream: Upstream, fmt: str) -> None:
    port = free_port()
    good = make_token()
    process = await start_proxy_process(
        port,
        upstream.base_url,
        NVCF_API_KEY=API_KEY,
        PROXY_JWT_SECRET=SECRET.decode(),
        PROXY_LOG_LEVEL="DEBUG",
        LOG_FORMAT=fmt,
    )
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, port)
            url = f"ws://127.0.0.1:{port}/sign_in"
            refused = await http.ws_connect(url, protocols=[APP_PROTOCOL, f"token.{BAD_TOKEN}"])
            assert (await expect_close(refused))[0] >= 4000
            # Without the app's protocol aiohttp warns, quoting every item the client offered.
            with contextlib.suppress(aiohttp.ClientError):
                only_token = await http.ws_connect(url, protocols=[f"token.{BAD_TOKEN}"])
                await expect_close(only_token)
            first_message = await http.ws_connect(url, protocols=[APP_PROTOCOL])
            await first_message.send_str(json.dumps({"type": "auth", "token": BAD_TOKEN}))
            assert (await expect_close(first_message))[0] >= 4000
            admitted = await http.ws_connect(
                url, protocols=[APP_PROTOCOL, f"token.{good}"], headers={"Authorization": f"Bearer {BEARER}"}
            )
            await admitted.send_str("x")
            assert await admitted.receive_str(timeout=5) == "echo:x"
            await admitted.close()
            async with http.get(f"http://127.0.0.1:{port}/functions", headers={"Authorization": f"Bearer {BAD_TOKEN}"}):
                pass
            assert (await malformed_request(port, "/sign_in")).startswith(b"HTTP/1.")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert process.stderr is not None
        output = (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    for secret in (BAD_TOKEN, good, API_KEY, SECRET.decode(), BEARER, NVCF_KEY):
        assert secret not in output
    assert "malformed HTTP request" in output  # the path that quotes the request was reached
    objects = check_format(lines_of(output), fmt, "proxy")
    if fmt == "json":
        sessions = [o for o in objects if o["logger"] == "proxy.session" and "session_id" in o]
        assert sessions, "the sign-in's lines name its session"
        assert any(o.get("function_id") == "fn-1" for o in sessions)


@asynccontextmanager
async def stream_app_process(fmt: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int, int]]:
    control, streaming = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CONTROL_SERVER_PORT": str(control),
        "STREAMING_SERVER_PORT": str(streaming),
        "STREAM_APP_HOST": "127.0.0.1",
        "STREAM_APP_EXIT_AFTER_SESSION": "0",
        "NVCF_FUNCTION_ID": "fid-42",
        "STREAM_APP_INSTANCE_ID": "instance-7",
        "LOG_FORMAT": fmt,
        "LOG_LEVELS": "aiohttp=DEBUG,stream_app=DEBUG",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stream_app", env=env, cwd=REPO, stderr=asyncio.subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{control}/v1/streaming/startup") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline and process.returncode is None, "the stream app did not start"
                await asyncio.sleep(0.1)
        yield process, control, streaming
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_the_stream_app_never_logs_a_password_or_key(fmt: str) -> None:
    async with stream_app_process(fmt) as (process, control, streaming), aiohttp.ClientSession() as http:
        creds = {"stunIp": "127.0.0.1", "stunPort": 3478, "username": "u", "password": TURN_PASSWORD}
        async with http.post(f"http://127.0.0.1:{control}/v1/streaming/creds", json=creds) as r:
            assert r.status == 200
        bad = f'{{"stunIp": "127.0.0.1", "password": "{TURN_PASSWORD}"'
        async with http.post(f"http://127.0.0.1:{control}/v1/streaming/creds", data=bad) as r:
            assert r.status == 400
        ws = await http.ws_connect(
            f"ws://127.0.0.1:{streaming}/sign_in",
            protocols=["nvcf-stream-v1", f"authorization.{NVCF_KEY}"],
            headers={"Authorization": f"Bearer {BEARER}"},
        )
        hello = json.loads((await ws.receive(timeout=10)).data)
        assert hello["type"] == "hello"
        await ws.close()
        # Offering only the key item: aiohttp warns, quoting every item the client offered.
        await asyncio.sleep(0.3)  # the session has ended
        ws = await http.ws_connect(f"ws://127.0.0.1:{streaming}/sign_in", protocols=[f"authorization.{NVCF_KEY}"])
        await ws.close()
        for port in (control, streaming):
            assert (await malformed_request(port, "/sign_in")).startswith(b"HTTP/1.")
        await asyncio.sleep(0.5)  # the session's last lines
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert process.stderr is not None
        output = (await process.stderr.read()).decode()
    for secret in (TURN_PASSWORD, NVCF_KEY, BEARER, BAD_TOKEN):
        assert secret not in output
    assert "malformed HTTP request" in output
    objects = check_format(lines_of(output), fmt, "stream-app")
    tagged = [line for line in lines_of(output) if hello["sessionId"] in line and "started" in line]
    assert tagged
    if fmt == "json":
        assert all(o["function_id"] == "fid-42" and o["instance_id"] == "instance-7" for o in objects)
        started = [o for o in objects if "started" in str(o["message"]) and "session_id" in o]
        assert started and started[0]["session_id"] == hello["sessionId"]
    else:
        assert "function_id=fid-42" in tagged[0] and f"session_id={hello['sessionId']}" in tagged[0]


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_nvcf_local_never_logs_its_key_or_turn_password(nvcf_local_factory: NvcfLocalFactory, fmt: str) -> None:
    running = await nvcf_local_factory(env={"LOG_FORMAT": fmt, "NVCF_LOCAL_LOG_LEVEL": "DEBUG"})
    await running.wait_for_status("ACTIVE")
    async with aiohttp.ClientSession() as http:
        for headers, protocols in (
            ({"Authorization": f"Bearer {BEARER}", "Function-ID": running.function_id}, ["nvcf-stream-v1"]),
            ({}, ["nvcf-stream-v1", f"authorization.{NVCF_KEY}", f"function-id.{running.function_id}"]),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(running.sign_in_url, headers=headers, protocols=protocols)
            assert refused.value.status == 401
        # The API key as a subprotocol item, as a browser-side caller would send it; no app protocol,
        # so aiohttp warns, quoting every item offered.
        items = [f"authorization.{running.api_key}", f"function-id.{running.function_id}"]
        ws = await http.ws_connect(running.sign_in_url, protocols=items)
        assert json.loads((await ws.receive(timeout=10)).data)["type"] == "hello"
        await ws.close()
        assert (await malformed_request(running.port, "/sign_in")).startswith(b"HTTP/1.")
        await running.wait_until_idle()
    output = "\n".join(running.output)
    for secret in (running.api_key, running.turn.password, NVCF_KEY, BEARER, BAD_TOKEN):
        assert secret not in output
    assert "malformed HTTP request" in output
    own = [line.removeprefix("[nvcf-local] ") for line in running.output]
    # The ids line is printed for scripts to read, not logged.
    own = [line for line in own if not line.startswith("nvcf-local: function ")]
    objects = check_format(own, fmt, "nvcf-local")
    if fmt == "json":
        routed = [o for o in objects if "connected to function" in str(o["message"])]
        assert routed and {"session_id", "function_id", "instance_id"} <= routed[0].keys()
        assert routed[0]["function_id"] == running.function_id
