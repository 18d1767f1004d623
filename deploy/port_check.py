"""Whether a local port can be bound right now: checked before starting a server on it."""

from __future__ import annotations

import socket


def is_port_free(host: str, port: int, kind: socket.SocketKind) -> bool:
    """True when `port` on `host` can be bound for `kind` (TCP with SO_REUSEADDR, as servers bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"


def ephemeral_range(path: str = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range (first, last); Linux's default when it cannot be read.

    The OS gives ports in this range to `bind(0)` and to the source side of outgoing connections,
    so a port picked there and released can be taken by another socket before its server binds it.
    A port picked below the range stays free unless somebody asks for it by number.
    """
    try:
        with open(path, encoding="ascii") as file:
            first, last = (int(part) for part in file.read().split())
    except (OSError, ValueError):
        return 32768, 60999
    return first, last


def outside_ephemeral(port: int, ephemeral: tuple[int, int]) -> bool:
    """Whether `port` lies outside the kernel's ephemeral range `ephemeral`."""
    return not ephemeral[0] <= port <= ephemeral[1]
