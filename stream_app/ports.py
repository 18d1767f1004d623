"""Binds UDP sockets inside NVCF's media port range (`STREAMING_PORT_BINDING_RANGE`)."""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
from collections.abc import Collection
from dataclasses import dataclass


class PortRangeError(ValueError):
    """A port range setting that cannot be used."""


class PortRangeExhausted(OSError):
    """Every port of the range is taken on the requested address."""


@dataclass(frozen=True)
class PortRange:
    """An inclusive range of UDP ports, e.g. 47998-48020."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not (1 <= self.first <= self.last <= 65535):
            raise PortRangeError(f"port range {self.first}-{self.last} must satisfy 1 <= first <= last <= 65535")

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """Parse `first-last` (or a single port)."""
        first_text, sep, last_text = text.strip().partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if sep else first
        except ValueError:
            raise PortRangeError(f"port range {text!r} is not of the form FIRST-LAST") from None
        return cls(first, last)

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def bind_udp(address: str, ports: PortRange, *, avoid: Collection[int] = (), shuffled: bool = False) -> socket.socket:
    """Return a non-blocking UDP socket bound to the first free port of `ports` on `address`.

    Ports in `avoid` are skipped; `shuffled` tries the ports in random order instead of from the
    first. Binding is synchronous and the OS refuses a taken port, so two gathers running at once
    (in this process or another) never get the same port. There is no fallback to an OS-chosen port.
    """
    family = socket.AF_INET6 if ipaddress.ip_address(address.split("%")[0]).version == 6 else socket.AF_INET
    candidates = [port for port in range(ports.first, ports.last + 1) if port not in avoid]
    if shuffled:
        random.shuffle(candidates)
    in_use = 0
    for port in candidates:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                in_use += 1
                continue
            raise
        sock.setblocking(False)
        return sock
    avoided = len(ports) - len(candidates)
    raise PortRangeExhausted(
        errno.EADDRINUSE,
        f"no free UDP port in {ports} on {address}; {in_use} in use" + (f", {avoided} avoided" if avoided else ""),
    )
