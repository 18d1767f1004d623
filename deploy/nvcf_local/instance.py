"""One instance of the streaming function, supervised the way an NVCF worker supervises its container.

The instance is the definition's container command run as a child process with the environment
NVCF gives a container. It is DEPLOYING until its health check answers the expected status and
the STUN/TURN credentials have been pushed to its control server, then ACTIVE. When it exits it is
started again (DEPLOYING until healthy again); after several starts in a row that never became
healthy the function reports ERROR while nvcf-local keeps trying, more slowly.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
import uuid
from dataclasses import dataclass

import aiohttp

from deploy.children import Child, ChildError, start_child
from deploy.nvcf_local.config import NvcfLocalConfig
from deploy.nvcf_local.definition import FunctionDefinition

logger = logging.getLogger(__name__)

# NVCF's worker reaches the container on the node's own address; locally that is loopback.
WORKER_NODE_IP = "127.0.0.1"
# Fixed by the LLS contract, whatever path the definition's health check names.
READY_PATH = "/v1/streaming/ready"
CREDS_PATH = "/v1/streaming/creds"
# Starts in a row that never became healthy before the status turns to ERROR.
_FAILED_STARTS_BEFORE_ERROR = 3
_MAX_RESTART_DELAY = 10.0
_READY_CHECK_TIMEOUT = 5.0


class InstanceStatus(enum.Enum):
    """The function version's status, in NVCF's words."""

    DEPLOYING = "DEPLOYING"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


class Unavailability(enum.Enum):
    """Why the instance cannot take a sign-in now."""

    NOT_ACTIVE = "not active"
    BUSY = "busy"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class InstanceUnavailable:
    """The instance cannot take a sign-in now, and why (for the client to read)."""

    kind: Unavailability
    reason: str


def instance_environment(
    config: NvcfLocalConfig, definition: FunctionDefinition, base: dict[str, str]
) -> dict[str, str]:
    """The instance's environment: `base`, the definition's ``containerEnvironment``, NVCF's variables.

    nvcf-local's own settings (``NVCF_LOCAL_*``, which hold the API key and TURN password) are
    removed: NVCF never hands its secrets to a container.
    """
    env = {key: value for key, value in base.items() if not key.startswith("NVCF_LOCAL_")}
    env.update(definition.environment)
    env.update(
        {
            "NVCF_FUNCTION_ID": config.function_id,
            "NVCF_FUNCTION_VERSION_ID": config.version_id,
            "NVCF_NCA_ID": "local",
            "NVCF_REGION": "local",
            "NVCF_WORKER_NODE_IP": WORKER_NODE_IP,
        }
    )
    return env


class FunctionInstance:
    """Runs, health-checks, configures and restarts the function's one instance."""

    def __init__(self, config: NvcfLocalConfig, definition: FunctionDefinition) -> None:
        self._config = config
        self._definition = definition
        self._status = InstanceStatus.DEPLOYING
        self._instance_id: str | None = None
        self._child: Child | None = None
        self._http: aiohttp.ClientSession | None = None
        self._control = f"http://{WORKER_NODE_IP}:{definition.health.port}"

    @property
    def status(self) -> InstanceStatus:
        """DEPLOYING, ACTIVE (healthy and credentials pushed) or ERROR (keeps failing to start)."""
        return self._status

    @property
    def instance_id(self) -> str | None:
        """Id of the current instance; a restarted instance gets a new one."""
        return self._instance_id

    @property
    def pid(self) -> int | None:
        """Process id of the current instance, if one runs."""
        child = self._child
        return child.pid if child is not None and child.returncode is None else None

    @property
    def inference_url(self) -> str:
        """Where the relay connects for a sign-in: ``ws://<node>:<inferencePort><inferenceUrl>``."""
        return f"ws://{WORKER_NODE_IP}:{self._definition.inference_port}{self._definition.inference_url}"

    def _log(self, level: int, message: str, *args: object) -> None:
        logger.log(level, "function %s instance %s: " + message, self._config.function_id, self._instance_id, *args)

    async def run(self) -> None:
        """Keep an instance running until cancelled; cancelling stops it."""
        failed_starts = 0
        async with aiohttp.ClientSession() as http:
            self._http = http
            try:
                while True:
                    if await self._run_once():
                        failed_starts = 0
                    else:
                        failed_starts += 1
                    self._status = (
                        InstanceStatus.ERROR
                        if failed_starts >= _FAILED_STARTS_BEFORE_ERROR
                        else InstanceStatus.DEPLOYING
                    )
                    # Back off so a command that fails at once does not spin.
                    await asyncio.sleep(min(0.5 * 2**failed_starts, _MAX_RESTART_DELAY) if failed_starts else 0.2)
            finally:
                self._http = None

    async def _ports_taken(self) -> list[str]:
        """The instance's ports where something already answers (locally there is no container network)."""
        taken = []
        ports = (("health.port", self._definition.health.port), ("inferencePort", self._definition.inference_port))
        for name, port in ports:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(WORKER_NODE_IP, port), 2.0)
            except (TimeoutError, OSError):
                continue
            writer.close()
            taken.append(f"{name} {port}")
        return taken

    async def _run_once(self) -> bool:
        """Start one instance and supervise it until it exits; True if it became ACTIVE."""
        self._instance_id = str(uuid.uuid4())
        # Another process on these ports would answer the health check in the instance's name.
        taken = await self._ports_taken()
        if taken:
            self._log(
                logging.ERROR,
                "not started: something else already listens on %s (127.0.0.1); stop it or change the definition",
                " and ".join(taken),
            )
            return False
        prefix = f"[function {self._config.function_id[:8]} instance {self._instance_id[:8]}]"
        try:
            child = await start_child(
                "instance",
                self._config.instance_command,
                env=instance_environment(self._config, self._definition, dict(os.environ)),
                logger=logging.getLogger("deploy.nvcf_local.instance.output"),
                prefix=prefix,
            )
        except ChildError as exc:
            self._log(logging.ERROR, "%s", exc)
            return False
        self._child = child
        self._log(logging.INFO, "started (pid %d): %s", child.pid, " ".join(self._config.instance_command))
        try:
            if not await self._bring_up(child):
                return False
            self._status = InstanceStatus.ACTIVE
            self._log(logging.INFO, "ACTIVE: healthy, STUN/TURN credentials pushed")
            code = await child.wait()
            self._status = InstanceStatus.DEPLOYING
            self._log(logging.WARNING, "exited with status %s; starting a new instance", code)
            return True
        finally:
            if self._status is InstanceStatus.ACTIVE:
                self._status = InstanceStatus.DEPLOYING
            await child.stop()
            self._child = None

    async def _bring_up(self, child: Child) -> bool:
        """Wait until healthy, then push the credentials; False if it exits or takes too long."""
        deadline = time.monotonic() + self._config.start_timeout
        step = "become healthy"
        while True:
            if child.returncode is not None:
                self._log(logging.ERROR, "exited with status %s before it could %s", child.returncode, step)
                return False
            if time.monotonic() > deadline:
                self._log(logging.ERROR, "did not %s within %g s; stopping it", step, self._config.start_timeout)
                return False
            if step == "become healthy" and await self._healthy():
                self._log(logging.INFO, "healthy")
                step = "accept STUN/TURN credentials"
            if step != "become healthy" and await self._push_creds():
                return True
            await asyncio.sleep(self._config.health_poll_interval)

    async def _healthy(self) -> bool:
        health = self._definition.health
        assert self._http is not None
        try:
            async with self._http.get(
                self._control + health.uri, timeout=aiohttp.ClientTimeout(total=health.timeout_seconds)
            ) as response:
                if response.status == health.expected_status:
                    return True
                self._log(logging.DEBUG, "health check answered %d", response.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._log(logging.DEBUG, "health check failed: %s", exc or type(exc).__name__)
        return False

    async def _push_creds(self) -> bool:
        turn = self._config.turn
        body = {"stunIp": turn.host, "stunPort": turn.port, "username": turn.user, "password": turn.password}
        assert self._http is not None
        try:
            async with self._http.post(
                self._control + CREDS_PATH, json=body, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status == 200:
                    return True
                text = (await response.text())[:200]
                self._log(logging.WARNING, "POST %s answered %d: %s", CREDS_PATH, response.status, text)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._log(logging.WARNING, "POST %s failed: %s", CREDS_PATH, exc or type(exc).__name__)
        return False

    async def check_ready(self) -> InstanceUnavailable | None:
        """None if the instance can take a sign-in now (ACTIVE and its ready endpoint answers 200)."""
        if self._status is not InstanceStatus.ACTIVE or self._http is None:
            return InstanceUnavailable(
                Unavailability.NOT_ACTIVE, f"function instance not ready: status {self._status.value}"
            )
        try:
            async with self._http.get(
                self._control + READY_PATH, timeout=aiohttp.ClientTimeout(total=_READY_CHECK_TIMEOUT)
            ) as response:
                if response.status == 200:
                    return None
                return InstanceUnavailable(
                    Unavailability.BUSY, f"function instance busy: {READY_PATH} answered {response.status}"
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return InstanceUnavailable(
                Unavailability.UNREACHABLE, f"function instance unreachable: {exc or type(exc).__name__}"
            )
