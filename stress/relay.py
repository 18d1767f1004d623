"""Many concurrent proxied sessions exchanging numbered messages: none lost, doubled or reordered,
and the proxy's memory and file descriptors back to their baseline once the sessions close."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.processes import running_echo_server, running_proxy
from benchmarks.proxy_overhead import close_connections, open_connections
from benchmarks.tokens import token_issuer
from proxy.subprotocols import APP_PROTOCOL as SUBPROTOCOL
from stress.measure import Holdings, client, holdings

SECOND_ROUND_SECONDS = 10.0


class Tally:
    """What one session sent and what came back, in order."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.out_of_order = 0  # Duplicates and reorderings: any echo that is not the next number.

    def check(self, number: int) -> None:
        if number != self.received:
            self.out_of_order += 1
        self.received = max(self.received, number + 1)


async def _talk(ws: aiohttp.ClientWebSocketResponse, tally: Tally, index: int, until: float, interval: float) -> None:
    async def receive() -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                tally.check(int(msg.data.rsplit(":", 1)[1]))
                if tally.received == tally.sent and time.monotonic() >= until:
                    return

    receiving = asyncio.create_task(receive())
    # Spread the sessions' sends over the interval rather than all at once.
    await asyncio.sleep(interval * (index % 100) / 100)
    while time.monotonic() < until:
        await ws.send_str(f"{index}:{tally.sent}")
        tally.sent += 1
        await asyncio.sleep(interval)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):  # The last echoes.
            while tally.received < tally.sent and not receiving.done():
                await asyncio.sleep(0.05)
    receiving.cancel()
    await asyncio.gather(receiving, return_exceptions=True)


async def _settled(pid: int, baseline: Holdings, timeout: float = 30.0) -> tuple[Holdings, float]:
    """The proxy's holdings once its fds are back at the baseline (or when `timeout` runs out),
    and how long that took. Generous: closing handshakes take longer on a loaded machine."""
    started = time.monotonic()
    while True:
        now = holdings(pid)
        if now.fds <= baseline.fds or time.monotonic() - started > timeout:
            return now, time.monotonic() - started
        await asyncio.sleep(0.25)


async def run(workdir: Path, sessions: int, seconds: float, interval: float = 0.5) -> dict[str, Any]:
    """`sessions` WebSockets through one proxy for `seconds`, each sending a message every `interval`;
    then a second round of as many for at most 10 s."""
    async with (
        running_echo_server() as echo_port,
        token_issuer(workdir) as issuer,
        running_proxy(f"ws://127.0.0.1:{echo_port}", issuer, extra_env={"PROXY_LOG_LEVEL": "WARNING"}) as proxy,
        client() as http,
    ):
        url = f"ws://127.0.0.1:{proxy.port}/sign_in"
        protocols = [SUBPROTOCOL, f"token.{issuer.mint('stress')}"]
        warm, _ = await open_connections(http, url, 20, protocols)  # Imports, caches, first buffers.
        await close_connections(warm)
        await asyncio.sleep(1.0)  # The warm-up sessions' closing handshakes.
        baseline = holdings(proxy.child.pid)
        started = time.monotonic()
        connections, failed = await open_connections(http, url, sessions, protocols, timeout=120)
        opened_in = time.monotonic() - started
        tallies = [Tally() for _ in connections]
        peak = holdings(proxy.child.pid)
        until = time.monotonic() + seconds
        talking = asyncio.gather(*(_talk(ws, tallies[i], i, until, interval) for i, ws in enumerate(connections)))
        while not talking.done():
            await asyncio.wait({talking}, timeout=1.0)
            now = holdings(proxy.child.pid)
            peak = Holdings(max(peak.rss_mib, now.rss_mib), max(peak.fds, now.fds), max(peak.threads, now.threads), 0)
        await talking
        await close_connections(connections)
        after, settled_in = await _settled(proxy.child.pid, baseline)
        # Python keeps freed memory for reuse, so the first round raises the resident size once; a
        # second round of the same size shows whether anything grows per session.
        again, _ = await open_connections(http, url, sessions, protocols, timeout=120)
        again_tallies = [Tally() for _ in again]
        again_until = time.monotonic() + min(seconds, SECOND_ROUND_SECONDS)
        await asyncio.gather(*(_talk(ws, again_tallies[i], i, again_until, interval) for i, ws in enumerate(again)))
        await close_connections(again)
        after_second, _ = await _settled(proxy.child.pid, baseline)
        tallies += again_tallies
    sent = sum(t.sent for t in tallies)
    received = sum(min(t.received, t.sent) for t in tallies)
    return {
        "sessions": sessions,
        "opened": len(connections) + len(again),
        "failed_to_open": failed,
        "opened_in_s": round(opened_in, 1),
        "seconds": seconds,
        "messages_sent": sent,
        "messages_echoed": received,
        "lost": sent - received,
        "out_of_order": sum(t.out_of_order for t in tallies),
        "proxy_baseline": baseline.as_dict(),
        "proxy_peak": peak.as_dict(),
        "proxy_after": after.as_dict(),
        "fds_back_to_baseline": after.fds <= baseline.fds,
        "fds_back_in_s": round(settled_in, 1),
        "rss_above_baseline_mib": round(after.rss_mib - baseline.rss_mib, 1),
        "proxy_after_second_round": after_second.as_dict(),
        "rss_growth_in_second_round_mib": round(after_second.rss_mib - after.rss_mib, 1),
    }
