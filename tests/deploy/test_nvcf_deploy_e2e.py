"""End to end on loopback: nvcf-deploy deploys the example function on nvcf-local, and nvcf-local runs it like NVCF.

One nvcf-local (started empty, state in a SQLite file, TURN credentials per instance from a coturn
in REST mode) serves the whole module. Each test makes the state it needs (a test that needs both
instances up calls `LocalNvcf.scale_to(2)`), so it passes alone (`-k`) as well as in the module's
order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import pytest_asyncio
from support.processes import LineRecorder, recording_logger, wait_until_gone
from support.scripted_client import negotiate, sign_in
from support.services import running_coturn, write_definition

from benchmarks.ports import free_port
from deploy.children import Child, start_child
from deploy.coturn import RunningCoturn

RESUME_WINDOW = 3.0
module = pytest.mark.asyncio(loop_scope="module")


@dataclass
class LocalNvcf:
    """nvcf-local started empty, and what nvcf-deploy created on it."""

    child: Child
    port: int
    api_key: str
    state: Path
    turn: RunningCoturn
    recorder: LineRecorder
    function_id: str = ""
    version_id: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sign_in_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/sign_in"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Function-ID": self.function_id}

    async def instances(self) -> list[dict[str, Any]]:
        url = f"{self.base_url}/local/v1/functions/{self.function_id}/versions/{self.version_id}/instances"
        async with aiohttp.ClientSession() as http:
            async with http.get(url, headers={"Authorization": f"Bearer {self.api_key}"}) as response:
                assert response.status == 200, await response.text()
                return list((await response.json())["instances"])

    async def wait_until_free(self, timeout: float = 15.0) -> None:
        """Wait until no instance holds a session (the relay frees one once endsession says COMPLETE)."""
        deadline = time.monotonic() + timeout
        while any(i["sessionId"] for i in await self.instances()):
            assert time.monotonic() < deadline, "an instance stayed busy"
            await asyncio.sleep(0.05)

    async def scale_to(self, count: int) -> list[dict[str, Any]]:
        """Have `count` instances UP and free, whatever earlier tests left, and return them.

        nvcf-local starts an instance for a sign-in while every instance is busy (up to
        maxInstances) and keeps it, so holding `count` sessions at once scales it up; they are
        then closed with 1000, which frees their instances at once.
        """
        async with aiohttp.ClientSession() as http:
            held: list[aiohttp.ClientWebSocketResponse] = []
            try:
                for _ in range(count):
                    held.append((await sign_in(http, self.sign_in_url, headers=self.headers))[0])
            finally:
                for ws in held:
                    await ws.close()
        await self.wait_until_free()
        return await self.wait_for_instances(count)

    async def wait_for_instances(
        self, count: int, timeout: float = 30.0, replacing: Sequence[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """Wait until `count` instances are UP, none of them one of `replacing`; return them.

        An instance just killed is listed UP until nvcf-local has reaped its process, so "one UP"
        right after killing two may be one of them: name the old ones to wait for their replacements.
        """
        old = {i["instanceId"] for i in replacing}
        deadline = time.monotonic() + timeout
        while True:
            listed = await self.instances()
            # An instance whose process has exited is EXITED at once, never UP without a process.
            assert not [i for i in listed if i["state"] == "UP" and i["pid"] is None], listed
            up = [i for i in listed if i["state"] == "UP"]
            if len(up) == count and not old & {i["instanceId"] for i in up}:
                return up
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(up)} instances UP, not {count}:\n" + "\n".join(self.recorder.lines[-30:]))
            await asyncio.sleep(0.1)


async def nvcf_deploy(nvcf: LocalNvcf, *argv: str) -> tuple[int, str, str]:
    """Run the real `nvcf-deploy` command against nvcf-local."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploy.nvcf_deploy",
        "--base-url",
        nvcf.base_url,
        "--poll-interval",
        "0.2",
        "--timeout",
        "60",
        *argv,
        env={**os.environ, "NVCF_API_KEY": nvcf.api_key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def deploy_up(nvcf: LocalNvcf, definition: Path, name: str, *, max_instances: int) -> None:
    """`nvcf-deploy up` the definition (one instance at least) and note the ids it created."""
    status, out, err = await nvcf_deploy(
        nvcf, "up", str(definition), "--gpu", "L40S", "--instance-type", "local",
        "--min-instances", "1", "--max-instances", str(max_instances),
    )  # fmt: skip
    assert status == 0, err + "\n".join(nvcf.recorder.lines[-40:])
    created = next(line for line in out.splitlines() if line.startswith("created function"))
    nvcf.function_id, nvcf.version_id = created.split()[-3], created.split()[-1]
    assert out.rstrip().endswith(f"{nvcf.function_id} {nvcf.version_id} {name} ACTIVE")


@asynccontextmanager
async def started_nvcf_local(
    turn: RunningCoturn, state: Path, api_key: str, port: int | None = None
) -> AsyncIterator[LocalNvcf]:
    port = port or free_port()
    log, recorder = recording_logger("nvcf_local_e2e")
    assert turn.auth_secret is not None
    child = await start_child(
        "nvcf-local",
        [sys.executable, "-m", "deploy.nvcf_local", "--port", str(port), "--state", str(state)],
        env={
            **os.environ,
            "NVCF_LOCAL_API_KEY": api_key,
            "NVCF_LOCAL_TURN": f"{turn.host}:{turn.port}",
            "NVCF_LOCAL_TURN_SECRET": turn.auth_secret,
            "NVCF_LOCAL_HEALTH_POLL_INTERVAL": "0.1",
            "NVCF_LOCAL_END_SESSION_POLL_INTERVAL": "0.2",
        },
        logger=log,
    )
    running = LocalNvcf(child=child, port=port, api_key=api_key, state=state, turn=turn, recorder=recorder)
    try:
        deadline = time.monotonic() + 15
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{running.base_url}/v2/nvcf/functions") as response:
                        if response.status == 401:
                            break
                except aiohttp.ClientError:
                    pass
                if child.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError("nvcf-local did not start:\n" + "\n".join(recorder.lines))
                await asyncio.sleep(0.05)
        yield running
    finally:
        await child.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nvcf(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalNvcf]:
    workdir = tmp_path_factory.mktemp("e2e")

    def edit(data: dict[str, Any]) -> None:
        data["containerEnvironment"].append({"key": "STREAM_APP_RESUME_WINDOW", "value": f"{RESUME_WINDOW:g}"})
        # Explicit, since the default depends on whether this machine looks like a container.
        data["containerEnvironment"].append({"key": "STREAM_APP_EXIT_AFTER_SESSION", "value": "0"})

    definition = write_definition(workdir, edit)
    async with running_coturn(rest=True) as turn:
        async with started_nvcf_local(turn, workdir / "state.sqlite3", secrets.token_urlsafe(24)) as running:
            await deploy_up(running, definition.path, definition.data["name"], max_instances=2)
            yield running


async def _refusal(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """A WebSocket upgrade request by hand, so a refusal's status and body can be read."""
    request = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        **headers,
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(url.replace("ws://", "http://"), headers=request) as response:
            return response.status, (await response.text()).strip() if response.status != 101 else ""


def _request_id(ws: aiohttp.ClientWebSocketResponse) -> str:
    assert ws._response is not None
    return ws._response.headers["NVCF-REQID"]


@module
async def test_up_reaches_active_and_list_shows_it(nvcf: LocalNvcf) -> None:
    status, out, _ = await nvcf_deploy(nvcf, "list")
    assert status == 0
    assert out.split() == [nvcf.function_id, nvcf.version_id, "ACTIVE", "stream-kit-test-pattern"]
    [instance] = await nvcf.wait_for_instances(1)
    assert instance["sessionId"] is None
    # The instance's own output is logged under its function and instance id.
    prefix = f"[function {nvcf.function_id[:8]} instance {instance['instanceId'][:8]}]"
    assert any(prefix in line and "stream_app" in line for line in nvcf.recorder.lines)


@module
async def test_two_clients_get_two_instances_and_a_third_is_refused(nvcf: LocalNvcf) -> None:
    async with aiohttp.ClientSession() as http:
        ws_a, hello_a = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
        ws_b, hello_b = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
        try:
            instances = {i["sessionId"]: i for i in await nvcf.instances()}
            a, b = instances[_request_id(ws_a)], instances[_request_id(ws_b)]
            assert a["instanceId"] != b["instanceId"]
            assert a["pid"] != b["pid"] and a["streamingPort"] != b["streamingPort"]
            assert hello_a["sessionId"] != hello_b["sessionId"]
            # Each instance got its own short-lived TURN credentials: <expiry>:<instance id>.
            for hello, instance in ((hello_a, a), (hello_b, b)):
                [turn] = [s for s in hello["iceServers"] if s.get("username")]
                expiry, _, holder = turn["username"].partition(":")
                assert holder == instance["instanceId"]
                assert time.time() < int(expiry) <= time.time() + 3600 + 5
            # Both stream, relay-only through coturn with those credentials.
            sessions = [await negotiate(ws, hello, relay_only=True) for ws, hello in ((ws_a, hello_a), (ws_b, hello_b))]
            for session in sessions:
                assert len(await session.latencies(3)) == 3
            assert await _refusal(nvcf.sign_in_url, nvcf.headers) == (
                503,
                "function instance busy: 2 of 2 instances have a session (maxInstances 2)",
            )
            for session in sessions:
                await session.pc.close()
        finally:
            await ws_a.close()
            await ws_b.close()
    # A clean close (1000) ends the sessions: both instances are free again.
    deadline = time.monotonic() + 5
    while any(i["sessionId"] for i in await nvcf.instances()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


@module
async def test_a_resume_reaches_the_same_instance_and_nobody_else_gets_it(nvcf: LocalNvcf) -> None:
    await nvcf.scale_to(2)
    async with aiohttp.ClientSession() as http:
        ws, first_hello = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
        request_id = _request_id(ws)
        assert first_hello["resumed"] is False
        assert ws._response is not None
        assert ws._response.cookies["nvcf-request-id"].value == request_id
        [held] = [i for i in await nvcf.instances() if i["sessionId"] == request_id]
        # Still connected: a second connection with the id is refused.
        assert await _refusal(nvcf.sign_in_url, {**nvcf.headers, "nvcf-reqid": request_id}) == (
            409,
            "session already connected",
        )
        await ws.close(code=4000)  # not 1000: the session waits for a resume
        await asyncio.sleep(0.3)
        # A new session meanwhile goes to the other instance.
        other, _ = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
        [elsewhere] = [i for i in await nvcf.instances() if i["sessionId"] == _request_id(other)]
        assert elsewhere["instanceId"] != held["instanceId"]
        await other.close()
        # The resume, by header, reaches the instance that held the session, with the same id.
        resumed, hello = await sign_in(http, nvcf.sign_in_url, headers={**nvcf.headers, "nvcf-reqid": request_id})
        assert _request_id(resumed) == request_id
        # The stream app continues the same session rather than starting a new one.
        assert hello["resumed"] is True and hello["sessionId"] == first_hello["sessionId"]
        [now] = [i for i in await nvcf.instances() if i["sessionId"] == request_id]
        assert (now["instanceId"], now["pid"]) == (held["instanceId"], held["pid"])
        await resumed.close(code=4001)
        await asyncio.sleep(0.3)  # the relay hears of the close a moment after our close handshake
        # ... and by the cookie alone, as a browser talking to the relay would.
        cookie = {**nvcf.headers, "Cookie": f"nvcf-request-id={request_id}"}
        again, _ = await sign_in(http, nvcf.sign_in_url, headers=cookie)
        assert _request_id(again) == request_id
        await again.close(code=4002)
    # After the resume window the id is gone.
    await asyncio.sleep(RESUME_WINDOW + 0.5)
    assert await _refusal(nvcf.sign_in_url, {**nvcf.headers, "nvcf-reqid": request_id}) == (404, "no existing session")
    assert await _refusal(nvcf.sign_in_url, {**nvcf.headers, "nvcf-reqid": "made-up"}) == (404, "no existing session")
    assert not any(i["sessionId"] for i in await nvcf.instances())


@module
async def test_the_relay_ends_a_dropped_session_gracefully_once_its_reconnect_window_is_over(nvcf: LocalNvcf) -> None:
    """The stream app keeps a dropped session while it may resume (its window is RESUME_WINDOW); the
    relay, as NVCF's sidecar, polls endsession and, once the sign-in's reconnect window (asked for
    with X-NVCF-RECONNECT-WINDOW-SECS) is over, ends it with gracefulShutdown."""
    # As the module leaves it (maxInstances instances up), but made here, so the test runs alone too.
    await nvcf.scale_to(2)
    async with aiohttp.ClientSession() as http:
        ws, _ = await sign_in(http, nvcf.sign_in_url, headers={**nvcf.headers, "X-NVCF-RECONNECT-WINDOW-SECS": "1"})
        request_id = _request_id(ws)
        await ws.close(code=4000)
        dropped = time.monotonic()
        deadline = dropped + RESUME_WINDOW + 10
        while any(i["sessionId"] == request_id for i in await nvcf.instances()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    assert time.monotonic() - dropped >= 1.0
    assert any(f"session {request_id}: reconnect window of 1 s over" in line for line in nvcf.recorder.lines)
    assert any("gracefulShutdown true): end now" in line for line in nvcf.recorder.lines)
    assert await _refusal(nvcf.sign_in_url, {**nvcf.headers, "nvcf-reqid": request_id}) == (404, "no existing session")


@module
async def test_instances_that_exit_are_replaced_up_to_min_instances(nvcf: LocalNvcf) -> None:
    before = await nvcf.scale_to(2)
    async with aiohttp.ClientSession() as http:
        ws, _ = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
        request_id = _request_id(ws)
        for instance in before:
            os.kill(instance["pid"], signal.SIGKILL)
        # The instance's end ends the session: the client is closed, and the id cannot be resumed.
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        [replacement] = await nvcf.wait_for_instances(1, replacing=before)
        assert await _refusal(nvcf.sign_in_url, {**nvcf.headers, "nvcf-reqid": request_id}) == (
            404,
            "no existing session",
        )
    assert replacement["pid"] is not None and replacement["pid"] not in {i["pid"] for i in before}
    assert any("starting a new instance" in line for line in nvcf.recorder.lines)
    async with aiohttp.ClientSession() as http:
        ws, hello = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
        assert hello["type"] == "hello"
        await ws.close()


@module
async def test_a_restart_of_nvcf_local_keeps_the_function_and_redeploys_it(nvcf: LocalNvcf) -> None:
    nvcf.child.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(nvcf.child.wait(), 15) == 0
    async with started_nvcf_local(nvcf.turn, nvcf.state, nvcf.api_key, nvcf.port) as again:
        again.function_id, again.version_id = nvcf.function_id, nvcf.version_id
        status, out, err = await nvcf_deploy(again, "status", nvcf.function_id, nvcf.version_id, "--wait")
        assert status == 0, err
        assert out.split()[-1] == "ACTIVE"
        [instance] = await again.wait_for_instances(1)
        processes = [psutil.Process(instance["pid"])]
        # Deleting the function version undeploys it: its processes are gone when delete returns.
        status, out, err = await nvcf_deploy(again, "delete", nvcf.function_id, nvcf.version_id)
        assert status == 0, err
        assert await wait_until_gone(processes, timeout=1) == []
        status, out, _ = await nvcf_deploy(again, "list")
        assert (status, out) == (0, "")
        status, _, err = await nvcf_deploy(again, "status", nvcf.function_id)
        assert status == 1
        assert err == f"nvcf-deploy: HTTP 404: function {nvcf.function_id} not found\n"


async def test_an_instance_that_exits_after_its_session_is_replaced(tmp_path: Path) -> None:
    """NVCF's way of serving sessions from fresh containers: the stream app exits with status 0
    after its session (`STREAM_APP_EXIT_AFTER_SESSION=1`) and nvcf-local starts a new instance."""

    def edit(data: dict[str, Any]) -> None:
        data["containerEnvironment"].append({"key": "STREAM_APP_EXIT_AFTER_SESSION", "value": "1"})

    definition = write_definition(tmp_path, edit)
    async with running_coturn(rest=True) as turn:
        async with started_nvcf_local(turn, tmp_path / "state.sqlite3", secrets.token_urlsafe(24)) as nvcf:
            await deploy_up(nvcf, definition.path, definition.data["name"], max_instances=1)
            [before] = await nvcf.wait_for_instances(1)
            async with aiohttp.ClientSession() as http:
                ws, hello = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
                assert hello["type"] == "hello"
                await ws.send_json({"v": 1, "type": "bye"})
                message = await ws.receive(timeout=10)
                assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == 1000
            deadline = time.monotonic() + 20
            while psutil.pid_exists(before["pid"]) and psutil.Process(before["pid"]).status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline, "the stream app did not exit after its session"
                await asyncio.sleep(0.1)
            [after] = await nvcf.wait_for_instances(1, replacing=[before])
            assert after["pid"] not in (None, before["pid"])
            assert any("exited with status 0" in line for line in nvcf.recorder.lines), nvcf.recorder.lines[-20:]
            # The replacement takes the next session.
            async with aiohttp.ClientSession() as http:
                ws, hello = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
                assert hello["resumed"] is False and hello["sessionId"] != ""
                await ws.close()


async def test_several_specifications_update_and_a_graceful_undeploy(tmp_path: Path) -> None:
    """Two deployment specifications are ACTIVE only with both minimums up, each instance placed as
    its specification says; an update changes the counts; a graceful undeploy (graceful=true) stops
    the free instance at once, the one holding a session when the session ends, and meanwhile the
    version is INACTIVE and a new deploy is refused with NVCF's message."""

    def edit(data: dict[str, Any]) -> None:
        data["containerEnvironment"].append({"key": "STREAM_APP_EXIT_AFTER_SESSION", "value": "0"})

    definition = write_definition(tmp_path, edit)
    specs = [
        {"gpu": "L40S", "instanceType": "gl40s_1.br25_2xlarge", "backend": "GFN", "regions": ["us-west-2"],
         "minInstances": 1, "maxInstances": 1},
        {"gpu": "L40S", "instanceType": "gl40s_1.br25_2xlarge", "clusters": ["eu-1"], "regions": ["eu-north-1"],
         "minInstances": 1, "maxInstances": 1, "maxRequestConcurrency": 1},
    ]  # fmt: skip
    (tmp_path / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
    async with running_coturn(rest=True) as turn:
        async with started_nvcf_local(turn, tmp_path / "state.sqlite3", secrets.token_urlsafe(24)) as nvcf:
            status, out, err = await nvcf_deploy(nvcf, "create", str(definition.path))
            assert status == 0, err
            created = next(line for line in out.splitlines() if line.startswith("created function"))
            nvcf.function_id, nvcf.version_id = created.split()[-3], created.split()[-1]
            ids = (nvcf.function_id, nvcf.version_id)
            status, out, err = await nvcf_deploy(
                nvcf, "deploy", *ids, "--specs", str(tmp_path / "specs.json"), "--wait"
            )
            assert status == 0, err + "\n".join(nvcf.recorder.lines[-30:])
            instances = await nvcf.wait_for_instances(2)
            regions = sorted(psutil.Process(i["pid"]).environ()["NVCF_REGION"] for i in instances)
            backends = sorted(psutil.Process(i["pid"]).environ()["NVCF_BACKEND"] for i in instances)
            assert (regions, backends) == (["eu-north-1", "us-west-2"], ["GFN", "eu-1"])

            bigger = [{**specs[0], "maxInstances": 2}, specs[1]]
            (tmp_path / "bigger.json").write_text(json.dumps(bigger), encoding="utf-8")
            status, out, err = await nvcf_deploy(nvcf, "update", *ids, "--specs", str(tmp_path / "bigger.json"))
            assert (status, out.split()[-1]) == (0, "ACTIVE"), err
            # The new maxInstances is used: with both instances busy a third starts, in the first spec.
            async with aiohttp.ClientSession() as http:
                first, _ = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
                second, _ = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
                third, _ = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
                [extra] = [i for i in await nvcf.instances() if i["sessionId"] == _request_id(third)]
                assert extra["instanceId"] not in {i["instanceId"] for i in instances}
                assert psutil.Process(extra["pid"]).environ()["NVCF_REGION"] == "us-west-2"
                for ws in (first, second, third):
                    await ws.close()
                await nvcf.wait_until_free()
            # Back to maxInstances 1: the instance above it, holding no session, stops.
            status, _, err = await nvcf_deploy(nvcf, "update", *ids, "--specs", str(tmp_path / "specs.json"))
            assert status == 0, err
            assert await wait_until_gone([psutil.Process(extra["pid"])], timeout=15) == []
            instances = await nvcf.wait_for_instances(2)
            moved = [{**specs[0], "gpu": "H100"}, specs[1]]
            (tmp_path / "moved.json").write_text(json.dumps(moved), encoding="utf-8")
            status, _, err = await nvcf_deploy(nvcf, "update", *ids, "--specs", str(tmp_path / "moved.json"))
            assert status == 1 and "GPU / InstanceType specs must match the ones in the original deployment" in err

            async with aiohttp.ClientSession() as http:
                ws, _ = await sign_in(http, nvcf.sign_in_url, headers=nvcf.headers)
                [busy] = [i for i in await nvcf.instances() if i["sessionId"] == _request_id(ws)]
                [free] = [i for i in instances if i["instanceId"] != busy["instanceId"]]
                status, out, err = await nvcf_deploy(nvcf, "undeploy", *ids, "--graceful")
                assert status == 0, err
                assert await wait_until_gone([psutil.Process(free["pid"])], timeout=10) == []
                assert psutil.Process(busy["pid"]).is_running()
                status, out, _ = await nvcf_deploy(nvcf, "status", *ids)
                assert out.split()[-1] == "INACTIVE"
                status, _, err = await nvcf_deploy(nvcf, "deploy", *ids, "--specs", str(tmp_path / "specs.json"))
                assert status == 1 and "Function deployment found for INACTIVE function" in err
                await ws.send_json({"v": 1, "type": "bye"})
                await ws.receive(timeout=10)
            assert await wait_until_gone([psutil.Process(busy["pid"])], timeout=15) == []
            status, _, err = await nvcf_deploy(nvcf, "deploy", *ids, "--specs", str(tmp_path / "specs.json"), "--wait")
            assert status == 0, err
