"""One instance of a deployed function: one run of its container command, supervised like an NVCF worker does.

The instance is the definition's container command run as a child process with the environment
NVCF gives a container. It is STARTING until its health check (the definition's ``health`` block)
answers the expected status and STUN/TURN credentials have been pushed to its control server, then
UP until the process exits. With a TURN secret the credentials are short-lived and its own, and are
pushed again at half their lifetime. `deploy.nvcf_local.deployment` decides when instances start,
stop and are replaced.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import ipaddress
import logging
import os
import time
import uuid
from dataclasses import dataclass

import aiohttp

from deploy.children import Child, ChildError, start_child
from deploy.nvcf_local.config import NvcfLocalConfig
from deploy.nvcf_local.definition import FunctionDefinition
from deploy.nvcf_local.turn_credentials import rest_credentials
from observability import set_log_context

logger = logging.getLogger(__name__)
_output_logger = logging.getLogger("deploy.nvcf_local.instance.output")

# Fixed by the LLS contract, whatever path the definition's health check names.
READY_PATH = "/v1/streaming/ready"
CREDS_PATH = "/v1/streaming/creds"
END_SESSION_PATH = "/v1/streaming/endsession"
# nvcf-local's account: every function belongs to it.
LOCAL_NCA_ID = "local"
_END_SESSION_TIMEOUT = 10.0
_READY_CHECK_TIMEOUT = 5.0
# Output lines kept per instance, shown in a deployment's ERROR details.
LAST_LINES = 20


class InstanceState(enum.Enum):
    """Where one instance is in its life."""

    STARTING = "STARTING"
    UP = "UP"
    EXITED = "EXITED"


@dataclass(frozen=True)
class InstancePorts:
    """The host ports an instance's control and streaming servers listen on.

    `remapped` is False for the definition's own ports (``health.port``, ``inferencePort``): then
    the container environment is left as the definition wrote it, as on NVCF. Instances beside the
    first get fresh ports, passed as ``CONTROL_SERVER_PORT`` and ``STREAMING_SERVER_PORT``.
    """

    control: int
    streaming: int
    remapped: bool = False


@dataclass(frozen=True)
class Placement:
    """Where NVCF would have placed an instance: its deployment specification's values."""

    gpu: str = "local"
    instance_type: str = "local"
    backend: str = "local"
    region: str = "local"
    spec_index: int = 0


def connect_host(host: str) -> str:
    """The address to reach a server listening on `host`: loopback for a wildcard, else `host`,
    bracketed when it is an IPv6 literal (for URLs)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "[::1]" if address.version == 6 else "127.0.0.1"
    return f"[{address}]" if address.version == 6 else str(address)


class _LastLines(logging.Handler):
    def __init__(self, keep: collections.deque[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self._keep = keep

    def emit(self, record: logging.LogRecord) -> None:
        self._keep.append(record.getMessage())


def instance_environment(
    *,
    function_id: str,
    version_id: str,
    definition: FunctionDefinition,
    ports: InstancePorts,
    base: dict[str, str],
    host: str,
    placement: Placement = Placement(),
) -> dict[str, str]:
    """The instance's environment: `base`, the definition's ``containerEnvironment``, NVCF's variables.

    NVCF's variables are those its control plane gives a function's workload container (NVIDIA/nvcf,
    ``common.MakeWorkloadEnvVars``: region, instance type, backend, environment, NCA id, function
    id, version id and name). ``NVCF_WORKER_NODE_IP`` is not among them: NVCF hands it to its
    streaming sidecar only. nvcf-local's own settings (``NVCF_LOCAL_*``, which hold the API key and
    TURN secrets) are removed: NVCF never hands its secrets to a container. Remapped ports (several
    instances share this machine; on NVCF each has its own network) replace the definition's port
    variables, and ``STREAM_APP_HOST`` is nvcf-local's own `host`, so an instance listens only
    where nvcf-local does: its control server (``/creds``, ``/endsession``) has no authentication,
    and on NVCF nothing but the worker can reach it.
    """
    env = {key: value for key, value in base.items() if not key.startswith("NVCF_LOCAL_")}
    env.update(definition.environment)
    if ports.remapped:
        env.update({"CONTROL_SERVER_PORT": str(ports.control), "STREAMING_SERVER_PORT": str(ports.streaming)})
    env.pop("NVCF_WORKER_NODE_IP", None)
    env.update(
        {
            "STREAM_APP_HOST": host,
            "NVCF_FUNCTION_ID": function_id,
            "NVCF_FUNCTION_VERSION_ID": version_id,
            "NVCF_FUNCTION_NAME": definition.name,
            "NVCF_NCA_ID": LOCAL_NCA_ID,
            "NVCF_REGION": placement.region,
            "NVCF_BACKEND": placement.backend,
            "NVCF_INSTANCETYPE": placement.instance_type,
            "NVCF_INSTANCETYPE_VALUE": placement.gpu,
            "NVCF_ENV": "local",
        }
    )
    return env


class FunctionInstance:
    """One run of the function's container command: start, health-check, push creds, wait for exit."""

    def __init__(
        self,
        *,
        config: NvcfLocalConfig,
        function_id: str,
        version_id: str,
        definition: FunctionDefinition,
        ports: InstancePorts,
        http: aiohttp.ClientSession,
        placement: Placement = Placement(),
    ) -> None:
        self.instance_id = str(uuid.uuid4())
        self.function_id = function_id
        self.version_id = version_id
        self.ports = ports
        self._state = InstanceState.STARTING
        self.exit_code: int | None = None
        # Set while a relay session holds this instance (connected, or waiting for a resume).
        self.session_id: str | None = None
        # Set from the moment a sign-in picked this instance until its session is registered.
        self.claimed = False
        self.last_lines: collections.deque[str] = collections.deque(maxlen=LAST_LINES)
        self.up = asyncio.Event()
        self.exited = asyncio.Event()
        self._stop_asked = asyncio.Event()
        self._config = config
        self.placement = placement
        self._definition = definition
        self._http = http
        self._child: Child | None = None
        self._host = connect_host(config.host)
        self._control = f"http://{self._host}:{ports.control}"
        self._output = logging.Logger(f"{_output_logger.name}.{self.instance_id[:8]}", logging.DEBUG)
        self._output.parent = _output_logger
        self._output.addHandler(_LastLines(self.last_lines))

    @property
    def state(self) -> InstanceState:
        """STARTING, UP or EXITED; EXITED from the moment the process has exited.

        `run` finishes a moment (up to two seconds: the rest of the output is logged) after the
        exit; in between an instance that said UP with no process let a listing show a dead
        instance as UP and the status stay ACTIVE with nothing to route a sign-in to.
        """
        child = self._child
        if child is not None and child.returncode is not None:
            return InstanceState.EXITED
        return self._state

    @property
    def pid(self) -> int | None:
        """Process id of the instance while it runs."""
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

    @property
    def inference_url(self) -> str:
        """Where the relay connects for a sign-in: ``ws://<node>:<port><inferenceUrl>``."""
        return f"ws://{self._host}:{self.ports.streaming}{self._definition.inference_url}"

    @property
    def free(self) -> bool:
        """UP and held by no session or pending sign-in."""
        return self.state is InstanceState.UP and self.session_id is None and not self.claimed

    def log(self, level: int, message: str, *args: object) -> None:
        """Log a line about this instance, naming its function and instance id."""
        logger.log(
            level,
            "function %s instance %s: " + message,
            self.function_id,
            self.instance_id,
            *args,
            extra={"function_id": self.function_id, "instance_id": self.instance_id},
        )

    def describe(self) -> dict[str, object]:
        """The instance as nvcf-local's instance listing shows it."""
        return {
            "instanceId": self.instance_id,
            "state": self.state.value,
            "pid": self.pid,
            "controlPort": self.ports.control,
            "streamingPort": self.ports.streaming,
            "sessionId": self.session_id,
        }

    async def run(self) -> bool:
        """Run the instance until it exits or the task is cancelled; True if it ever became UP."""
        prefix = f"[function {self.function_id[:8]} instance {self.instance_id[:8]}]"
        env = instance_environment(
            function_id=self.function_id,
            version_id=self.version_id,
            definition=self._definition,
            ports=self.ports,
            base=dict(os.environ),
            host=self._config.host,
            placement=self.placement,
        )
        # The stream app tags its log lines with this id, so both sides' lines about it match.
        env["STREAM_APP_INSTANCE_ID"] = self.instance_id
        set_log_context(function_id=self.function_id, instance_id=self.instance_id)
        try:
            try:
                child = await start_child(
                    "instance", self._config.instance_command, env=env, logger=self._output, prefix=prefix
                )
            except ChildError as exc:
                self.log(logging.ERROR, "%s", exc)
                self.last_lines.append(str(exc))
                return False
            self._child = child
            self.log(
                logging.INFO,
                "started (pid %d, control port %d, streaming port %d): %s",
                child.pid,
                self.ports.control,
                self.ports.streaming,
                " ".join(self._config.instance_command),
            )
            try:
                if not await self._bring_up(child):
                    return False
                self._state = InstanceState.UP
                self.up.set()
                self.log(logging.INFO, "UP: healthy, STUN/TURN credentials pushed")
                await self._serve(child)
                return True
            finally:
                self.exit_code = await child.stop()
        finally:
            self._state = InstanceState.EXITED
            self.exited.set()

    def stop(self) -> None:
        """Ask the instance to stop (SIGTERM, then SIGKILL after a grace period); `run` then returns."""
        self._stop_asked.set()

    async def _serve(self, child: Child) -> None:
        """Wait for the exit (or `stop`); with per-instance credentials, push fresh ones at half their lifetime."""
        turn = self._config.turn
        while True:
            wait = asyncio.ensure_future(child.wait())
            asked = asyncio.ensure_future(self._stop_asked.wait())
            refresh = turn.credential_ttl / 2 if turn.secret else None
            done, _ = await asyncio.wait({wait, asked}, timeout=refresh, return_when=asyncio.FIRST_COMPLETED)
            asked.cancel()
            if wait in done or asked in done:
                wait.cancel()
                return
            wait.cancel()
            if not await self._push_creds():
                self.log(logging.WARNING, "could not push fresh STUN/TURN credentials")

    async def _bring_up(self, child: Child) -> bool:
        """Wait until healthy, then push the credentials; False if it exits or takes too long."""
        deadline = time.monotonic() + self._config.start_timeout
        step = "become healthy"
        while True:
            if child.returncode is not None:
                self.log(logging.ERROR, "exited with status %s before it could %s", child.returncode, step)
                return False
            if self._stop_asked.is_set():
                self.log(logging.INFO, "stopped before it could %s", step)
                return False
            if time.monotonic() > deadline:
                self.log(logging.ERROR, "did not %s within %g s; stopping it", step, self._config.start_timeout)
                return False
            if step == "become healthy" and await self._healthy():
                self.log(logging.INFO, "healthy")
                step = "accept STUN/TURN credentials"
            if step != "become healthy" and await self._push_creds():
                return True
            await asyncio.sleep(self._config.health_poll_interval)

    async def _healthy(self) -> bool:
        health = self._definition.health
        try:
            async with self._http.get(
                self._control + health.uri, timeout=aiohttp.ClientTimeout(total=health.timeout_seconds)
            ) as response:
                if response.status == health.expected_status:
                    return True
                self.log(logging.DEBUG, "health check answered %d", response.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.log(logging.DEBUG, "health check failed: %s", exc or type(exc).__name__)
        return False

    def credentials(self) -> dict[str, object]:
        """The body of ``POST /v1/streaming/creds`` for this instance, fresh if the scheme is REST."""
        turn = self._config.turn
        if turn.secret:
            creds = rest_credentials(turn.secret, self.instance_id, now=time.time(), ttl=turn.credential_ttl)
            username, password = creds.username, creds.password
        else:
            username, password = turn.user, turn.password
        return {"stunIp": turn.host, "stunPort": turn.port, "username": username, "password": password}

    async def _push_creds(self) -> bool:
        try:
            async with self._http.post(
                self._control + CREDS_PATH, json=self.credentials(), timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status == 200:
                    return True
                text = (await response.text())[:200]
                self.log(logging.WARNING, "POST %s answered %d: %s", CREDS_PATH, response.status, text)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.log(logging.WARNING, "POST %s failed: %s", CREDS_PATH, exc or type(exc).__name__)
        return False

    async def ready(self) -> str | None:
        """None if the ready endpoint answers 200 now, else why not (for a log line)."""
        try:
            async with self._http.get(
                self._control + READY_PATH, timeout=aiohttp.ClientTimeout(total=_READY_CHECK_TIMEOUT)
            ) as response:
                return None if response.status == 200 else f"{READY_PATH} answered {response.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"unreachable: {exc or type(exc).__name__}"

    async def end_session(self, session_id: str, *, graceful: bool) -> str | None:
        """Call the instance's ``POST /v1/streaming/endsession`` as NVCF's sidecar does.

        Returns its ``sessionStatus`` (``AWAITING_RESUME`` or ``COMPLETE``), or None when the
        instance cannot be reached or answers something else (it has exited, or is not a stream app
        of this contract): then there is nothing left to resume.
        """
        body = {"sessionId": session_id, "gracefulShutdown": graceful}
        try:
            async with self._http.post(
                self._control + END_SESSION_PATH, json=body, timeout=aiohttp.ClientTimeout(total=_END_SESSION_TIMEOUT)
            ) as response:
                answer = await response.json(content_type=None) if response.status == 200 else None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            self.log(logging.INFO, "POST %s failed: %s", END_SESSION_PATH, exc or type(exc).__name__)
            return None
        status = answer.get("sessionStatus") if isinstance(answer, dict) else None
        if status not in ("AWAITING_RESUME", "COMPLETE"):
            self.log(logging.WARNING, "POST %s answered %r", END_SESSION_PATH, answer)
            return None
        return str(status)
