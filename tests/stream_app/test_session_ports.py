"""Ports across many sessions: every candidate inside the range, nothing leaked afterwards."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import psutil
from support.scripted_client import candidate_ports, open_session
from support.stream_app_harness import running_stream_app

from benchmarks.ports import free_udp_port_range
from stream_app.ports import PortRange

SESSIONS = 20


def _udp_sockets() -> int:
    return len(psutil.Process().net_connections(kind="udp"))


async def test_twenty_consecutive_sessions_stay_in_range_and_leak_no_port(http: aiohttp.ClientSession) -> None:
    first, last = free_udp_port_range(6)
    port_range = PortRange(first, last)
    started = time.monotonic()
    async with running_stream_app(port_range, width=800, height=448, fps=15) as app:
        before = _udp_sockets()
        for index in range(SESSIONS):
            session = await open_session(http, app.sign_in_url)
            try:
                candidates = candidate_ports(session.answer_sdp)
                assert candidates and all(port in port_range for _, port, _ in candidates), (index, candidates)
                assert len(await session.latencies(1)) == 1
            finally:
                await session.close()
            deadline = time.monotonic() + 5
            while app.state.slot.busy:
                assert time.monotonic() < deadline, f"session {index} never ended"
                await asyncio.sleep(0.02)
        # The client's own sockets close asynchronously too; give them a moment.
        deadline = time.monotonic() + 5
        while _udp_sockets() > before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert _udp_sockets() <= before
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))  # raises if a session left it bound
    assert time.monotonic() - started < 90
