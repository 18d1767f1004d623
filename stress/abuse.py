"""The hostile cases of docs/security.md at scale against one proxy, while a legitimate session keeps
talking through it: sockets that never sign in (pinging, or sending a huge first message), slow
headers, deeply nested JSON, and rate-limit evasion with forged forwarding headers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.processes import running_echo_server, running_proxy
from benchmarks.tokens import TokenIssuer, token_issuer
from proxy.subprotocols import APP_PROTOCOL as SUBPROTOCOL
from stress.measure import client, holdings

AUTH_TIMEOUT = 10.0  # The default: every attacking socket is still waiting when the last connects.
HEADER_TIMEOUT = 3.0
MAX_UNAUTHENTICATED = 256
MEMORY_BOUND_MIB = 200.0
"""The proxy's resident memory must stay under this for the whole run (it starts near 50 MiB)."""
NESTED_TOKEN = (
    base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode() + ".e30.c2ln"
)  # A JOSE header nested 1,500 deep.


async def _legitimate(http: aiohttp.ClientSession, url: str, token: str, stop: asyncio.Event) -> dict[str, Any]:
    """One real session sending a message every 100 ms and timing each echo."""
    worst, count, failures = 0.0, 0, 0
    async with http.ws_connect(url, protocols=[SUBPROTOCOL, f"token.{token}"]) as ws:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await ws.send_str(f"legit:{count}")
                msg = await ws.receive(timeout=5)
                if msg.type is not aiohttp.WSMsgType.TEXT or msg.data != f"legit:{count}":
                    failures += 1
            except (TimeoutError, aiohttp.ClientError):
                failures += 1
            worst = max(worst, time.monotonic() - started)
            count += 1
            await asyncio.sleep(0.1)
    return {"messages": count, "failures": failures, "worst_echo_ms": round(worst * 1000, 1)}


async def _preauth_socket(http: aiohttp.ClientSession, url: str, oversized: bool) -> str:
    """A socket that never shows a token: it pings (or sends a 64 KiB first message); how it ended."""
    try:
        ws = await http.ws_connect(url, protocols=[SUBPROTOCOL], autoclose=False)
    except aiohttp.WSServerHandshakeError as exc:
        return f"http-{exc.status}"
    except (aiohttp.ClientError, OSError, TimeoutError):
        return "connect-failed"
    try:
        if oversized:
            await ws.send_str("x" * 64 * 1024)
        async with asyncio.timeout(AUTH_TIMEOUT + 5):
            while True:
                if not oversized:
                    await ws.ping()
                with contextlib.suppress(TimeoutError):
                    msg = await ws.receive(timeout=0.5)
                    if msg.type is aiohttp.WSMsgType.CLOSE:
                        return f"close-{msg.data}"
                    if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return "closed"
    except TimeoutError:
        return "still-open"
    finally:
        await ws.close()


async def _slow_headers(port: int) -> float | None:
    """Trickle header bytes forever; seconds until the proxy closed the connection (None: it never did)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        async with asyncio.timeout(HEADER_TIMEOUT + 5):
            while True:
                writer.write(b"X")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        if await reader.read(1024) == b"":
                            return time.monotonic() - started
    except (TimeoutError, ConnectionError):
        return None if time.monotonic() - started > HEADER_TIMEOUT + 4 else time.monotonic() - started
    finally:
        writer.close()


async def _nested(http: aiohttp.ClientSession, url: str) -> str:
    try:
        async with http.ws_connect(url, protocols=[SUBPROTOCOL, f"token.{NESTED_TOKEN}"]) as ws:
            msg = await ws.receive(timeout=5)
            return f"close-{msg.data}" if msg.type is aiohttp.WSMsgType.CLOSE else str(msg.type)
    except aiohttp.WSServerHandshakeError as exc:
        return f"http-{exc.status}"


def _count(outcomes: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome)] = counts.get(str(outcome), 0) + 1
    return dict(sorted(counts.items()))


async def _attacks(http: aiohttp.ClientSession, port: int, scale: int) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/sign_in"
    preauth = [_preauth_socket(http, url, oversized=i % 8 == 0) for i in range(scale * 400 // 100)]
    slow = [_slow_headers(port) for _ in range(scale * 150 // 100)]
    nested = [_nested(http, url) for _ in range(scale * 300 // 100)]
    results = await asyncio.gather(asyncio.gather(*preauth), asyncio.gather(*slow), asyncio.gather(*nested))
    preauth_outcomes, slow_times, nested_outcomes = results
    closed = [t for t in slow_times if t is not None]
    return {
        "preauth_sockets": {"count": len(preauth), "outcomes": _count(preauth_outcomes)},
        "slow_headers": {
            "count": len(slow),
            "closed": len(closed),
            "closed_within_s": round(max(closed), 2) if closed else None,
        },
        "nested_json_sign_ins": {"count": len(nested), "outcomes": _count(nested_outcomes)},
    }


async def _evasion(http: aiohttp.ClientSession, workdir: Path, issuer: TokenIssuer, echo_port: int) -> dict[str, Any]:
    """Forged X-Forwarded-For from an untrusted peer, and many IPv6 addresses of one /64 behind a
    trusted balancer: each must stay in one bucket of PROXY_RATE_PER_ADDRESS=60."""
    results: dict[str, Any] = {}
    cases: dict[str, tuple[dict[str, str], str]] = {
        "forged_x_forwarded_for": ({}, "198.51.100.{i}"),
        "one_ipv6_64_behind_a_trusted_balancer": ({"PROXY_TRUSTED_PROXIES": "127.0.0.1/32"}, "2001:db8:1:2::{i:x}"),
    }
    for name, (env, forged) in cases.items():
        extra = {"PROXY_RATE_PER_ADDRESS": "60", "PROXY_LOG_LEVEL": "WARNING", **env}
        async with running_proxy(f"ws://127.0.0.1:{echo_port}", issuer, extra_env=extra) as proxy:
            statuses = []
            for i in range(200):
                async with http.get(f"{proxy.url}/functions", headers={"X-Forwarded-For": forged.format(i=i)}) as r:
                    statuses.append(r.status)
        results[name] = {"requests": len(statuses), "let_through": sum(s != 429 for s in statuses), "limit": 60}
    return results


async def run(workdir: Path, scale: int = 100) -> dict[str, Any]:
    """The abuse run at `scale` percent of its full size."""
    async with (
        running_echo_server() as echo_port,
        token_issuer(workdir) as issuer,
        client() as http,
    ):
        extra = {
            "PROXY_LOG_LEVEL": "WARNING",
            "PROXY_AUTH_TIMEOUT": str(AUTH_TIMEOUT),
            "PROXY_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "PROXY_MAX_UNAUTHENTICATED": str(MAX_UNAUTHENTICATED),
        }
        async with running_proxy(f"ws://127.0.0.1:{echo_port}", issuer, extra_env=extra) as proxy:
            pid = proxy.child.pid
            baseline = holdings(pid)
            stop = asyncio.Event()
            legit = asyncio.create_task(
                _legitimate(http, f"ws://127.0.0.1:{proxy.port}/sign_in", issuer.mint("legit"), stop)
            )
            peak = [baseline.rss_mib]

            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], holdings(pid).rss_mib)
                    await asyncio.sleep(0.2)

            sampling = asyncio.create_task(sample())
            attacks = await _attacks(http, proxy.port, scale)
            stop.set()
            legitimate = await legit
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
            after = holdings(pid)
        evasion = await _evasion(http, workdir, issuer, echo_port)
    return {
        **attacks,
        "rate_limit_evasion": evasion,
        "legitimate_session": legitimate,
        "proxy_rss_mib": {"baseline": baseline.rss_mib, "peak": peak[0], "after": after.rss_mib},
        "max_unauthenticated": MAX_UNAUTHENTICATED,
        "memory_bound_mib": MEMORY_BOUND_MIB,
        "within_memory_bound": peak[0] < MEMORY_BOUND_MIB,
    }
