"""Graceful drain of the real `stream-proxy` process on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import aiohttp
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

from benchmarks.ports import free_port


async def test_sigterm_drains_then_closes_sessions_with_1001(upstream: Upstream) -> None:
    port = free_port()
    process = await start_proxy_process(
        port,
        upstream.base_url,
        NVCF_API_KEY=API_KEY,
        PROXY_JWT_SECRET=SECRET.decode(),
        PROXY_DRAIN_SECONDS="1.5",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, port)
            protocols = [APP_PROTOCOL, f"token.{make_token()}"]
            ws = await http.ws_connect(f"ws://127.0.0.1:{port}/sign_in", protocols=protocols)
            await ws.send_str("x")
            assert await ws.receive_str(timeout=5) == "echo:x"
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.3)
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 503
                assert (await r.json())["draining"] is True
            late = await http.ws_connect(f"ws://127.0.0.1:{port}/sign_in", protocols=protocols)
            assert await expect_close(late) == (1001, "proxy shutting down")
            # The open session goes on during the grace period...
            await ws.send_str("still here")
            assert await ws.receive_str(timeout=5) == "echo:still here"
            # ...and is then closed with 1001, upstream too.
            msg = await ws.receive(timeout=5)
            assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1001, "proxy shutting down")
            assert time.monotonic() - signalled >= 1.2
            assert await asyncio.wait_for(upstream.closes.get(), 5) == (1001, "proxy shutting down")
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert API_KEY not in log and SECRET.decode() not in log
        assert len(upstream.handshakes) == 1
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_help_shows_secrets_only_as_set_or_unset() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "proxy", "--help"],
        env={"PATH": os.environ.get("PATH", ""), "NVCF_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=20,
        cwd=REPO,
    )
    assert result.returncode == 0
    assert API_KEY not in result.stdout
    assert "[now: set]" in result.stdout and "[now: unset]" in result.stdout
