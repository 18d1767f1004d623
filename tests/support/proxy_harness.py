"""For the proxy tests: real proxies on loopback (start as many as a test needs, all closed after it)
and `Upstream`, a small real WebSocket server standing in for NVCF's relay (the `upstream` fixture
in conftest.py starts one per test)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from proxy.config import ProxyConfig
from proxy.server import make_app, runner_options

REPO = Path(__file__).resolve().parents[2]

StartProxy = Callable[..., Awaitable[TestServer]]
"""`await start(**changes)`: a proxy serving `config` with those fields replaced."""


@asynccontextmanager
async def proxy_starter(config: ProxyConfig) -> AsyncIterator[StartProxy]:
    """Yield a function that starts a proxy from `config` plus changes; close them all at the end."""
    servers: list[TestServer] = []

    async def start_proxy(**changes: Any) -> TestServer:
        replaced = dataclasses.replace(config, **changes)
        server = TestServer(make_app(replaced), host="127.0.0.1")
        options = runner_options(replaced)
        del options["handler_cancellation"]  # aiohttp's test server always cancels handlers.
        await server.start_server(**options)
        servers.append(server)
        return server

    try:
        yield start_proxy
    finally:
        for server in servers:
            await server.close()


async def start_proxy_process(port: int, upstream_url: str, **settings: str) -> asyncio.subprocess.Process:
    """`python -m proxy` on `port` in front of `upstream_url`, configured only by the environment
    (`settings` are PROXY_*/NVCF_* variables, overriding the defaults here); stderr is piped."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PROXY_PORT": str(port),
        "NVCF_SERVER": upstream_url,
        "STREAMING_FUNCTION_ID": "fn-1",
        **settings,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", env=env, cwd=REPO, stderr=asyncio.subprocess.PIPE
    )


async def wait_ready(http: aiohttp.ClientSession, port: int) -> None:
    """Until the proxy on `port` answers /readyz with 200 (at most 10 s)."""
    for _ in range(200):
        try:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"proxy on port {port} never became ready")


class Upstream:
    """A WebSocket server on loopback that behaves like the relay in the ways a test asks for."""

    def __init__(self) -> None:
        self.handshakes: list[CIMultiDict[str]] = []
        self.refuse_status: int | None = None
        # When set, sent as `Set-Cookie: nvcf-request-id=...`, as NVCF's relay does.
        self.session_cookie: str | None = None
        # When set, answered as the `nvcf-reqid` header (the relay's session id).
        self.reqid: str | None = None
        # The status answered to a handshake that asks to resume (carries `nvcf-reqid`).
        self.resume_refusal: int | None = None
        self.closes: asyncio.Queue[tuple[int | None, str]] = asyncio.Queue()
        app = web.Application()
        app.router.add_get("/sign_in", self._sign_in)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    async def _sign_in(self, request: web.Request) -> web.StreamResponse:
        self.handshakes.append(CIMultiDict(request.headers))
        if self.refuse_status is not None:
            return web.Response(status=self.refuse_status, text="refused by test upstream")
        if self.resume_refusal is not None and "nvcf-reqid" in request.headers:
            return web.Response(status=self.resume_refusal, text="no existing session")
        ws = web.WebSocketResponse()
        if self.reqid is not None:
            ws.headers["nvcf-reqid"] = self.reqid
        if self.session_cookie is not None:
            ws.set_cookie("nvcf-request-id", self.session_cookie)
        await ws.prepare(request)
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                if msg.data.startswith("please-close "):
                    _, code, reason = msg.data.split(" ", 2)
                    await ws.close(code=int(code), message=reason.encode())
                    self.closes.put_nowait((None, "closed by upstream"))
                    return ws
                await ws.send_str(f"echo:{msg.data}")
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(b"echo:" + msg.data)
            else:
                reason = msg.extra if msg.type is WSMsgType.CLOSE and isinstance(msg.extra, str) else ""
                self.closes.put_nowait((ws.close_code, reason))
                return ws


SECRET = b"proxy-test-secret-0123456789abcdef-0123456789abcdef-0123456789ab"


API_KEY = "nvapi-test-key-0123456789"


ISSUER = "nvcf-stream-kit"


AUDIENCE = "stream-proxy"


APP_PROTOCOL = "nvcf-stream-v1"


REPO = Path(__file__).resolve().parents[2]


def make_token(key: bytes = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 60,
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm)


def sign_in_url(server: TestServer) -> str:
    return f"ws://127.0.0.1:{server.port}/sign_in"


async def open_session(
    http: aiohttp.ClientSession, proxy: TestServer, token: str | None = None, **kwargs: Any
) -> aiohttp.ClientWebSocketResponse:
    protocols = [APP_PROTOCOL] + ([f"token.{token}"] if token is not None else [])
    ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(sign_in_url(proxy), protocols=protocols, **kwargs)
    return ws


async def expect_close(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.CLOSE, msg
    return int(msg.data), str(msg.extra)


POLICY = """
[functions.paint]
id = "fn-paint"
version = "ver-paint"
title = "Paint"

[functions.viewer]
id = "fn-viewer"

[defaults]
function = "viewer"

[users.alice]
functions = ["paint", "viewer"]
max_sessions = 1

[users.bob]
functions = ["viewer"]

[groups.artists]
functions = ["paint"]
max_sessions = 2
"""


async def connect(
    http: aiohttp.ClientSession, proxy: TestServer, token: str, function: str | None = None, **kwargs: Any
) -> aiohttp.ClientWebSocketResponse:
    url = sign_in_url(proxy) + (f"?function={function}" if function is not None else "")
    protocols = [APP_PROTOCOL, f"token.{token}", *kwargs.pop("extra", [])]
    ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(url, protocols=protocols, **kwargs)
    return ws
