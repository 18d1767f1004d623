"""Session and rate limits shared by two real proxy replicas through a real redis-server.

Each replica is `python -m proxy` in front of the recording upstream stand-in, configured with
the same `PROXY_REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookies import SimpleCookie

import aiohttp
import pytest
import redis.asyncio as aioredis
from support.proxy_harness import API_KEY, APP_PROTOCOL, SECRET, Upstream, make_token, start_proxy_process, wait_ready
from support.redis_harness import RunningRedis, running_redis

from benchmarks.ports import free_port
from proxy.closecodes import CloseCode

Replica = Callable[..., Awaitable[int]]


@pytest.fixture
async def redis() -> AsyncIterator[RunningRedis]:
    async with running_redis() as running:
        yield running


@pytest.fixture
async def replicas(
    redis: RunningRedis, upstream: Upstream, http: aiohttp.ClientSession
) -> AsyncIterator[tuple[Replica, list[asyncio.subprocess.Process]]]:
    """`await start(**settings)` starts one more replica and returns its port."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(**settings: str) -> int:
        port = free_port()
        process = await start_proxy_process(
            port,
            upstream.base_url,
            NVCF_API_KEY=API_KEY,
            PROXY_JWT_SECRET=SECRET.decode(),
            PROXY_REDIS_URL=redis.url,
            PROXY_TOKEN_FIRST_MESSAGE="false",
            PROXY_DRAIN_SECONDS="0",
            **settings,
        )
        processes.append(process)
        await wait_ready(http, port)
        return port

    yield start, processes
    for process in processes:
        if process.returncode is None:
            process.terminate()
        await process.communicate()


async def sign_in(http: aiohttp.ClientSession, port: int, sub: str = "alice") -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(
        f"ws://127.0.0.1:{port}/sign_in", protocols=[APP_PROTOCOL, f"token.{make_token(sub=sub)}"]
    )


async def echoes(ws: aiohttp.ClientWebSocketResponse) -> bool:
    await ws.send_str("ping")
    msg = await ws.receive(timeout=5)
    return msg.type is aiohttp.WSMsgType.TEXT and msg.data == "echo:ping"


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.CLOSE, msg
    return int(msg.data), str(msg.extra)


async def test_the_per_user_limit_holds_across_replicas(
    replicas: tuple[Replica, list[asyncio.subprocess.Process]], http: aiohttp.ClientSession
) -> None:
    start, _ = replicas
    a, b = await start(), await start()
    first, second = await sign_in(http, a), await sign_in(http, b)
    assert await echoes(first) and await echoes(second)
    for port in (a, b):  # The default limit is 2, whichever replica is asked.
        assert await closed_with(await sign_in(http, port)) == (
            CloseCode.TOO_MANY_SESSIONS,
            "too many sessions for alice (limit 2)",
        )
    assert await echoes(await sign_in(http, b, sub="bob"))  # Other users are not affected.
    await first.close()
    third = await sign_in(http, b)  # A closed session frees its slot for every replica.
    assert await echoes(third)


async def test_a_killed_replicas_sessions_are_released_within_the_lease(
    replicas: tuple[Replica, list[asyncio.subprocess.Process]], http: aiohttp.ClientSession
) -> None:
    start, processes = replicas
    a = await start(PROXY_REDIS_LEASE_SECONDS="1.5")
    b = await start(PROXY_REDIS_LEASE_SECONDS="1.5")
    held = [await sign_in(http, a), await sign_in(http, a)]
    assert all([await echoes(ws) for ws in held])
    # Renewed by the live replica: still counted after several lease times.
    await asyncio.sleep(3.5)
    assert (await closed_with(await sign_in(http, b)))[0] == CloseCode.TOO_MANY_SESSIONS
    processes[0].send_signal(signal.SIGKILL)  # No chance to give its leases back.
    await processes[0].wait()
    killed_at = time.monotonic()
    while True:
        ws = await sign_in(http, b)
        try:
            msg = await ws.receive(timeout=0.3)
        except TimeoutError:  # Open: the stand-in does not talk first, and nothing closed it.
            break
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == CloseCode.TOO_MANY_SESSIONS, msg
        assert time.monotonic() - killed_at < 3, "the dead replica's leases never ran out"
        await asyncio.sleep(0.1)
    released_after = time.monotonic() - killed_at
    assert await echoes(ws)
    await ws.close()
    assert released_after < 3  # Lease 1.5 s (renewed every 0.5 s), plus the polling.


async def test_redis_down_refuses_new_sign_ins_and_open_sessions_go_on(
    replicas: tuple[Replica, list[asyncio.subprocess.Process]], redis: RunningRedis, http: aiohttp.ClientSession
) -> None:
    start, _ = replicas
    a = await start()
    open_session = await sign_in(http, a)
    assert await echoes(open_session)
    await redis.stop()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await sign_in(http, a, sub="bob")  # The address rate check is the first to need Redis.
    assert refused.value.status == 503
    async with http.get(f"http://127.0.0.1:{a}/functions", headers={"Authorization": "Bearer x"}) as r:
        assert r.status == 503 and "shared limits unavailable" in (await r.json())["error"]
    assert await echoes(open_session)
    await redis.start()  # Back (empty): sign-ins work again.
    later = await sign_in(http, a, sub="bob")
    assert await echoes(later)
    assert await echoes(open_session)


async def test_the_rate_per_address_is_shared_by_the_replicas(
    replicas: tuple[Replica, list[asyncio.subprocess.Process]], http: aiohttp.ClientSession
) -> None:
    start, _ = replicas
    a, b = await start(PROXY_RATE_PER_ADDRESS="2"), await start(PROXY_RATE_PER_ADDRESS="2")

    async def status(port: int) -> int:
        async with http.get(f"http://127.0.0.1:{port}/functions") as r:
            return r.status

    # Each replica's own readiness probes do not count; two handshakes in all, then 429 on either.
    assert [await status(a), await status(b), await status(a), await status(b)] == [401, 401, 429, 429]


SESSION_SECRET = "shared-resume-secret-0123456789abcdef-0123456789abcdef"


async def test_a_reload_on_another_replica_takes_the_held_session_back_at_once(
    replicas: tuple[Replica, list[asyncio.subprocess.Process]],
    http: aiohttp.ClientSession,
    upstream: Upstream,
    redis: RunningRedis,
) -> None:
    start, _ = replicas
    first = await start(PROXY_SESSION_SECRET=SESSION_SECRET, PROXY_RELOAD_GRACE="30")
    second = await start(PROXY_SESSION_SECRET=SESSION_SECRET, PROXY_RELOAD_GRACE="30")
    upstream.reqid = "sess.1234"
    ws = await sign_in(http, first)
    cookies = SimpleCookie()
    cookies.load(ws._response.headers["Set-Cookie"])
    cookie = cookies["nvcf-request-id"].value
    await ws.close(code=CloseCode.PAGE_HIDDEN, message=b"page hidden")  # the page unloads: held
    client = aioredis.Redis.from_url(redis.url)
    try:  # the hold is written to Redis in the background
        for _ in range(100):
            if await client.exists("stream-proxy:held:sess.1234"):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the first replica never wrote its hold to Redis")
    finally:
        await client.aclose()
    started = time.monotonic()
    resumed = await http.ws_connect(
        f"ws://127.0.0.1:{second}/sign_in",
        protocols=[APP_PROTOCOL, f"token.{make_token(sub='alice')}", "resume"],
        headers={"Cookie": f"nvcf-request-id={cookie}"},
    )
    assert await echoes(resumed)
    elapsed = time.monotonic() - started
    await resumed.close()
    # The first replica let its held connection go as a reload would (the app keeps the session),
    # and the second resumed it: in about a sign-in's time, not the 30 s grace.
    assert await asyncio.wait_for(upstream.closes.get(), timeout=5) == (1001, "page reloaded")
    assert [h.get("nvcf-reqid") for h in upstream.handshakes] == [None, "sess.1234"]
    assert elapsed < 2, elapsed
