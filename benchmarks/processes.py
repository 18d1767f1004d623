"""Starting the servers under test as supervised children and waiting until they answer."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import aiohttp

from benchmarks.ports import free_port
from benchmarks.tokens import TokenIssuer
from deploy.children import Child, start_child

logger = logging.getLogger("benchmarks.processes")

PROXY_ENV: Final[dict[str, str]] = {
    # The handshake benchmarks open thousands of sessions from one address and one user a
    # minute; the default limits (120 per address, 30 per user, a minute) would answer 429 and
    # the numbers would measure refusals. 0 = no limit. Sessions per user are unlimited by default.
    "PROXY_RATE_PER_ADDRESS": "0",
    "PROXY_RATE_PER_USER": "0",
    "PROXY_MAX_SESSIONS_PER_USER": "0",
}
"""Settings of every proxy the suite starts. The Origin check stays on: pages are served by the
proxy itself (its own origin) and the Python clients send no Origin, which the proxy allows."""


class StartError(RuntimeError):
    """A server did not come up; the message says which and why."""


async def wait_until(check: Callable[[], Awaitable[bool]], child: Child, what: str, timeout: float = 20.0) -> None:
    """Poll `check` until it is true; raise `StartError` if `child` exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not await check():
        if child.returncode is not None:
            raise StartError(f"{what} exited with status {child.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise StartError(f"{what} was not ready within {timeout:g} s")
        await asyncio.sleep(0.05)


async def tcp_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async with http.get(url) as response:
                return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


@asynccontextmanager
async def running_echo_server() -> AsyncIterator[int]:
    """The WebSocket echo upstream as its own process; yields its port."""
    port = free_port()
    child = await start_child(
        "echo",
        [sys.executable, "-m", "benchmarks.echo_server", "--port", str(port)],
        env=dict(os.environ),
        logger=logger,
    )
    try:
        await wait_until(lambda: tcp_open(port), child, "the echo server")
        yield port
    finally:
        await child.stop()


@dataclass(frozen=True)
class RunningProxy:
    """Our proxy as a process: its base URL and pid."""

    url: str
    port: int
    child: Child


@asynccontextmanager
async def running_proxy(
    upstream: str,
    issuer: TokenIssuer,
    *,
    api_key: str | None = None,
    function_id: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[RunningProxy]:
    """``python -m proxy`` on `host` in front of `upstream` (a ws:// base URL), checking `issuer`'s tokens."""
    port = free_port()
    env = {
        **os.environ,
        "PROXY_HOST": host,
        "PROXY_PORT": str(port),
        "NVCF_SERVER": upstream,
        "NVCF_API_KEY": api_key or secrets.token_urlsafe(24),
        "STREAMING_FUNCTION_ID": function_id or "bench-function",
        # Per-session INFO lines would make the benchmark measure logging through a pipe.
        "PROXY_LOG_LEVEL": "WARNING",
        **PROXY_ENV,
        **issuer.proxy_env,
        **(extra_env or {}),
    }
    child = await start_child("proxy", [sys.executable, "-m", "proxy"], env=env, logger=logger)
    url = f"http://{host}:{port}"
    try:
        await wait_until(lambda: http_ok(f"{url}/healthz"), child, "the proxy")
        yield RunningProxy(url=url, port=port, child=child)
    finally:
        await child.stop()
