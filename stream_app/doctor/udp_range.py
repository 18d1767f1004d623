"""Can the media port range be bound? Binds every UDP port of it once, and names who holds the rest."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from stream_app.doctor.findings import Finding, fail, ok, warn
from stream_app.ports import PortRange

CHECK = "ports"


@dataclass(frozen=True)
class RangeProbe:
    """What binding each port of a range on `address` gave: taken ports with their holder, other errors."""

    address: str
    port_range: PortRange
    taken: tuple[tuple[int, str], ...] = ()
    errors: tuple[tuple[int, str], ...] = ()

    @property
    def free(self) -> int:
        """Ports that could be bound."""
        return len(self.port_range) - len(self.taken) - len(self.errors)


def wildcard_addresses(ice_addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Where to bind to see every port a session could want: the wildcard address of each family.

    A wildcard bind collides with a bind on any one address of its family, and the stream app's
    TURN client socket binds the IPv4 wildcard, so a port free there is free for every use.
    """
    families = {4} | {6 for a in ice_addresses if ":" in a}
    return tuple(address for version, address in ((4, "0.0.0.0"), (6, "::")) if version in families)


def _holders(ports: set[int]) -> dict[int, str]:
    """Who holds each of `ports` (UDP), as far as psutil may see: "name (pid N)"."""
    found: dict[int, str] = {}
    try:
        connections = psutil.net_connections(kind="udp")
    except psutil.Error:  # some systems refuse the whole table to non-root users
        return found
    for connection in connections:
        if not connection.laddr or connection.laddr.port not in ports or connection.laddr.port in found:
            continue
        if connection.pid is None:
            continue
        try:
            name = psutil.Process(connection.pid).name()
        except psutil.Error:
            name = "a process"
        found[connection.laddr.port] = f"{name} (pid {connection.pid})"
    return found


def probe_range(address: str, port_range: PortRange) -> RangeProbe:
    """Bind (and release at once) every UDP port of `port_range` on `address`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    taken: list[int] = []
    errors: list[tuple[int, str]] = []
    for port in range(port_range.first, port_range.last + 1):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            if family == socket.AF_INET6:
                # Only the IPv6 space: the IPv4 wildcard has its own probe.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    taken.append(port)
                else:
                    errors.append((port, exc.strerror or str(exc)))
    holders: Mapping[int, str] = _holders(set(taken)) if taken else {}
    return RangeProbe(
        address=address,
        port_range=port_range,
        taken=tuple((port, holders.get(port, "a process psutil cannot see")) for port in taken),
        errors=tuple(errors),
    )


def judge_range(probe: RangeProbe, needed: int) -> list[Finding]:
    """Findings for one probed range: all free, some taken (by whom), or binding refused."""
    where = f"UDP {probe.port_range} on {probe.address}"
    findings: list[Finding] = []
    if probe.errors:
        port, reason = probe.errors[0]
        findings.append(
            fail(
                CHECK,
                f"{where}: binding {len(probe.errors)} port(s) failed for a reason other than 'in use', "
                f"first {port}: {reason}.",
                "the container must be allowed to bind these UDP ports (security policy, address family); "
                "check STREAMING_PORT_BINDING_RANGE and ICE_HOST_ADDRESSES.",
            )
        )
    if probe.taken:
        shown = ", ".join(f"{port} by {holder}" for port, holder in probe.taken)
        what = f"{where}: {len(probe.taken)} of {len(probe.port_range)} taken ({shown}); {probe.free} free."
        fix = (
            "stop what holds them (a leftover stream app, another service), or move STREAMING_PORT_BINDING_RANGE; "
            "a running stream app's session holds some itself."
        )
        if probe.free < needed:
            findings.append(fail(CHECK, f"{what} A session needs {needed}.", fix))
        else:
            findings.append(warn(CHECK, what, fix))
    if not findings:
        findings.append(ok(CHECK, f"{where}: all {len(probe.port_range)} ports can be bound."))
    return findings
