"""Free loopback ports for the servers the benchmarks and the tests start."""

from __future__ import annotations

import random
import socket

LOOPBACK = "127.0.0.1"


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 free right now for both TCP and UDP."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if _bindable(port, socket.SOCK_DGRAM):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def free_udp_port_range(count: int, low: int = 20000, high: int = 32000) -> tuple[int, int]:
    """`count` consecutive free UDP ports; returns (first, last).

    Picked below Linux's ephemeral range (32768-60999), where the OS hands out ports to `bind(0)`
    and outgoing connections, and away from the demo's defaults.
    """
    for _ in range(200):
        first = random.randint(low, high - count)
        if all(_bindable(port, socket.SOCK_DGRAM) for port in range(first, first + count)):
            return first, first + count - 1
    raise RuntimeError(f"no {count} consecutive free UDP ports in {low}-{high}")
