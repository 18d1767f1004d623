"""The lab brought up for a run: namespaces, coturn in the server namespace, the impairment relay
in the client namespace in front of it, and the way to change the link while a session runs.

    client namespace                         |  server namespace
    Chromium --TURN--> relay 127.0.0.1:R ----+---> coturn S:T ---> stream app / proxy / nvcf-local
    (the page's TURN is the relay)      veth (tbf both ends)      (ICE host candidate S)

`running_lab` moves the calling thread (the event loop's) into the server namespace for its
duration, so the stack, coturn and anything the harness opens (HTTP checks, pages servers) live
there with the code used on loopback; Chromium and the relay are put in the client namespace
explicitly (`ip netns exec`), wherever they are started from.
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import chromium as chromium_flags
from benchmarks.netlab.impairment import LinkState, Timeline
from benchmarks.netlab.namespace import Lab, network_lab
from benchmarks.netlab.relay import RelayProcess, running_relay
from benchmarks.ports import free_port, free_udp_port_range
from deploy.coturn import CoturnConfig, RunningCoturn, start_coturn


@dataclass
class NetLab:
    """A running lab: where things are, and `apply`/`play` to change the link."""

    lab: Lab
    coturn: RunningCoturn
    relay: RelayProcess
    workdir: Path
    state: LinkState = field(default_factory=LinkState)
    applied: list[tuple[float, LinkState]] = field(default_factory=list)
    """Every change made (monotonic time, state), for the results' record of what the link did."""

    @property
    def relay_address(self) -> str:
        """HOST:PORT of the relay in the client namespace: the TURN address to give the page."""
        return f"{self.relay.address[0]}:{self.relay.address[1]}"

    @property
    def server_address(self) -> str:
        """The server namespace's address: where the stack listens."""
        return self.lab.server_address

    async def apply(self, state: LinkState) -> None:
        """Put the link in `state` now: the rate cap (tc) and the relay's impairments."""
        if state.rate_bps != self.state.rate_bps:
            await asyncio.to_thread(self.lab.set_rate, state.rate_bps)
        if (state.up, state.down) != (self.state.up, self.state.down):
            await self.relay.set(up=state.up, down=state.down)
        self.state = state
        self.applied.append((time.monotonic(), state))

    async def play(self, timeline: Timeline, seconds: float) -> None:
        """Apply `timeline`'s changes at their times from now, for at most `seconds` (its first step
        is expected to be in force already)."""
        start = time.monotonic()
        for step in timeline.changes(seconds):
            await asyncio.sleep(max(0.0, start + step.at_s - time.monotonic()))
            await self.apply(step.state)

    def chromium(self, namespace: str) -> str:
        """An executable that runs Chromium inside `namespace` (for Playwright's `executable_path`;
        Playwright talks to it over a pipe, which `ip netns exec` passes on)."""
        path = self.workdir / f"chromium-{namespace}"
        if not path.exists():
            prefix = " ".join(self.lab.exec_prefix(namespace))
            path.write_text(f'#!/bin/sh\nexec {prefix} {chromium_flags.EXECUTABLE} "$@"\n', encoding="utf-8")
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return str(path)

    @staticmethod
    def secure_origins(origins: Sequence[str]) -> list[str]:
        """Chromium flags treating the lab's http origins as secure contexts: the stamp reader needs
        WebCodecs' `VideoFrame`, which only secure contexts have (loopback is one; 198.18.0.1 is not)."""
        return [f"--unsafely-treat-insecure-origin-as-secure={','.join(origins)}"] if origins else []


@asynccontextmanager
async def running_lab(workdir: Path, seed: int = 1) -> AsyncIterator[NetLab]:
    """Namespaces, coturn (server side) and the relay (client side); the calling thread in the server
    namespace until exit. Everything is stopped and the namespaces removed on exit."""
    with network_lab() as lab, lab.entered(lab.server):
        first, last = free_udp_port_range(21)
        coturn = await start_coturn(
            CoturnConfig.with_random_credentials(
                host=lab.server_address, port=free_port(), min_port=first, max_port=last
            ),
            state_parent=workdir,
        )
        try:
            async with running_relay(
                ("127.0.0.1", 0), (lab.server_address, coturn.port), prefix=lab.exec_prefix(lab.client), seed=seed
            ) as relay:
                netlab = NetLab(lab=lab, coturn=coturn, relay=relay, workdir=workdir)
                try:
                    yield netlab
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(lab.set_rate, None)
        finally:
            await coturn.stop()
