"""The UDP impairment relay on loopback: real sockets, an echo server as the target, counted datagrams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import pytest

from benchmarks.netlab.impairment import Impairment
from benchmarks.netlab.relay import ImpairmentRelay, RelayError, running_relay

Address = tuple[str, int]


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector loop's is no subclass

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.transport.sendto(data, addr)


class _Client(asyncio.DatagramProtocol):
    """Sends numbered datagrams and records when each echo came back."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.rtt: dict[int, float] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector loop's is no subclass

    def datagram_received(self, data: bytes, addr: Address) -> None:
        seq = int(data[:8])
        self.rtt[seq] = time.monotonic() - self.sent[seq]

    async def send(self, count: int, interval: float) -> None:
        for seq in range(count):
            self.sent[seq] = time.monotonic()
            self.transport.sendto(b"%08d" % seq + b"x" * 200)
            await asyncio.sleep(interval)


@asynccontextmanager
async def _echo_and_client(relay: Address) -> AsyncIterator[_Client]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=relay)
    try:
        yield client
    finally:
        transport.close()


@asynccontextmanager
async def _echo() -> AsyncIterator[Address]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[:2]
    finally:
        transport.close()


async def test_relay_adds_the_delay_of_each_direction() -> None:
    async with _echo() as target:
        relay = ImpairmentRelay(target, up=Impairment(delay_ms=20), down=Impairment(delay_ms=30))
        address = await relay.start("127.0.0.1")
        try:
            async with _echo_and_client(address) as client:
                await client.send(100, 0.002)
                await asyncio.sleep(0.3)
            counters = relay.counters()
        finally:
            relay.close()
    assert len(client.rtt) == 100
    rtts = sorted(client.rtt.values())
    assert 0.049 <= rtts[0]
    assert rtts[50] < 0.080  # generous: a loaded 2-core machine
    assert counters["up"]["received"] == counters["up"]["sent"] == 100
    assert counters["down"]["sent"] == 100 and counters["clients"] == 1


async def test_relay_drops_about_the_share_of_loss_asked_and_counts_it() -> None:
    async with _echo() as target:
        relay = ImpairmentRelay(target, down=Impairment(loss=0.1), seed=5)
        address = await relay.start("127.0.0.1")
        try:
            async with _echo_and_client(address) as client:
                await client.send(1000, 0.0005)
                await asyncio.sleep(0.2)
        finally:
            relay.close()
    down = relay.counters()["down"]
    assert down["received"] == 1000
    assert down["dropped"] + down["sent"] == 1000
    assert 60 <= down["dropped"] <= 140
    assert len(client.rtt) == down["sent"]


async def test_relay_process_changes_its_impairment_while_running() -> None:
    async with _echo() as target, running_relay(("127.0.0.1", 0), target) as relay:
        async with _echo_and_client(relay.address) as client:
            await client.send(20, 0.005)
            await asyncio.sleep(0.2)
            fast = sorted(client.rtt.values())
            await relay.set(down=Impairment(delay_ms=60))
            client.rtt.clear()
            client.sent.clear()
            await client.send(20, 0.005)
            await asyncio.sleep(0.3)
            slow = sorted(client.rtt.values())
        counters = await relay.counters()
    assert len(fast) == len(slow) == 20
    assert fast[10] < 0.030
    assert slow[0] >= 0.059
    assert counters["down"]["sent"] == 40


async def test_relay_process_refuses_a_bad_control_line_and_keeps_running() -> None:
    async with _echo() as target, running_relay(("127.0.0.1", 0), target) as relay:
        with pytest.raises(RelayError, match=r"loss 2\.0 is not a probability"):
            await relay._ask({"up": {"loss": 2}})
        with pytest.raises(RelayError, match="unknown control field"):
            await relay._ask({"rate": 5})
        assert (await relay.counters())["clients"] == 0
