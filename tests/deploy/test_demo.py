"""`python -m deploy.demo`: one URL to open, and nothing left running after it stops."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import pytest
from support.browser import chromium
from support.processes import wait_until_gone
from yarl import URL

from benchmarks.ports import free_ports, free_udp_port_range

START_TIMEOUT = 60.0


@dataclass
class DemoRun:
    """A demo process with its ports, stdout lines and stderr file."""

    process: asyncio.subprocess.Process
    env: dict[str, str]
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def proxy_port(self) -> int:
        return int(self.env["DEMO_PROXY_PORT"])

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def wait_for_open_line(self) -> str:
        """Read stdout until the `Open ...` line; fail with the demo's stderr if it does not come."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(self.process.stdout.readline(), deadline - time.monotonic())
            except TimeoutError:
                break
            if not raw:
                break
            line = raw.decode().rstrip("\n")
            self.stdout_lines.append(line)
            if line.startswith("Open "):
                return line
        raise AssertionError(f"no Open line; stdout {self.stdout_lines}; stderr:\n{self.stderr[-5000:]}")

    async def rest_of_stdout(self) -> list[str]:
        assert self.process.stdout is not None
        rest = (await self.process.stdout.read()).decode().splitlines()
        self.stdout_lines.extend(rest)
        return self.stdout_lines

    def started_processes(self) -> list[psutil.Process]:
        """Every process the demo started, directly or through nvcf-local."""
        return list(psutil.Process(self.process.pid).children(recursive=True))


def _demo_env(tmp_path: Path) -> dict[str, str]:
    first, last = free_udp_port_range(11)
    proxy, nvcf, turn, control, streaming = free_ports(5)
    env = {key: value for key, value in os.environ.items() if not key.startswith("DEMO_")}
    env.update(
        {
            "DEMO_PROXY_PORT": str(proxy),
            "DEMO_NVCF_PORT": str(nvcf),
            "DEMO_TURN_PORT": str(turn),
            "DEMO_TURN_RELAY_PORTS": f"{first}-{last}",
            "DEMO_CONTROL_PORT": str(control),
            "DEMO_STREAMING_PORT": str(streaming),
            "DEMO_STATE_DIR": str(tmp_path / "demo-state"),
            "DEMO_START_TIMEOUT": str(START_TIMEOUT),
        }
    )
    return env


async def _start_demo(env: dict[str, str], tmp_path: Path) -> DemoRun:
    stderr_path = tmp_path / "demo.stderr"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "deploy.demo",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            stdin=asyncio.subprocess.DEVNULL,
            # Its own session, like a terminal job: signals in this test reach the demo only.
            start_new_session=True,
        )
    return DemoRun(process=process, env=env, stderr_path=stderr_path)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoRun]:
    """A demo that has printed its Open line; stopped (with everything it started) after the test."""
    run = await _start_demo(_demo_env(tmp_path), tmp_path)
    try:
        await run.wait_for_open_line()
        yield run
    finally:
        if run.process.returncode is None:
            started = run.started_processes()
            run.process.terminate()
            try:
                await asyncio.wait_for(run.process.wait(), 20)
            except TimeoutError:
                run.process.kill()
                await run.process.wait()
            await wait_until_gone(started, timeout=10)


async def test_it_prints_one_open_line_with_a_token_and_serves_the_page(demo: DemoRun) -> None:
    [line] = [line for line in demo.stdout_lines if line.startswith("Open ")]
    url = URL(line.removeprefix("Open "))
    assert (url.scheme, url.host, url.port, url.path) == ("http", "127.0.0.1", demo.proxy_port, "/")
    assert url.fragment.startswith("token=") and url.fragment.count(".") == 2
    async with aiohttp.ClientSession() as http:
        async with http.get(url.with_fragment(None)) as response:
            assert response.status == 200
            assert "html" in response.content_type


async def test_the_token_opens_a_session_through_proxy_and_nvcf_local_to_the_stream_app(demo: DemoRun) -> None:
    [line] = [line for line in demo.stdout_lines if line.startswith("Open ")]
    token = URL(line.removeprefix("Open ")).fragment.removeprefix("token=")
    origin = f"http://127.0.0.1:{demo.proxy_port}"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"ws://127.0.0.1:{demo.proxy_port}/sign_in", protocols=["nvcf-stream-v1", f"token.{token}"], origin=origin
        ) as ws:
            assert ws.protocol == "nvcf-stream-v1"
            message = await ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.TEXT, (message, demo.stderr[-3000:])
            hello = json.loads(message.data)
            assert hello["type"] == "hello"
            turn_port = demo.env["DEMO_TURN_PORT"]
            assert any(f"turn:127.0.0.1:{turn_port}" in url for server in hello["iceServers"] for url in server["urls"])


@pytest.mark.browser
async def test_the_printed_url_shows_the_stamped_stream_in_chromium_within_5_seconds(demo: DemoRun) -> None:
    [line] = [line for line in demo.stdout_lines if line.startswith("Open ")]
    async with chromium(loopback_ice=False) as browser:
        page = await browser.new_page()
        opened = time.monotonic()
        await page.goto(line.removeprefix("Open "))
        await page.locator("#status[data-state='streaming']").wait_for(timeout=5_000)
        shown_after = time.monotonic() - opened
        stamp = await page.evaluate(
            "async () => new (await import('/stamp.js')).StampReader(document.getElementById('stream')).read()"
        )
    assert shown_after < 5
    # The frame on screen carries a capture time from the last few seconds.
    assert stamp is not None and 0 < time.time() * 1000 - stamp < 5_000


async def test_the_secret_files_are_private(demo: DemoRun) -> None:
    state_dir = Path(demo.env["DEMO_STATE_DIR"])
    secrets = [state_dir / "jwt-secret", state_dir / "session-secret"]
    for secret in secrets:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert len(secret.read_bytes().strip()) >= 32
    assert secrets[0].read_bytes() != secrets[1].read_bytes()
    # The proxy signs resume cookies with the file's secret, so a restarted proxy still resumes.
    (proxy,) = [p for p in demo.started_processes() if "proxy" in p.cmdline()]
    assert proxy.environ()["PROXY_SESSION_SECRET_FILE"] == str(secrets[1])


async def test_sigint_stops_every_process_it_started(demo: DemoRun) -> None:
    started = demo.started_processes()
    names = " ".join(" ".join(p.cmdline()) for p in started)
    assert len(started) >= 4, names
    for part in ("turnserver", "deploy.nvcf_local", "stream_app", "-m proxy"):
        assert part in names
    demo.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(demo.process.wait(), 15) == 0
    assert await wait_until_gone(started, timeout=5) == [], demo.stderr[-3000:]
    assert len([line for line in await demo.rest_of_stdout() if line.startswith("Open ")]) == 1
    assert list(Path(demo.env["DEMO_STATE_DIR"]).glob("coturn-*")) == []  # coturn's state is removed too


async def test_sigterm_stops_every_process_it_started(demo: DemoRun) -> None:
    started = demo.started_processes()
    demo.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(demo.process.wait(), 15) == 0
    assert await wait_until_gone(started, timeout=5) == []


async def test_a_child_that_dies_stops_everything_with_a_failure_naming_it(demo: DemoRun) -> None:
    started = demo.started_processes()
    [proxy] = [p for p in started if "proxy" in p.cmdline()]
    proxy.kill()
    assert await asyncio.wait_for(demo.process.wait(), 15) == 1
    assert f"proxy (pid {proxy.pid}) exited unexpectedly with status -9; stopping everything" in demo.stderr
    assert await wait_until_gone(started, timeout=5) == []


async def test_killing_the_demo_outright_leaves_no_orphans(demo: DemoRun) -> None:
    started = demo.started_processes()
    # coturn keeps its state in the demo's directory, not in /tmp, where a killed demo would leave it.
    assert len(list(Path(demo.env["DEMO_STATE_DIR"]).glob("coturn-*"))) == 1
    demo.process.kill()
    await demo.process.wait()
    assert await wait_until_gone(started, timeout=10) == []


async def test_a_taken_port_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    env = _demo_env(tmp_path)
    with socket.create_server(("127.0.0.1", int(env["DEMO_PROXY_PORT"]))):
        run = await _start_demo(env, tmp_path)
        assert await asyncio.wait_for(run.process.wait(), 30) == 1
    port = env["DEMO_PROXY_PORT"]
    assert (
        f"port {port} on 127.0.0.1 is already in use (DEMO_PROXY_PORT); stop what uses it (another demo?) "
        f"or set DEMO_PROXY_PORT to a free port"
    ) in run.stderr
    assert "coturn listening" not in run.stderr


async def test_its_own_lines_follow_log_format_and_the_open_line_stays_printed(tmp_path: Path) -> None:
    env = {**_demo_env(tmp_path), "LOG_FORMAT": "json"}
    with socket.create_server(("127.0.0.1", int(env["DEMO_PROXY_PORT"]))):
        run = await _start_demo(env, tmp_path)
        assert await asyncio.wait_for(run.process.wait(), 30) == 1
    [line] = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
    assert (line["piece"], line["level"], line["logger"]) == ("demo", "ERROR", "deploy.demo")
    assert line["message"].startswith(f"port {env['DEMO_PROXY_PORT']} on 127.0.0.1 is already in use (DEMO_PROXY_PORT)")


async def test_no_secret_of_the_run_appears_in_its_log_lines(demo: DemoRun) -> None:
    state_dir = Path(demo.env["DEMO_STATE_DIR"])
    started = {" ".join(p.cmdline()): p for p in demo.started_processes()}
    proxy = next(p for cmd, p in started.items() if "-m proxy" in cmd)
    nvcf_local = next(p for cmd, p in started.items() if "deploy.nvcf_local" in cmd)
    made = [
        (state_dir / "jwt-secret").read_text(),
        (state_dir / "session-secret").read_text(),
        proxy.environ()["NVCF_API_KEY"],
        nvcf_local.environ()["NVCF_LOCAL_TURN_PASSWORD"],
    ]
    [line] = [line for line in demo.stdout_lines if line.startswith("Open ")]
    token = URL(line.removeprefix("Open ")).fragment.removeprefix("token=")
    # The token is for the person at the terminal: printed whole, and never in a log line.
    assert all(len(secret) >= 20 for secret in made) and len(token) > 20
    stderr = demo.stderr
    assert "[proxy]" in stderr and "[nvcf-local]" in stderr  # the children's lines do come through
    assert [secret for secret in (*made, token) if secret in stderr] == []
