"""Two network namespaces joined by one veth pair, with a `tc tbf` rate cap on each end.

`network_lab()` creates a *client* and a *server* namespace with unique names (``nsk-<pid>-<n>c``,
``...s``), one veth pair between them addressed from 198.18.0.0/15 (RFC 2544's benchmarking range,
used only inside these namespaces), ``lo`` up in each, and **no default route** and no link to the
host's interfaces, so nothing started inside can reach anything else. It always tears them down,
also when the body raises. `Lab.set_rate` caps both ends of the pair (each end's egress is one
direction of the access link) and can change the cap while traffic flows.

`Lab.entered(ns)` moves the calling thread into a namespace (``setns(2)``) for a ``with`` block:
sockets it opens and processes it starts from then on live there, so the benchmark harness can
start the stack with the code it uses on loopback and reach it. Everything here needs root.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CLIENT_ADDRESS: Final = "198.18.0.2"
SERVER_ADDRESS: Final = "198.18.0.1"
_PREFIX_LENGTH: Final = 30
_CLONE_NEWNET: Final = 0x40000000
_counter = itertools.count()

TBF_LATENCY_MS: Final = 100
"""How long a packet may wait in the cap's queue before tbf drops it: a modest access-link buffer
(a home router's is often deeper). Sized in time so it scales with the rate."""


class LabError(RuntimeError):
    """The lab cannot be built here (not root, no `ip`/`tc`) or a command failed; the message says which."""


def lab_unavailable() -> str | None:
    """Why the lab cannot run on this machine, or None when it can (tests skip with this reason)."""
    if os.geteuid() != 0:
        return "the network lab needs root (ip netns, veth, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the network lab needs `{tool}` (iproute2)"
    return None


def _run(argv: Sequence[str]) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def tbf_burst_bytes(rate_bps: int) -> int:
    """The bucket: 4 ms at the rate, at least 4 full-size packets (below that tbf starves one frame's burst)."""
    return max(4 * 1514, rate_bps // 8 * 4 // 1000)


@dataclass(frozen=True)
class Lab:
    """A client and a server namespace joined by a veth pair (`client_if` in client, `server_if` in server)."""

    client: str
    server: str
    client_if: str
    server_if: str
    client_address: str = CLIENT_ADDRESS
    server_address: str = SERVER_ADDRESS

    def exec_prefix(self, namespace: str) -> list[str]:
        """The command prefix that runs a program inside `namespace`."""
        return ["ip", "netns", "exec", namespace]

    def set_rate(self, rate_bps: int | None) -> None:
        """Cap both directions of the access link at `rate_bps` (None: uncapped); works while traffic flows."""
        for namespace, interface in ((self.client, self.client_if), (self.server, self.server_if)):
            if rate_bps is None:
                done = subprocess.run(
                    ["tc", "-n", namespace, "qdisc", "del", "dev", interface, "root"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
                del done  # "no such qdisc" when uncapped already: fine
                continue
            verb = "change" if "tbf" in self.qdisc(namespace, interface) else "replace"
            _run(
                [
                    "tc", "-n", namespace, "qdisc", verb, "dev", interface, "root", "tbf",
                    "rate", f"{rate_bps}bit", "burst", str(tbf_burst_bytes(rate_bps)), "latency", f"{TBF_LATENCY_MS}ms",
                ]
            )  # fmt: skip

    def qdisc(self, namespace: str, interface: str) -> str:
        """`tc qdisc show` of one interface (to see the cap in force)."""
        return _run(["tc", "-n", namespace, "qdisc", "show", "dev", interface])

    def interface_stats(self, namespace: str, interface: str) -> dict[str, int]:
        """Bytes and packets sent and received on an interface, from sysfs seen inside `namespace`."""
        out = _run(["ip", "-n", namespace, "-s", "-j", "link", "show", interface])
        import json

        stats = json.loads(out)[0]["stats64"]
        return {
            "rx_bytes": int(stats["rx"]["bytes"]),
            "tx_bytes": int(stats["tx"]["bytes"]),
            "rx_packets": int(stats["rx"]["packets"]),
            "tx_packets": int(stats["tx"]["packets"]),
            "tx_dropped": int(stats["tx"]["dropped"]),
        }

    @contextmanager
    def entered(self, namespace: str) -> Iterator[None]:
        """Run the calling thread in `namespace` for the block, then back where it was.

        Only the calling thread moves (network namespaces are per thread); the event loop's thread
        is the one that opens sockets and starts children, which is what the harness needs.
        """
        libc = ctypes.CDLL(None, use_errno=True)
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(str(Path("/run/netns") / namespace), os.O_RDONLY)
        try:
            if libc.setns(target, _CLONE_NEWNET) != 0:
                raise LabError(f"setns into {namespace}: {os.strerror(ctypes.get_errno())}")
            try:
                yield
            finally:
                if libc.setns(original, _CLONE_NEWNET) != 0:
                    raise LabError(f"setns back from {namespace}: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(target)
            os.close(original)


def lab_namespaces() -> list[str]:
    """The lab namespaces that exist now (any run's), for tests that check nothing is left behind."""
    out = _run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.startswith("nsk-")]


@contextmanager
def network_lab() -> Iterator[Lab]:
    """Create the two namespaces and their link; delete both on exit (deleting a namespace removes its veth end)."""
    reason = lab_unavailable()
    if reason is not None:
        raise LabError(reason)
    n = next(_counter)
    base = f"nsk-{os.getpid()}-{n}"
    tag = f"{os.getpid() % 100000}{n % 100}"  # interface names have at most 15 characters
    lab = Lab(client=f"{base}c", server=f"{base}s", client_if=f"nkc{tag}", server_if=f"nks{tag}")
    created: list[str] = []
    try:
        for namespace in (lab.client, lab.server):
            _run(["ip", "netns", "add", namespace])
            created.append(namespace)
            _run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        _run(
            [
                "ip",
                "link",
                "add",
                lab.client_if,
                "netns",
                lab.client,
                "type",
                "veth",
                "peer",
                "name",
                lab.server_if,
                "netns",
                lab.server,
            ]
        )
        for namespace, interface, address in (
            (lab.client, lab.client_if, lab.client_address),
            (lab.server, lab.server_if, lab.server_address),
        ):
            _run(["ip", "-n", namespace, "addr", "add", f"{address}/{_PREFIX_LENGTH}", "dev", interface])
            _run(["ip", "-n", namespace, "link", "set", interface, "up"])
        yield lab
    finally:
        for namespace in reversed(created):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10, check=False)
