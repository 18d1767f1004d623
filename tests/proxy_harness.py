"""Real proxies on loopback for the proxy tests: start as many as a test needs, all closed after it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestServer

from proxy.config import ProxyConfig
from proxy.server import ProxyAccessLogger, make_app

StartProxy = Callable[..., Awaitable[TestServer]]
"""`await start(**changes)`: a proxy serving `config` with those fields replaced."""


@asynccontextmanager
async def proxy_starter(config: ProxyConfig) -> AsyncIterator[StartProxy]:
    """Yield a function that starts a proxy from `config` plus changes; close them all at the end."""
    servers: list[TestServer] = []

    async def start_proxy(**changes: Any) -> TestServer:
        server = TestServer(make_app(dataclasses.replace(config, **changes)), host="127.0.0.1")
        await server.start_server(access_log_class=ProxyAccessLogger)
        servers.append(server)
        return server

    try:
        yield start_proxy
    finally:
        for server in servers:
            await server.close()
