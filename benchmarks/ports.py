"""Free loopback ports for the servers the benchmarks and the tests start.

Every port handed out here lies outside the kernel's ephemeral range (see
`deploy.port_check.ephemeral_range`), so no other socket takes it between the pick and the bind.
"""

from __future__ import annotations

import random
import socket

from deploy.port_check import ephemeral_range, is_port_free, outside_ephemeral

LOOPBACK = "127.0.0.1"
SINGLE_PORTS = (10000, 19999)
"""Where `free_ports` picks: apart from `free_udp_port_range`'s, so the two never hand out the same port."""
UDP_RANGES = (20000, 32000)


def free_port() -> int:
    """A port on 127.0.0.1 free right now for both TCP and UDP, outside the ephemeral range."""
    return free_ports(1)[0]


def free_ports(count: int, low: int = SINGLE_PORTS[0], high: int = SINGLE_PORTS[1]) -> list[int]:
    """`count` different ports on 127.0.0.1, each free right now for both TCP and UDP.

    The ports are held while they are picked, so one call never hands out the same port twice.
    """
    ephemeral = ephemeral_range()
    held: list[socket.socket] = []
    try:
        for _ in range(200 + count):
            if len(held) == count:
                break
            port = random.randint(low, high)
            if not outside_ephemeral(port, ephemeral) or not is_port_free(LOOPBACK, port, socket.SOCK_DGRAM):
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        if len(held) < count:
            raise RuntimeError(f"no {count} free ports on 127.0.0.1 in {low}-{high}")
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_udp_port_range(count: int, low: int = UDP_RANGES[0], high: int = UDP_RANGES[1]) -> tuple[int, int]:
    """`count` consecutive free UDP ports outside the ephemeral range; returns (first, last)."""
    ephemeral = ephemeral_range()
    for _ in range(200):
        first = random.randint(low, high - count)
        ports = range(first, first + count)
        if all(outside_ephemeral(port, ephemeral) for port in ports) and all(
            is_port_free(LOOPBACK, port, socket.SOCK_DGRAM) for port in ports
        ):
            return first, first + count - 1
    raise RuntimeError(f"no {count} consecutive free UDP ports in {low}-{high}")
