"""The full local chain for the browser benchmarks: coturn, nvcf-local running the stream app, the
proxy; and the baseline server on its own. Each is a supervised child bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import psutil

from benchmarks.ports import free_port, free_ports, free_udp_port_range
from benchmarks.processes import StartError, http_ok, running_proxy, wait_until
from benchmarks.tokens import TokenIssuer, token_issuer
from deploy.children import Child, start_child
from deploy.coturn import CoturnConfig, RunningCoturn, start_coturn
from deploy.nvcf_local.config import DEFAULT_DEFINITION
from deploy.nvcf_local.definition import with_ports

logger = logging.getLogger("benchmarks.stack")

CODECS_SETTING: Final = "MEDIA_CODECS"
"""The stream app's setting that allows codecs. Each glass-to-glass and network stack allows exactly
one, and the page offers the same one first (`browser.codec_fragment`), so both ends agree and a
failed negotiation shows up as an error rather than as the other codec's numbers."""

STREAM_APP_ENV: Final[dict[str, str]] = {
    # Chromium's REMB estimate falls on the easy test pattern (it sends little, so the estimate
    # ratchets down) and would end near the 1 Mbps default floor; 4 Mbps keeps 720p60 and 1080p
    # pictures sharp without hiding congestion (the start and ceiling are the defaults).
    "MEDIA_BITRATE_MIN": "4M",
    "MEDIA_BITRATE_START": "8M",
    "MEDIA_BITRATE_MAX": "50M",
    "MEDIA_GOP": "0",
    "MEDIA_X264_PRESET": "ultrafast",
    "MEDIA_CODEC_ORDER": "client",
}
"""Stream-app media settings for every run through the full chain (docs/media.md)."""

NETWORK_APP_ENV: Final[dict[str, str]] = {"MEDIA_BITRATE_MIN": "150k", "MEDIA_BITRATE_START": "2M"}
"""What the network benchmark changes on top of `STREAM_APP_ENV`: the product's own bitrate floor
and start (`MediaConfig`'s defaults) instead of the loopback runs' 4M and 8M, so a narrow link is
met as a user would meet it. Congestion control and degradation are the defaults."""


def settings_text(env: Mapping[str, str]) -> str:
    """`env` as the report prints it: `NAME=value` items separated by spaces."""
    return " ".join(f"{name}={value}" for name, value in env.items())


class LineRecorder(logging.Handler):
    """Keeps a child's output lines (the stream app's log, which the input benchmark reads)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the line (up to a bound)."""
        if len(self.lines) < 200_000:  # bounded: a chatty child cannot eat the machine's memory
            self.lines.append(record.getMessage())


@dataclass
class Stack:
    """A running chain: the page URL through the proxy, how to mint tokens, the instance's control URL."""

    proxy_url: str
    control_url: str
    issuer: TokenIssuer
    nvcf_pid: int
    output: LineRecorder = field(repr=False)

    def instance_pids(self) -> list[int]:
        """The stream app processes nvcf-local runs now (for profiling)."""
        try:
            return [p.pid for p in psutil.Process(self.nvcf_pid).children()]
        except psutil.NoSuchProcess:
            return []

    def page_url(self, *, relay: bool = False, extra: Mapping[str, str] | None = None) -> str:
        """The web client's URL with a fresh token in the fragment (and `relay=1` for TURN only)."""
        items = {"token": self.issuer.mint("bench"), **({"relay": "1"} if relay else {}), **(extra or {})}
        return f"{self.proxy_url}/#" + "&".join(f"{k}={v}" for k, v in items.items())

    async def wait_until_idle(self, timeout: float = 15.0) -> bool:
        """Wait until the instance is ready for a new session (its last one is over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await http_ok(f"{self.control_url}/v1/streaming/ready"):
                return True
            await asyncio.sleep(0.05)
        return False


def _definition(workdir: Path) -> tuple[Path, int]:
    control, streaming = free_ports(2)
    data = with_ports(json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8")), control, streaming)
    path = workdir / f"function-{control}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, control


async def _function_active(base: str, api_key: str, function_id: str) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async with http.get(
                f"{base}/v2/nvcf/functions/{function_id}/versions", headers={"Authorization": f"Bearer {api_key}"}
            ) as response:
                if response.status != 200:
                    return False
                return bool((await response.json())["functions"][0]["status"] == "ACTIVE")
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError):
        return False


@asynccontextmanager
async def running_stack(
    workdir: Path, app_env: Mapping[str, str], *, host: str = "127.0.0.1", coturn: RunningCoturn | None = None
) -> AsyncIterator[Stack]:
    """coturn, nvcf-local (its stream app configured by `app_env`) and the proxy; all stopped on exit.

    `host` is where the proxy and coturn listen and the stream app gathers ICE candidates (the
    network lab's server address; the stream app itself stays on 127.0.0.1 behind nvcf-local).
    With `coturn` given, that TURN server is used and left running.
    """
    own_coturn = coturn is None
    if coturn is None:
        first, last = free_udp_port_range(11)
        coturn = await start_coturn(
            CoturnConfig.with_random_credentials(host=host, port=free_port(), min_port=first, max_port=last),
            state_parent=workdir,
        )
    recorder = LineRecorder()
    log = logging.getLogger(f"benchmarks.stack.nvcf.{uuid.uuid4().hex[:6]}")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(recorder)
    nvcf: Child | None = None
    try:
        definition, control = _definition(workdir)
        port, api_key, function_id = free_port(), secrets.token_urlsafe(24), str(uuid.uuid4())
        env = {
            **os.environ,
            "NVCF_LOCAL_API_KEY": api_key,
            "NVCF_LOCAL_TURN_PASSWORD": coturn.password,
            "STREAM_APP_HOST": "127.0.0.1",
            **({} if host == "127.0.0.1" else {"ICE_HOST_ADDRESSES": host}),
            **STREAM_APP_ENV,
            **app_env,
        }
        argv = [
            sys.executable,
            "-m",
            "deploy.nvcf_local",
            "--port",
            str(port),
            "--definition",
            str(definition),
            "--function-id",
            function_id,
            "--turn",
            f"{coturn.host}:{coturn.port}",
            "--turn-user",
            coturn.user,
            "--health-poll-interval",
            "0.1",
        ]
        nvcf = await start_child("nvcf-local", argv, env=env, logger=log)
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_until(lambda: _function_active(base, api_key, function_id), nvcf, "nvcf-local", timeout=60)
        except StartError as exc:
            raise StartError(f"{exc}; last output:\n" + "\n".join(recorder.lines[-20:])) from None
        async with (
            token_issuer(workdir) as issuer,
            running_proxy(
                f"ws://127.0.0.1:{port}", issuer, api_key=api_key, function_id=function_id, host=host
            ) as proxy,
        ):
            yield Stack(
                proxy_url=proxy.url,
                control_url=f"http://127.0.0.1:{control}",
                issuer=issuer,
                nvcf_pid=nvcf.pid,
                output=recorder,
            )
    finally:
        if nvcf is not None:
            await nvcf.stop()
        if own_coturn:
            await coturn.stop()


@dataclass
class Baseline:
    """The baseline server: its page URL and its input samples."""

    url: str

    def page_url(self, extra: Mapping[str, str] | None = None) -> str:
        """The page (served by the baseline itself); the token is ignored there but the page wants one."""
        items = {"token": "baseline", **(extra or {})}
        return f"{self.url}/#" + "&".join(f"{k}={v}" for k, v in items.items())

    async def input_samples(self) -> list[dict[str, Any]]:
        """What the baseline's `input` channel received: ``type``, client ``t`` and receive time, ms."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/bench/input") as response:
            return list(await response.json())


@asynccontextmanager
async def running_baseline(
    width: int, height: int, *, host: str = "127.0.0.1", turn: RunningCoturn | None = None, scene: bool = False
) -> AsyncIterator[Baseline]:
    """The stock-aiortc baseline server as its own process, on `host`; with `turn`, the page is told
    to use that TURN server; with `scene`, it sends the textured scene."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.baseline_server", "--port", str(port), "--host", host]
    argv += ["--width", str(width), "--height", str(height), *(["--scene"] if scene else [])]
    env = dict(os.environ)
    if turn is not None:
        argv += ["--turn", f"{turn.host}:{turn.port}"]
        env.update({"BASELINE_TURN_USER": turn.user, "BASELINE_TURN_PASSWORD": turn.password})
    child = await start_child("baseline", argv, env=env, logger=logger)
    url = f"http://{host}:{port}"
    try:
        await wait_until(lambda: http_ok(f"{url}/"), child, "the baseline server")
        yield Baseline(url=url)
    finally:
        await child.stop()
