"""Proxy overhead: messages per second and added round-trip latency through our proxy, against a
direct connection to the echo upstream and against nginx as a plain WebSocket proxy; token-checked
handshakes per second; memory per open connection.

Everything on loopback: an echo upstream (its own process), the intermediary (its own process),
and this process as the load generator. Two load shapes per concurrency level:

- *throughput*: every connection sends its next message as soon as the echo of the last arrives
  (closed loop); messages per second is echoes received / time.
- *latency*: the same connections send at a fixed total rate well below saturation (paced), so the
  round-trip times measure the path and not the queue in front of a saturated CPU. *Added latency*
  is the proxied percentile minus the direct percentile at the same concurrency and rate.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import psutil

from benchmarks.context import BenchContext
from benchmarks.echo_server import raise_fd_limit
from benchmarks.nginx import NginxMissing, running_nginx
from benchmarks.ports import free_port
from benchmarks.processes import running_echo_server, running_proxy, tcp_open, wait_until
from benchmarks.stats import summarize
from benchmarks.tokens import TokenIssuer, token_issuer

SUBPROTOCOL = "nvcf-stream-v1"
QUANTILES = (50, 99, 99.9)
# A message the size of a typical signaling candidate or input event.
PAYLOAD = json.dumps(
    {"v": 1, "type": "mouse_move", "seq": 0, "t": 1.7e12, "x": 0.5, "y": 0.5, "buttons": 0, "pad": "x" * 40}
)
_OPEN_CONCURRENCY = 64
_HANDSHAKE_CONCURRENCY = 16
_MAX_PACED_RATE = 2000.0
"""Total messages per second in the latency runs (per connection: this / connections, at most 200)."""


def _paced_rate(connections: int) -> float:
    return min(_MAX_PACED_RATE, 200.0 * connections)


async def open_connections(
    http: aiohttp.ClientSession, url: str, count: int, protocols: Sequence[str], timeout: float = 60.0
) -> tuple[list[aiohttp.ClientWebSocketResponse], int]:
    """Open `count` WebSockets, at most 64 handshakes at a time; returns them and the number that failed."""
    gate = asyncio.Semaphore(_OPEN_CONCURRENCY)
    opened: list[aiohttp.ClientWebSocketResponse] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        async with gate:
            try:
                ws = await http.ws_connect(url, protocols=tuple(protocols), compress=0, autoping=True)
            except (aiohttp.ClientError, OSError, TimeoutError):
                failed += 1
                return
            opened.append(ws)

    async with asyncio.timeout(timeout):
        await asyncio.gather(*(one() for _ in range(count)))
    return opened, failed


async def close_connections(connections: Sequence[aiohttp.ClientWebSocketResponse]) -> None:
    """Close every connection (each close bounded by aiohttp's close timeout)."""
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)


async def _round_trip(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> float:
    started = time.perf_counter()
    await ws.send_str(PAYLOAD)
    msg = await ws.receive(timeout=timeout)
    if msg.type is not aiohttp.WSMsgType.TEXT:
        raise ConnectionError(f"expected an echo, got {msg.type.name}")
    return (time.perf_counter() - started) * 1000


async def throughput(connections: Sequence[aiohttp.ClientWebSocketResponse], seconds: float) -> dict[str, Any]:
    """Closed loop on every connection for `seconds`; messages echoed per second and errors."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(connections)
    errors = 0

    async def loop(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            try:
                await _round_trip(ws)
            except (ConnectionError, TimeoutError, aiohttp.ClientError):
                errors += 1
                return
            counts[i] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i, ws) for i, ws in enumerate(connections)))
    elapsed = time.perf_counter() - started
    return {"messages_per_s": round(sum(counts) / elapsed, 1), "messages": sum(counts), "errors": errors}


async def paced_latency(
    connections: Sequence[aiohttp.ClientWebSocketResponse], seconds: float, total_rate: float
) -> tuple[list[float], int]:
    """Each connection sends on its own fixed schedule (random phase); round-trip times in ms and errors."""
    interval = len(connections) / total_rate
    started = time.perf_counter()
    deadline = started + seconds
    samples: list[float] = []
    errors = 0

    async def loop(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal errors
        due = started + random.random() * interval
        while due < deadline:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                samples.append(await _round_trip(ws))
            except (ConnectionError, TimeoutError, aiohttp.ClientError):
                errors += 1
                return
            due += interval

    await asyncio.gather(*(loop(ws) for ws in connections))
    return samples, errors


def _rss(pid: int) -> int:
    """Resident memory of a process and its children (nginx's workers), in bytes."""
    process = psutil.Process(pid)
    total = int(process.memory_info().rss)
    for child in process.children(recursive=True):
        try:
            total += int(child.memory_info().rss)
        except psutil.NoSuchProcess:
            pass
    return total


def _cpu_seconds(pid: int) -> float:
    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return float(total)


async def _measure_target(
    ctx: BenchContext, http: aiohttp.ClientSession, name: str, url: str, protocols: Sequence[str], pid: int | None
) -> list[dict[str, Any]]:
    levels: list[dict[str, Any]] = []
    for count in ctx.profile.proxy_concurrency:
        ctx.log(f"proxy_overhead: {name}, {count} connections")
        connections, failed = await open_connections(http, url, count, protocols)
        try:
            # A few round trips on each first, so lazy allocations are not timed.
            await asyncio.gather(*(_round_trip(ws) for ws in connections), return_exceptions=True)
            cpu0 = _cpu_seconds(pid) if pid else None
            loaded = await throughput(connections, ctx.profile.proxy_measure_s)
            cpu = round(_cpu_seconds(pid) - cpu0, 3) if pid and cpu0 is not None else None
            rate = _paced_rate(len(connections))
            samples, errors = await paced_latency(connections, ctx.profile.proxy_measure_s, rate)
        finally:
            await close_connections(connections)
        levels.append(
            {
                "connections": count,
                "connect_failures": failed,
                "throughput": {
                    **loaded,
                    "intermediary_cpu_s": cpu,
                    "intermediary_cpu_ms_per_1k_messages": round(cpu * 1e6 / loaded["messages"], 2)
                    if cpu is not None and loaded["messages"]
                    else None,
                },
                "latency": {"rate_per_s": rate, "errors": errors, "rtt_ms": summarize(samples, QUANTILES)},
            }
        )
    return levels


async def _memory_per_connection(
    ctx: BenchContext, http: aiohttp.ClientSession, url: str, protocols: Sequence[str], pid: int
) -> dict[str, Any]:
    count = ctx.profile.proxy_memory_connections
    # Warm the allocator and aiohttp's caches first, so the delta is what connections hold.
    warm, _ = await open_connections(http, url, min(50, count), protocols)
    await asyncio.gather(*(_round_trip(ws) for ws in warm), return_exceptions=True)
    await close_connections(warm)
    await asyncio.sleep(0.5)
    before = _rss(pid)
    connections, failed = await open_connections(http, url, count, protocols)
    try:
        await asyncio.gather(*(_round_trip(ws) for ws in connections), return_exceptions=True)
        await asyncio.sleep(0.5)
        after = _rss(pid)
    finally:
        await close_connections(connections)
    opened = len(connections)
    return {
        "connections": opened,
        "connect_failures": failed,
        "rss_before_mib": round(before / 2**20, 2),
        "rss_after_mib": round(after / 2**20, 2),
        "kib_per_connection": round((after - before) / 1024 / opened, 2) if opened else None,
    }


async def handshakes(
    http: aiohttp.ClientSession, url: str, tokens: Sequence[str], *, expect_refusal: bool
) -> dict[str, Any]:
    """Complete one handshake per token (16 in flight), then close; handshakes per second.

    With `expect_refusal` the tokens are bad and each handshake must end in close code 4401.
    """
    gate = asyncio.Semaphore(_HANDSHAKE_CONCURRENCY)
    ok = 0
    failures: dict[str, int] = {}
    times: list[float] = []

    async def one(token: str) -> None:
        nonlocal ok
        async with gate:
            started = time.perf_counter()
            try:
                async with http.ws_connect(url, protocols=(SUBPROTOCOL, f"token.{token}"), compress=0) as ws:
                    if expect_refusal:
                        msg = await ws.receive(timeout=10)
                        good = msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4401
                    else:
                        good = ws.protocol == SUBPROTOCOL
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                return
            times.append((time.perf_counter() - started) * 1000)
            if good:
                ok += 1
            else:
                failures["unexpected answer"] = failures.get("unexpected answer", 0) + 1

    started = time.perf_counter()
    async with asyncio.timeout(120):
        await asyncio.gather(*(one(t) for t in tokens))
    elapsed = time.perf_counter() - started
    return {
        "handshakes": len(tokens),
        "succeeded": ok,
        "failures": failures,
        "per_s": round(ok / elapsed, 1),
        "handshake_ms": summarize(times, (50, 99)),
    }


def token_check_in_process(issuer: TokenIssuer, rounds: int = 2000) -> dict[str, Any]:
    """Microseconds per `proxy.tokens.validate_token` call (HS256 mode; the skeleton proxy's API)."""
    try:
        from proxy.tokens import TokenPolicy, validate_token
    except ImportError as exc:
        return {"status": "unavailable", "reason": f"proxy.tokens changed: {exc}"}
    secret_file = issuer.proxy_env.get("PROXY_JWT_SECRET_FILE")
    if secret_file is None:
        return {"status": "unavailable", "reason": "in-process check measured only for HS256"}
    with open(secret_file, "rb") as file:
        secret = file.read().strip()
    policy = TokenPolicy(
        secret=secret, issuer=issuer.proxy_env["PROXY_JWT_ISSUER"], audience=issuer.proxy_env["PROXY_JWT_AUDIENCE"]
    )
    token = issuer.mint("bench")
    started = time.perf_counter()
    for _ in range(rounds):
        validate_token(token, policy)
    per_call = (time.perf_counter() - started) / rounds
    return {"status": "ok", "us_per_check": round(per_call * 1e6, 2), "checks_per_s_one_core": round(1 / per_call)}


@asynccontextmanager
async def _client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=20),
    ) as http:
        yield http


def _added(target: list[dict[str, Any]], direct: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for level, base in zip(target, direct, strict=True):
        rtt, ref = level["latency"]["rtt_ms"], base["latency"]["rtt_ms"]
        out.append(
            {
                "connections": level["connections"],
                **{
                    key: (
                        round(rtt[key] - ref[key], 3) if rtt.get(key) is not None and ref.get(key) is not None else None
                    )
                    for key in ("p50", "p99", "p99_9")
                },
            }
        )
    return out


async def run(ctx: BenchContext) -> dict[str, Any]:
    """Direct, nginx and our proxy at each concurrency level; handshakes and memory on our proxy."""
    limit = raise_fd_limit()
    result: dict[str, Any] = {"status": "ok", "open_file_limit": limit, "targets": {}, "notes": []}
    async with running_echo_server() as echo_port, _client() as http, token_issuer(ctx.workdir) as issuer:
        result["token_mode"] = issuer.label
        direct_url = f"ws://127.0.0.1:{echo_port}/sign_in"
        result["targets"]["direct"] = {
            "levels": await _measure_target(ctx, http, "direct", direct_url, (SUBPROTOCOL,), None)
        }

        nginx_port = free_port()
        try:
            async with running_nginx(ctx.config.nginx, ctx.workdir / "nginx", nginx_port, echo_port) as nginx:
                await wait_until(lambda: tcp_open(nginx_port), nginx, "nginx")
                url = f"ws://127.0.0.1:{nginx_port}/sign_in"
                levels = await _measure_target(ctx, http, "nginx", url, (SUBPROTOCOL,), nginx.pid)
                memory = await _memory_per_connection(ctx, http, url, (SUBPROTOCOL,), nginx.pid)
                result["targets"]["nginx"] = {"levels": levels, "memory": memory}
        except NginxMissing as exc:
            result["targets"]["nginx"] = {"status": "skipped", "reason": str(exc)}

        async with running_proxy(f"ws://127.0.0.1:{echo_port}", issuer) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/sign_in"
            protocols = (SUBPROTOCOL, f"token.{issuer.mint('bench-load')}")
            levels = await _measure_target(ctx, http, "proxy", url, protocols, proxy.child.pid)
            ctx.log("proxy_overhead: proxy memory per connection")
            memory = await _memory_per_connection(ctx, http, url, protocols, proxy.child.pid)
            ctx.log("proxy_overhead: token-checked handshakes")
            count = ctx.profile.proxy_handshakes
            good = await handshakes(http, url, [issuer.mint(f"user{i}") for i in range(count)], expect_refusal=False)
            bad_token = issuer.mint("intruder")[:-4] + "AAAA"
            refused = await handshakes(http, url, [bad_token] * count, expect_refusal=True)
            result["targets"]["proxy"] = {
                "levels": levels,
                "memory": memory,
                "handshakes": {"accepted": good, "refused_bad_signature": refused},
            }
        result["token_check_in_process"] = token_check_in_process(issuer)

    direct = result["targets"]["direct"]["levels"]
    result["added_latency_ms"] = {"proxy": _added(result["targets"]["proxy"]["levels"], direct)}
    if "levels" in result["targets"]["nginx"]:
        result["added_latency_ms"]["nginx"] = _added(result["targets"]["nginx"]["levels"], direct)
    result["notes"] += [
        "Load generator, echo upstream and intermediary share this machine's cores; the load generator is "
        "one Python process, so throughput at high concurrency is bounded by it as much as by the intermediary.",
        f"Latency runs send at {_MAX_PACED_RATE:g} messages/s in total "
        "(200/s per connection for fewer than 10 connections).",
        "Accepted handshakes include the proxy's upstream connection to the echo server; refused ones (bad "
        "signature, close 4401) stop after the token check.",
        "nginx: one worker process, access log off, proxy_buffering off. Our proxy: PROXY_LOG_LEVEL=WARNING.",
        f"Tokens: {issuer.label}.",
    ]
    return result
