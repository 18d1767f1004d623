"""Free loopback ports for the servers the benchmarks and the tests start."""

from __future__ import annotations

import random
import socket

from deploy.port_check import is_port_free

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 free right now for both TCP and UDP."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different ports on 127.0.0.1, each free right now for both TCP and UDP.

    The ports are held while they are picked, so two calls in a row cannot hand out the same one
    (two separate `free_port()` calls can: the OS may give a just-closed port out again).
    """
    held: list[socket.socket] = []
    try:
        for _ in range(100 + count):
            if len(held) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            if is_port_free(LOOPBACK, int(sock.getsockname()[1]), socket.SOCK_DGRAM):
                held.append(sock)
            else:
                sock.close()
        if len(held) < count:
            raise RuntimeError(f"no {count} free ports on 127.0.0.1")
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_udp_port_range(count: int, low: int = 20000, high: int = 32000) -> tuple[int, int]:
    """`count` consecutive free UDP ports; returns (first, last).

    Picked below Linux's ephemeral range (32768-60999), where the OS hands out ports to `bind(0)`
    and outgoing connections, and away from the demo's defaults.
    """
    for _ in range(200):
        first = random.randint(low, high - count)
        if all(is_port_free(LOOPBACK, port, socket.SOCK_DGRAM) for port in range(first, first + count)):
            return first, first + count - 1
    raise RuntimeError(f"no {count} consecutive free UDP ports in {low}-{high}")
