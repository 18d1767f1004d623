"""Real services a test starts on 127.0.0.1 and stops after it: coturn, and nvcf-local running the stream app.

`running_coturn` and `running_nvcf_local` are async context managers; `write_definition` writes a
copy of the test-pattern function definition with free ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from benchmarks.ports import LOOPBACK, free_port, free_ports, free_udp_port_range
from deploy.children import Child, start_child
from deploy.coturn import CoturnConfig, RunningCoturn, start_coturn
from deploy.nvcf_local.config import DEFAULT_DEFINITION
from deploy.nvcf_local.definition import with_ports
from support.processes import LineRecorder, alive, recording_logger


@asynccontextmanager
async def running_coturn(rest: bool = False) -> AsyncIterator[RunningCoturn]:
    """A coturn on 127.0.0.1 (free port, 11 relay ports, random credentials), stopped on exit.

    With `rest`, it takes coturn's REST credentials made from its random ``auth_secret`` only.
    """
    first, last = free_udp_port_range(11)
    running = await start_coturn(
        CoturnConfig.with_random_credentials(port=free_port(), min_port=first, max_port=last, rest=rest)
    )
    try:
        yield running
    finally:
        await running.stop()


@dataclass(frozen=True)
class LocalDefinition:
    """A function definition file written for one test, and the ports it gives the stream app."""

    path: Path
    control_port: int
    streaming_port: int
    data: dict[str, Any]


def write_definition(
    directory: Path, edit: Callable[[dict[str, Any]], None] | None = None, name: str = "function.json"
) -> LocalDefinition:
    """Write the test-pattern definition with free control and streaming ports, then ``edit(data)``."""
    control, streaming = free_ports(2)
    data = with_ports(json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8")), control, streaming)
    if edit is not None:
        edit(data)
    path = directory / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return LocalDefinition(path=path, control_port=control, streaming_port=streaming, data=data)


def use_app(factory: str) -> Callable[[dict[str, Any]], None]:
    """An edit for `write_definition`: the instance runs the app `factory` (``STREAM_APP_FACTORY``)."""

    def edit(data: dict[str, Any]) -> None:
        data["containerEnvironment"].append({"key": "STREAM_APP_FACTORY", "value": factory})

    return edit


DefinitionFactory = Callable[..., LocalDefinition]


@dataclass
class RunningNvcfLocal:
    """An nvcf-local process started by `running_nvcf_local`."""

    child: Child
    port: int
    api_key: str
    function_id: str
    version_id: str
    definition: LocalDefinition
    turn: RunningCoturn
    recorder: LineRecorder = field(repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def sign_in_url(self) -> str:
        """The relay's WebSocket URL."""
        return f"ws://{LOOPBACK}:{self.port}/sign_in"

    @property
    def status_url(self) -> str:
        """NVCF's version-status URL for this function."""
        return f"{self.base_url}/v2/nvcf/functions/{self.function_id}/versions"

    @property
    def control_url(self) -> str:
        """The instance's control server (``/v1/streaming/ready``, ``/v1/streaming/creds``)."""
        return f"http://{LOOPBACK}:{self.definition.control_port}"

    @property
    def output(self) -> list[str]:
        """nvcf-local's output lines so far (the instance's lines included)."""
        return self.recorder.lines

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers a proxy sends on the sign-in: the API key and the function id."""
        return {"Authorization": f"Bearer {self.api_key}", "Function-ID": self.function_id}

    @property
    def process(self) -> psutil.Process:
        """nvcf-local's own process."""
        return psutil.Process(self.child.pid)

    def instances(self) -> list[psutil.Process]:
        """The instance processes nvcf-local runs right now (its live children)."""
        try:
            return [p for p in self.process.children() if alive(p)]
        except psutil.NoSuchProcess:
            return []

    def udp_sockets(self) -> int:
        """UDP sockets the instances hold now (the media ports each binds per session)."""
        count = 0
        for process in self.instances():
            try:
                count += len(process.net_connections(kind="udp"))
            except psutil.NoSuchProcess:
                pass
        return count

    async def status(self) -> str | None:
        """The function version's status from NVCF's status API, or None if it does not answer."""
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(self.status_url, headers={"Authorization": f"Bearer {self.api_key}"}) as response:
                    if response.status != 200:
                        return None
                    body = await response.json()
                    return str(body["functions"][0]["status"])
        except aiohttp.ClientError:
            return None

    async def wait_for_status(self, expected: str, timeout: float = 20.0) -> None:
        """Poll the status API until it says `expected`; fail with nvcf-local's output otherwise."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = await self.status()
            if status == expected:
                return
            if self.child.returncode is not None:
                break
            await asyncio.sleep(0.1)
        output = "\n".join(self.output[-40:])
        raise AssertionError(f"status {status!r}, not {expected!r} (exit {self.child.returncode}); output:\n{output}")

    async def wait_until_idle(self, timeout: float = 10.0) -> None:
        """Wait until the relay holds no session on the instance and its ``/v1/streaming/ready``
        answers 200: the relay frees an instance only once its endsession call answers COMPLETE,
        a moment after the stream app itself is ready again."""
        deadline = time.monotonic() + timeout
        instances = f"{self.base_url}/local/v1/functions/{self.function_id}/versions/{self.version_id}/instances"
        key = {"Authorization": f"Bearer {self.api_key}"}
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                async with http.get(instances, headers=key) as response:
                    held = response.status != 200 or any(i["sessionId"] for i in (await response.json())["instances"])
                if not held:
                    async with http.get(f"{self.control_url}/v1/streaming/ready") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError("the instance stayed busy")


@asynccontextmanager
async def running_nvcf_local(
    turn: RunningCoturn,
    definition: LocalDefinition,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> AsyncIterator[RunningNvcfLocal]:
    """nvcf-local as a real process running `definition` and pushing `turn`'s credentials.

    The stream app is bound to 127.0.0.1. Entered once nvcf-local answers its status API (the
    function may still be DEPLOYING); nvcf-local is stopped on exit.
    """
    port = free_port()
    api_key = secrets.token_urlsafe(24)
    function_id, version_id = str(uuid.uuid4()), str(uuid.uuid4())
    log, recorder = recording_logger("nvcf_local")
    child = await start_child(
        "nvcf-local",
        [
            sys.executable,
            "-m",
            "deploy.nvcf_local",
            "--port",
            str(port),
            "--definition",
            str(definition.path),
            "--function-id",
            function_id,
            "--version-id",
            version_id,
            "--turn",
            f"{turn.host}:{turn.port}",
            "--turn-user",
            turn.user,
            "--health-poll-interval",
            "0.1",
            *extra_args,
        ],
        env={
            **os.environ,
            "NVCF_LOCAL_API_KEY": api_key,
            "NVCF_LOCAL_TURN_PASSWORD": turn.password,
            "STREAM_APP_HOST": LOOPBACK,
            # The test machine is a container (/.dockerenv), where the stream app would exit after
            # each session by default; fixtures shared across tests keep one instance instead.
            "STREAM_APP_EXIT_AFTER_SESSION": "0",
            **(env or {}),
        },
        logger=log,
    )
    running = RunningNvcfLocal(
        child=child,
        port=port,
        api_key=api_key,
        function_id=function_id,
        version_id=version_id,
        definition=definition,
        turn=turn,
        recorder=recorder,
    )
    try:
        deadline = time.monotonic() + 15
        while await running.status() is None:
            if child.returncode is not None or time.monotonic() > deadline:
                raise AssertionError("nvcf-local did not start:\n" + "\n".join(running.output))
            await asyncio.sleep(0.05)
        yield running
    finally:
        await child.stop()


NvcfLocalFactory = Callable[..., Awaitable[RunningNvcfLocal]]
