"""Whether a local port can be bound right now: checked before starting a server on it."""

from __future__ import annotations

import socket


def is_port_free(host: str, port: int, kind: socket.SocketKind) -> bool:
    """True when `port` on `host` can be bound for `kind` (TCP with SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
