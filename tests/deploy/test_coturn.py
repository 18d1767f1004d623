"""deploy.coturn: a real coturn on loopback with long-term credentials, leaving nothing behind."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import psutil
import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint
from support.processes import wait_until_gone
from support.services import running_coturn

from benchmarks.ports import free_port, free_udp_port_range
from deploy.coturn import (
    CoturnConfig,
    CoturnError,
    RunningCoturn,
    start_coturn,
    stun_binding,
    turnserver_argv,
)
from deploy.nvcf_local.turn_credentials import rest_credentials


async def test_answers_a_stun_binding_on_loopback(coturn: RunningCoturn) -> None:
    assert coturn.host == "127.0.0.1"
    assert await stun_binding(coturn.host, coturn.port, timeout=1.0)


async def test_the_binding_answer_maps_the_client_address(coturn: RunningCoturn) -> None:
    # Done by hand with a plain socket, so the test does not lean on stun_binding itself.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        sock.sendto(bytes(request), (coturn.host, coturn.port))
        answer = stun.parse_message(sock.recv(2048))
        assert answer.transaction_id == request.transaction_id
        assert answer.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()


async def test_allocates_a_relay_in_its_range_with_its_credentials(coturn: RunningCoturn) -> None:
    transport, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=(coturn.host, coturn.port),
        username=coturn.user,
        password=coturn.password,
        transport="udp",
    )
    try:
        relay_host, relay_port = transport.get_extra_info("sockname")
        assert relay_host == "127.0.0.1"
        assert coturn.config.min_port <= relay_port <= coturn.config.max_port
    finally:
        transport.close()


async def test_refuses_a_wrong_password(coturn: RunningCoturn) -> None:
    with pytest.raises(stun.TransactionFailed, match="401"):
        await create_turn_endpoint(
            asyncio.DatagramProtocol,
            server_addr=(coturn.host, coturn.port),
            username=coturn.user,
            password=coturn.password + "x",
            transport="udp",
        )


async def test_listens_on_loopback_only(coturn: RunningCoturn) -> None:
    addresses = {c.laddr.ip for c in psutil.Process(coturn.pid).net_connections(kind="inet") if c.laddr}
    assert addresses == {"127.0.0.1"}


async def test_the_password_is_not_on_its_command_line(coturn: RunningCoturn) -> None:
    assert not any(coturn.password in arg for arg in psutil.Process(coturn.pid).cmdline())


def test_the_command_line_keeps_coturn_on_loopback_and_in_its_directory() -> None:
    workdir = Path("/tmp/coturn-x")
    argv = turnserver_argv("turnserver", CoturnConfig(user="u", password="p", port=3478), workdir)
    assert argv[:3] == ["turnserver", "-c", "/tmp/coturn-x/turnserver.conf"]
    for option in (
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        "--listening-port=3478",
        "--lt-cred-mech",
        "--allow-loopback-peers",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--userdb=/tmp/coturn-x/turndb",
        "--pidfile=/tmp/coturn-x/turnserver.pid",
        "--log-file=stdout",
    ):
        assert option in argv


async def test_stop_ends_the_process_and_removes_its_directory() -> None:
    first, last = free_udp_port_range(5)
    running = await start_coturn(CoturnConfig.with_random_credentials(port=free_port(), min_port=first, max_port=last))
    process = psutil.Process(running.pid)
    assert (running.workdir / "turnserver.conf").stat().st_mode & 0o077 == 0
    await running.stop()
    assert await wait_until_gone([process], timeout=3) == []
    assert not running.workdir.exists()
    assert not await stun_binding(running.host, running.port, timeout=0.3)


async def test_random_credentials_differ_each_time() -> None:
    one, two = CoturnConfig.with_random_credentials(), CoturnConfig.with_random_credentials()
    assert one.user != two.user and one.password != two.password


async def test_a_missing_turnserver_is_a_clear_error() -> None:
    config = CoturnConfig.with_random_credentials(port=free_port(), binary="turnserver-not-installed")
    with pytest.raises(CoturnError, match="'turnserver-not-installed' not found on PATH: install coturn"):
        await start_coturn(config)


async def test_a_taken_port_is_a_clear_error(coturn: RunningCoturn) -> None:
    first, last = free_udp_port_range(3)
    config = CoturnConfig.with_random_credentials(port=coturn.port, min_port=first, max_port=last)
    with pytest.raises(CoturnError, match=f"port {coturn.port} on 127.0.0.1 is already in use"):
        await start_coturn(config)


async def test_coturn_that_exits_at_once_is_reported_with_its_status() -> None:
    # "false" stands in for a turnserver that cannot start (bad option, missing library).
    config = CoturnConfig.with_random_credentials(port=free_port(), binary="false")
    with pytest.raises(CoturnError, match="coturn exited with status 1 before answering"):
        await start_coturn(config)


# --- coturn's REST scheme (--use-auth-secret), as nvcf-local's per-instance credentials use it ---


async def _allocates(turn: RunningCoturn, username: str, password: str) -> bool:
    try:
        transport, _ = await asyncio.wait_for(
            create_turn_endpoint(
                asyncio.DatagramProtocol,
                server_addr=(turn.host, turn.port),
                username=username,
                password=password,
                transport="udp",
            ),
            5,
        )
    except Exception:
        return False
    transport.close()
    return True


async def test_with_an_auth_secret_it_relays_for_fresh_rest_credentials_only() -> None:
    async with running_coturn(rest=True) as turn:
        assert turn.auth_secret
        fresh = rest_credentials(turn.auth_secret, "instance-a", now=time.time(), ttl=600)
        expired = rest_credentials(turn.auth_secret, "instance-a", now=time.time() - 700, ttl=600)
        forged = rest_credentials("not-the-secret", "instance-a", now=time.time(), ttl=600)
        assert fresh.username.endswith(":instance-a")
        assert await _allocates(turn, fresh.username, fresh.password)
        assert not await _allocates(turn, expired.username, expired.password)
        assert not await _allocates(turn, forged.username, forged.password)
        # A secret replaces the long-term user: coturn refuses static users once a secret is set.
        assert not await _allocates(turn, turn.user, turn.password)
