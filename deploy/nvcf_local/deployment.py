"""A deployed function version: per deployment specification, ``minInstances`` to ``maxInstances``
instances, and who gets which.

For every specification the deployment keeps at least its ``minInstances`` running (replacing one
that exits, for example a stream app that exits after its session), starts another one when a
sign-in finds every instance busy (in the first specification below its ``maxInstances``), and
hands a new sign-in only an instance that is UP, holds no relay session, and whose ready endpoint
answers 200 now. Status follows NVCF's life cycle (`deploy.nvcf_local.specification`): ACTIVE once
every specification has its ``minInstances`` UP, ERROR (final: no more starts) after several starts
in a row that never became UP while DEPLOYING, DEGRADING/DEGRADED when an ACTIVE deployment falls
below its minimum. An update changes the instance counts of a running deployment; a graceful
undeploy stops taking sessions and stops each instance once its session is over.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from deploy.nvcf_local.config import NvcfLocalConfig
from deploy.nvcf_local.definition import FunctionDefinition
from deploy.nvcf_local.instance import FunctionInstance, InstancePorts, InstanceState, Placement, connect_host
from deploy.nvcf_local.specification import SERVICEABLE, Specification, Status, StatusTracker
from deploy.port_check import ephemeral_range, is_port_free, outside_ephemeral

logger = logging.getLogger(__name__)

# Starts in a row that never became UP before the status turns to ERROR.
FAILED_STARTS_BEFORE_ERROR = 3
_MAX_RESTART_DELAY = 10.0


INSTANCE_PORTS = (20000, 32000)
"""Where instances' ports are picked: below the kernel's ephemeral range, so no outgoing connection
takes a port between the pick and the instance's bind."""


@dataclass
class PortBook:
    """Host ports given to instances of every deployment, so two instances never share one."""

    taken: set[int] = field(default_factory=set)
    span: tuple[int, int] = INSTANCE_PORTS

    def fresh(self, host: str) -> int:
        """A TCP port free on `host` now, outside the ephemeral range and not given to any instance."""
        ephemeral = ephemeral_range()
        for _ in range(500):
            port = random.randint(*self.span)
            if port in self.taken or not outside_ephemeral(port, ephemeral):
                continue
            if is_port_free(host.strip("[]"), port, socket.SOCK_STREAM):
                return port
        raise RuntimeError(f"no free port on {host} in {self.span[0]}-{self.span[1]}")


async def _listening(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(connect_host(host).strip("[]"), port), 2.0)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


class Deployment:
    """Runs one function version's instances and routes new sessions to them."""

    def __init__(
        self,
        *,
        config: NvcfLocalConfig,
        function_id: str,
        version_id: str,
        definition: FunctionDefinition,
        specifications: Sequence[Specification],
        http: aiohttp.ClientSession,
        ports: PortBook,
    ) -> None:
        self.function_id = function_id
        self.version_id = version_id
        self.definition = definition
        self.specifications = list(specifications)
        self.instances: list[FunctionInstance] = []
        self.error_lines: list[str] = []
        self.draining = False
        self._tracker = StatusTracker(tuple(s.min_instances for s in specifications), FAILED_STARTS_BEFORE_ERROR)
        self._config = config
        self._http = http
        self._ports = ports
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._routing = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def min_instances(self) -> int:
        """``minInstances`` summed over the specifications."""
        return sum(s.min_instances for s in self.specifications)

    @property
    def max_instances(self) -> int:
        """``maxInstances`` summed over the specifications."""
        return sum(s.max_instances for s in self.specifications)

    def _ready(self) -> list[int]:
        return [
            sum(1 for i in self.instances if i.placement.spec_index == index and i.state is InstanceState.UP)
            for index in range(len(self.specifications))
        ]

    @property
    def status(self) -> str:
        """NVCF's status for the version (see the module's docstring)."""
        if self.draining:
            return Status.INACTIVE.value
        return self._tracker.observe(self._ready()).value

    def live(self, spec_index: int | None = None) -> list[FunctionInstance]:
        """Instances starting or UP (of one specification, if given)."""
        return [
            i
            for i in self.instances
            if i.state is not InstanceState.EXITED and (spec_index is None or i.placement.spec_index == spec_index)
        ]

    def start(self) -> None:
        """Start supervising: bring up ``minInstances`` and keep them up."""
        self._supervisor = asyncio.create_task(self._supervise(), name=f"deployment {self.function_id}")

    async def stop(self) -> None:
        """Stop every instance (SIGTERM, then SIGKILL) and the supervisor; returns once all are gone."""
        tasks = [t for t in (self._supervisor, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, poll: float = 0.2) -> None:
        """Graceful undeploy: take no new sessions, stop each instance once it holds none, then stop."""
        self.draining = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        while True:
            for instance in self.live():
                if instance.session_id is None and not instance.claimed:
                    instance.stop()
            if not self.live():
                break
            await asyncio.sleep(poll)
        await self.stop()

    def update(self, specifications: Sequence[Specification]) -> None:
        """Apply new instance counts (checked by `specification.check_update`). Instances above a
        new ``maxInstances`` that hold no session stop now; one holding a session stays until it
        exits (nvcf-local does not scale down idle instances later)."""
        self.specifications = list(specifications)
        self._tracker.resize([s.min_instances for s in specifications], self._ready())
        for index, spec in enumerate(specifications):
            surplus = len(self.live(index)) - spec.max_instances
            # The newest first: those were started for busy sign-ins, above the old minimum.
            free = [i for i in reversed(self.live(index)) if i.session_id is None and not i.claimed]
            for instance in free[: max(surplus, 0)]:
                instance.log(logging.INFO, "stopping: above maxInstances %d after an update", spec.max_instances)
                instance.stop()
        self._changed.set()

    async def _supervise(self) -> None:
        while True:
            if self.status == Status.ERROR.value:
                logger.error(
                    "function %s version %s: ERROR; no more instances start", self.function_id, self.version_id
                )
                return
            short = [index for index, s in enumerate(self.specifications) if len(self.live(index)) < s.min_instances]
            if short:
                if self._tracker.failed_starts:
                    # Back off so a command that fails at once does not spin.
                    await asyncio.sleep(min(0.5 * 2**self._tracker.failed_starts, _MAX_RESTART_DELAY))
                await self._launch(short[0])
                continue
            self._changed.clear()
            await self._changed.wait()

    async def _ports_for_instance(self) -> InstancePorts | None:
        """The definition's own ports for the first instance; fresh ones for instances beside it."""
        health_port, inference_port = self.definition.health.port, self.definition.inference_port
        if health_port not in self._ports.taken and inference_port not in self._ports.taken:
            # On NVCF every container has its own network; here a leftover process (a stream app
            # started by hand) would answer the health check in the instance's name.
            taken = [
                f"{name} {port}"
                for name, port in (("health.port", health_port), ("inferencePort", inference_port))
                if await _listening(self._config.host, port)
            ]
            if taken:
                message = (
                    f"not started: something else already listens on {' and '.join(taken)} ({self._config.host}); "
                    "stop it or change the definition"
                )
                logger.error("function %s: %s", self.function_id, message)
                self.error_lines = [message]
                return None
            return InstancePorts(control=health_port, streaming=inference_port)
        control = self._ports.fresh(self._config.host)
        self._ports.taken.add(control)
        try:
            return InstancePorts(control=control, streaming=self._ports.fresh(self._config.host), remapped=True)
        finally:
            self._ports.taken.discard(control)

    async def _launch(self, spec_index: int) -> FunctionInstance | None:
        """Start one more instance of a specification (not waiting for it to come up); None if it
        could not be placed."""
        ports = await self._ports_for_instance()
        if ports is None:
            self._tracker.start_failed(self._ready())
            self._changed.set()
            return None
        spec = self.specifications[spec_index]
        placement = Placement(
            gpu=spec.gpu,
            instance_type=spec.instance_type,
            backend=spec.backend or (spec.clusters[0] if spec.clusters else "local"),
            region=spec.region,
            spec_index=spec_index,
        )
        self._ports.taken.update((ports.control, ports.streaming))
        instance = FunctionInstance(
            config=self._config,
            function_id=self.function_id,
            version_id=self.version_id,
            definition=self.definition,
            ports=ports,
            http=self._http,
            placement=placement,
        )
        self.instances.append(instance)
        for job, name in ((self._run_instance(instance), "instance"), (self._note_up(instance), "up")):
            task = asyncio.create_task(job, name=f"{name} {instance.instance_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return instance

    async def _note_up(self, instance: FunctionInstance) -> None:
        """Tell the status tracker when the instance becomes ready; end when it exits first."""
        up = asyncio.ensure_future(instance.up.wait())
        exited = asyncio.ensure_future(instance.exited.wait())
        try:
            await asyncio.wait({up, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
            exited.cancel()
        if instance.up.is_set():
            self._tracker.became_ready(self._ready())

    async def _run_instance(self, instance: FunctionInstance) -> None:
        try:
            became_up = await instance.run()
        finally:
            self.instances.remove(instance)
            self._ports.taken.difference_update((instance.ports.control, instance.ports.streaming))
            self._changed.set()
        if became_up:
            replace = len(self.live(instance.placement.spec_index)) < (
                self.specifications[instance.placement.spec_index].min_instances
            )
            self._tracker.observe(self._ready())
            instance.log(
                logging.WARNING,
                "exited with status %s; %s",
                instance.exit_code,
                "starting a new instance" if replace else f"{len(self.live())} instances left",
            )
        else:
            self._tracker.start_failed(self._ready())
            self.error_lines = list(instance.last_lines)

    async def claim(self) -> FunctionInstance | str:
        """An instance for a new session, marked claimed; or why there is none (503 material).

        The caller must `release` the instance if it does not open a session on it.
        """
        status = self.status
        if Status(status) not in SERVICEABLE:
            return f"function instance not ready: status {status}"
        async with self._routing:
            not_ready = []
            for instance in [i for i in self.instances if i.free]:
                instance.claimed = True
                problem = await instance.ready()
                if problem is None:
                    return instance
                instance.claimed = False
                not_ready.append(problem)
            live = len(self.live())
            room = [i for i, s in enumerate(self.specifications) if len(self.live(i)) < s.max_instances]
            if not room:
                detail = f"; ready: {', '.join(not_ready)}" if not_ready else ""
                return (
                    f"function instance busy: {live} of {live} instances have a session "
                    f"(maxInstances {self.max_instances}){detail}"
                )
            new = await self._launch(room[0])
            if new is None:
                return "function instance could not be started (see nvcf-local's log)"
            new.claimed = True
            new.log(logging.INFO, "started for a sign-in: every other instance is busy")
        return await self._await_new(new)

    async def _await_new(self, instance: FunctionInstance) -> FunctionInstance | str:
        up = asyncio.ensure_future(instance.up.wait())
        exited = asyncio.ensure_future(instance.exited.wait())
        try:
            await asyncio.wait({up, exited}, timeout=self._config.sign_in_wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
            exited.cancel()
        if instance.state is InstanceState.UP and (problem := await instance.ready()) is None:
            return instance
        instance.claimed = False
        if instance.state is InstanceState.UP:
            return f"function instance busy: the new instance's {problem}"
        return f"function instance not ready: a new instance did not come up within {self._config.sign_in_wait:g} s"

    def release(self, instance: FunctionInstance) -> None:
        """Give back an instance `claim` returned, when no session was opened on it."""
        instance.claimed = False
