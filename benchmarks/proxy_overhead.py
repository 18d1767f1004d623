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
import gc
import json
import random
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from benchmarks.context import BenchContext
from benchmarks.echo_server import raise_fd_limit
from benchmarks.nginx import NginxMissing, running_nginx
from benchmarks.ports import free_port
from benchmarks.processes import running_echo_server, running_proxy, tcp_open, wait_until
from benchmarks.profiling import profile
from benchmarks.stats import percentile, summarize
from benchmarks.tokens import TokenIssuer, token_issuer
from proxy.closecodes import CloseCode
from proxy.subprotocols import APP_PROTOCOL as SUBPROTOCOL

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
    return {
        "messages_per_s": round(sum(counts) / elapsed, 1),
        "messages": sum(counts),
        "errors": errors,
        "seconds": elapsed,
    }


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


@dataclass(frozen=True)
class Endpoint:
    """One way to reach the echo server: directly, through nginx or through our proxy."""

    name: str
    url: str
    protocols: tuple[str, ...]
    pid: int | None
    """The intermediary's process (None for direct), for its CPU time."""


_PROFILE_S = 3.0
_SLICE_S = 0.5
"""Measurements alternate between the paths in slices this long, so that the load other users put
on a shared machine falls on every path alike instead of on whichever ran at a bad moment."""


async def _measure_level(
    ctx: BenchContext, http: aiohttp.ClientSession, endpoints: Sequence[Endpoint], count: int
) -> dict[str, dict[str, Any]]:
    """Throughput and paced latency at `count` connections per path, the paths interleaved."""
    connections: dict[str, list[aiohttp.ClientWebSocketResponse]] = {}
    failed: dict[str, int] = {}
    try:
        for endpoint in endpoints:
            connections[endpoint.name], failed[endpoint.name] = await open_connections(
                http, endpoint.url, count, endpoint.protocols
            )
            # A round trip on each first, so lazy allocations are not timed.
            await asyncio.gather(*(_round_trip(ws) for ws in connections[endpoint.name]), return_exceptions=True)
        # The connections live through the whole level: keep the collector from walking them again and
        # again (a full collection over thousands of connections stalls the load generator for ms).
        gc.collect()
        gc.freeze()
        slices = max(1, round(ctx.profile.proxy_measure_s / _SLICE_S))
        seconds = ctx.profile.proxy_measure_s / slices
        totals = {e.name: {"messages": 0, "errors": 0, "seconds": 0.0, "cpu": 0.0} for e in endpoints}
        samples: dict[str, list[float]] = {e.name: [] for e in endpoints}
        rounds: dict[str, list[list[float]]] = {e.name: [] for e in endpoints}
        errors = dict.fromkeys(samples, 0)
        rate = _paced_rate(count)
        for index in range(slices):
            order = list(endpoints[index % len(endpoints) :]) + list(endpoints[: index % len(endpoints)])
            for endpoint in order:
                conns = connections[endpoint.name]
                cpu0 = _cpu_seconds(endpoint.pid) if endpoint.pid else 0.0
                loaded = await throughput(conns, seconds)
                total = totals[endpoint.name]
                total["cpu"] += (_cpu_seconds(endpoint.pid) - cpu0) if endpoint.pid else 0.0
                for key in ("messages", "errors", "seconds"):
                    total[key] += loaded[key]
            for endpoint in order:
                got, errs = await paced_latency(connections[endpoint.name], seconds, rate)
                samples[endpoint.name] += got
                rounds[endpoint.name].append(got)
                errors[endpoint.name] += errs
        proxy = next((e for e in endpoints if e.name == "proxy"), None)
        if proxy and proxy.pid and ctx.config.profile_misses and count == ctx.profile.proxy_concurrency[-1]:
            # A slice of its own, long enough for a few hundred samples, not counted in the numbers.
            during = f"closed-loop echo at {count} connections (an extra {_PROFILE_S:g} s slice)"
            sampling = profile(ctx, proxy.pid, _PROFILE_S, f"proxy-{count}", "proxy", during)
            await asyncio.gather(throughput(connections["proxy"], _PROFILE_S), sampling)
    finally:
        gc.unfreeze()
        for conns in connections.values():
            await close_connections(conns)
    out: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        total = totals[endpoint.name]
        cpu = round(total["cpu"], 3) if endpoint.pid else None
        out[endpoint.name] = {
            "connections": count,
            "connect_failures": failed[endpoint.name],
            "throughput": {
                "messages_per_s": round(total["messages"] / max(total["seconds"], 1e-6), 1),
                "messages": int(total["messages"]),
                "errors": int(total["errors"]),
                "intermediary_cpu_s": cpu,
                "intermediary_cpu_ms_per_1k_messages": round(cpu * 1e6 / total["messages"], 2)
                if cpu is not None and total["messages"]
                else None,
            },
            "latency": {
                "rate_per_s": rate,
                "errors": errors[endpoint.name],
                "rtt_ms": summarize(samples[endpoint.name], QUANTILES),
                "paired_added_ms": _paired_added(rounds[endpoint.name], rounds["direct"]),
            },
        }
    return out


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
                        good = msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == CloseCode.TOKEN_INVALID
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
    """Microseconds per token check as the proxy does it (`proxy.tokens.read_header` then
    `verify_token`), with the key in hand: the JWKS cache lookup (a dict read) is left out."""
    try:
        from proxy.tokens import TokenPolicy, read_header, verify_token
    except ImportError as exc:
        return {"status": "unavailable", "reason": f"proxy.tokens changed: {exc}"}
    policy = TokenPolicy(
        issuer=issuer.proxy_env["PROXY_JWT_ISSUER"],
        audience=issuer.proxy_env["PROXY_JWT_AUDIENCE"],
        algorithms=frozenset({issuer.algorithm}),
    )
    token = issuer.mint("bench")
    started = time.perf_counter()
    for _ in range(rounds):
        verify_token(token, read_header(token, policy), issuer.verify_key, policy)
    per_call = (time.perf_counter() - started) / rounds
    return {
        "status": "ok",
        "algorithm": issuer.algorithm,
        "us_per_check": round(per_call * 1e6, 2),
        "checks_per_s_one_core": round(1 / per_call),
    }


@asynccontextmanager
async def _client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=20),
    ) as http:
        yield http


def _paired_added(path: list[list[float]], direct: list[list[float]]) -> dict[str, float | None]:
    """Median over rounds of (this path's percentile - direct's percentile in the same round).

    Each round's two measurements are a second apart, so slow swings in the machine's background
    load cancel out; the median then ignores the rounds that a burst of load hit on one side only.
    """
    out: dict[str, float | None] = {}
    for q in QUANTILES:
        diffs = []
        for mine, theirs in zip(path, direct, strict=False):
            a, b = percentile(mine, q), percentile(theirs, q)
            if a is not None and b is not None:
                diffs.append(a - b)
        key = "p" + f"{q:g}".replace(".", "_")
        out[key] = None if not diffs else round(statistics.median(diffs), 3)
    return out


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
    """Memory first (fresh processes), then each concurrency level with the paths interleaved, then handshakes."""
    limit = raise_fd_limit()
    result: dict[str, Any] = {"status": "ok", "open_file_limit": limit, "targets": {}, "notes": []}
    ctx.partial = result
    async with (
        running_echo_server() as echo_port,
        _client() as http,
        token_issuer(ctx.workdir) as issuer,
        AsyncExitStack() as running,
    ):
        result["token_mode"] = issuer.label
        endpoints = [Endpoint("direct", f"ws://127.0.0.1:{echo_port}/sign_in", (SUBPROTOCOL,), None)]
        nginx_port = free_port()
        try:
            nginx = await running.enter_async_context(
                running_nginx(ctx.config.nginx, ctx.workdir / "nginx", nginx_port, echo_port)
            )
            await wait_until(lambda: tcp_open(nginx_port), nginx, "nginx")
            endpoints.append(Endpoint("nginx", f"ws://127.0.0.1:{nginx_port}/sign_in", (SUBPROTOCOL,), nginx.pid))
        except NginxMissing as exc:
            result["targets"]["nginx"] = {"status": "skipped", "reason": str(exc)}
        proxy = await running.enter_async_context(running_proxy(f"ws://127.0.0.1:{echo_port}", issuer))
        token = issuer.mint("bench-load")
        endpoints.append(
            Endpoint("proxy", f"ws://127.0.0.1:{proxy.port}/sign_in", (SUBPROTOCOL, f"token.{token}"), proxy.child.pid)
        )
        for endpoint in endpoints:
            result["targets"].setdefault(endpoint.name, {})["levels"] = []
            if endpoint.pid is not None:
                ctx.log(f"proxy_overhead: {endpoint.name} memory per connection")
                result["targets"][endpoint.name]["memory"] = await _memory_per_connection(
                    ctx, http, endpoint.url, endpoint.protocols, endpoint.pid
                )
        for count in ctx.profile.proxy_concurrency:
            ctx.log(f"proxy_overhead: {count} connections per path ({', '.join(e.name for e in endpoints)})")
            level = await _measure_level(ctx, http, endpoints, count)
            for name, numbers in level.items():
                result["targets"][name]["levels"].append(numbers)
        ctx.log("proxy_overhead: token-checked handshakes")
        url = endpoints[-1].url
        count = ctx.profile.proxy_handshakes
        proxy_pid = proxy.child.pid
        fresh = [issuer.mint(f"user{i}") for i in range(count)]
        cpu0 = _cpu_seconds(proxy_pid)
        if ctx.config.profile_misses:
            # Long enough to cover the run at the target rate; py-spy stops by itself.
            seconds = 1.0 + count / 250
            sampling = profile(ctx, proxy_pid, seconds, "proxy-handshakes", "proxy", "token-checked handshakes")
            good, _ = await asyncio.gather(handshakes(http, url, fresh, expect_refusal=False), sampling)
        else:
            good = await handshakes(http, url, fresh, expect_refusal=False)
        good["proxy_cpu_ms_per_handshake"] = round((_cpu_seconds(proxy_pid) - cpu0) * 1000 / max(1, count), 3)
        bad_token = issuer.mint("intruder")[:-4] + "AAAA"
        cpu0 = _cpu_seconds(proxy_pid)
        refused = await handshakes(http, url, [bad_token] * count, expect_refusal=True)
        refused["proxy_cpu_ms_per_handshake"] = round((_cpu_seconds(proxy_pid) - cpu0) * 1000 / max(1, count), 3)
        # The same load generator against the echo server itself: the ceiling this machine and client allow.
        ceiling = await handshakes(http, endpoints[0].url, [token] * count, expect_refusal=False)
        result["targets"]["proxy"]["handshakes"] = {
            "accepted": good,
            "refused_bad_signature": refused,
            "direct_to_echo_reference": ceiling,
        }
        result["token_check_in_process"] = token_check_in_process(issuer)

    direct = result["targets"]["direct"]["levels"]
    result["added_latency_ms"] = {
        name: _added(target["levels"], direct)
        for name, target in result["targets"].items()
        if name != "direct" and "levels" in target
    }
    result["notes"] += [
        "Load generator, echo upstream and intermediary share this machine's cores; the load generator is "
        "one Python process, so throughput at high concurrency is bounded by it as much as by the intermediary.",
        f"The paths take turns in {_SLICE_S:g} s rounds (throughput, then latency), so background load on a "
        "shared machine falls on each alike. Added latency, pooled: the path's percentile over all rounds minus "
        "direct's. Paired (what the targets use): the median over rounds of the path's percentile minus direct's "
        "in the same round, which cancels slow swings of background load.",
        f"Latency runs send at {_MAX_PACED_RATE:g} messages/s in total "
        "(200/s per connection for fewer than 10 connections).",
        "Memory is measured first, on fresh processes: RSS after opening the connections (one echo each) minus "
        "RSS before, after a warm-up of 50 connections.",
        "Accepted handshakes include the proxy's upstream connection to the echo server; refused ones (bad "
        "signature, close 4401) stop after the token check.",
        "nginx: one worker process, access log off, proxy_buffering off. Our proxy: PROXY_LOG_LEVEL=WARNING.",
        f"Tokens: {issuer.label}.",
    ]
    return result
