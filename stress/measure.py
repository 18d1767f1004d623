"""What a process (and its children) holds: memory, file descriptors, threads, sockets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import psutil


@dataclass(frozen=True)
class Holdings:
    """A snapshot of one process tree."""

    rss_mib: float
    fds: int
    threads: int
    sockets: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def holdings(pid: int, *, children: bool = False) -> Holdings:
    """Resident memory, fds, threads and inet sockets of `pid` (and its children when asked)."""
    root = psutil.Process(pid)
    processes = [root, *(root.children(recursive=True) if children else [])]
    rss = fds = threads = sockets = 0
    for process in processes:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                fds += process.num_fds()
                threads += process.num_threads()
                sockets += len(process.net_connections(kind="inet"))
        except psutil.NoSuchProcess:
            continue
    return Holdings(round(rss / 2**20, 1), fds, threads, sockets)


def client() -> aiohttp.ClientSession:
    """An HTTP client without a connection limit: each WebSocket holds its connection, and
    aiohttp's default (100) would make the 101st wait forever."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
