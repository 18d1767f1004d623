"""The proxy under hostile input: sockets that never sign in, slow headers, deeply nested JSON,
forged client addresses, probe floods, tokens in parser errors, reasons cut inside a character.

Real proxies on loopback (in-process, or `python -m proxy` where the HTTP server's own settings
matter) in front of the recording upstream stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer
from support.proxy_harness import (
    API_KEY,
    APP_PROTOCOL,
    SECRET,
    StartProxy,
    Upstream,
    expect_close,
    make_token,
    open_session,
    proxy_starter,
    sign_in_url,
    start_proxy_process,
    wait_ready,
)

from benchmarks.ports import free_port, free_ports
from proxy.client_address import IPNetwork, client_address, rate_key
from proxy.closecodes import CloseCode, reason_bytes
from proxy.config import DEFAULT_MAX_SESSIONS_PER_USER, ConfigError, ProxyConfig, load_config
from proxy.server import make_metrics_app, warn_about_jwks_url
from proxy.state import STATE

NESTED = "[" * 1100  # Deep enough for json.loads to raise RecursionError.
ENV = {"NVCF_API_KEY": API_KEY, "STREAMING_FUNCTION_ID": "fn", "PROXY_JWT_SECRET": SECRET.decode()}
FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLW9mLWEtdG9rZW4"


@pytest.fixture
async def start(upstream: Upstream) -> AsyncIterator[StartProxy]:
    """Start a real proxy on loopback; keyword arguments change its config."""
    config = ProxyConfig(
        nvcf_api_key=API_KEY,
        function_id="fn-1",
        jwt_secret=SECRET,
        nvcf_server=upstream.base_url,
        upstream_timeout=2.0,
        auth_timeout=1.0,
    )
    async with proxy_starter(config) as start_proxy:
        yield start_proxy


@pytest.fixture
async def served(start: StartProxy) -> TestServer:
    return await start()


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


async def first_message_socket(http: aiohttp.ClientSession, proxy: TestServer) -> aiohttp.ClientWebSocketResponse:
    """A socket that offers no token item, so the proxy waits for a first-message token."""
    return await http.ws_connect(sign_in_url(proxy), protocols=[APP_PROTOCOL], autoclose=False)


# --- sockets that have not signed in --------------------------------------------------------


async def test_a_pinging_socket_without_a_token_is_closed_at_the_auth_deadline(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(auth_timeout=1.0)
    ws = await first_message_socket(http, proxy)
    started = time.monotonic()

    async def keep_pinging() -> None:
        while True:
            await ws.ping()
            await asyncio.sleep(0.1)

    pinging = asyncio.create_task(keep_pinging())
    try:
        msg = await ws.receive(timeout=4)  # Pongs are answered inside receive(); a close comes out.
    finally:
        pinging.cancel()
        await asyncio.gather(pinging, return_exceptions=True)
    assert msg.type is WSMsgType.CLOSE, msg
    assert (msg.data, msg.extra) == (CloseCode.TOKEN_INVALID, "token missing")
    assert 0.9 <= time.monotonic() - started < 2.5
    assert upstream.handshakes == []


async def test_a_first_message_over_the_pre_auth_limit_is_closed_1009(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    ws = await first_message_socket(http, proxy)
    await ws.send_str('{"token": "' + "a" * 64 * 1024 + '"}')
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1009, msg
    assert upstream.handshakes == []


async def test_after_a_first_message_token_the_session_limit_applies(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    proxy = await start()
    ws = await first_message_socket(http, proxy)
    await ws.send_json({"token": make_token()})
    # As the web client does: nothing more until the other side has spoken (the app's hello).
    await ws.send_str("hi")
    assert await ws.receive_str(timeout=5) == "echo:hi"
    big = "x" * (512 * 1024)  # Far over the pre-auth limit, under the session's 1 MiB.
    await ws.send_str(big)
    assert await ws.receive_str(timeout=5) == "echo:" + big
    await ws.close()


async def test_sockets_waiting_for_a_token_beyond_the_cap_get_503(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    proxy = await start(max_unauthenticated=2, auth_timeout=5.0)
    waiting = [await first_message_socket(http, proxy) for _ in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await first_message_socket(http, proxy)
    assert refused.value.status == 503
    # A token item in the offer needs no waiting place.
    direct = await open_session(http, proxy, make_token())
    await direct.send_str("hi")
    assert await direct.receive_str(timeout=5) == "echo:hi"
    await direct.close()
    # A waiting socket that signs in frees its place.
    await waiting[0].send_json({"token": make_token()})
    await waiting[0].send_str("hi")
    assert await waiting[0].receive_str(timeout=5) == "echo:hi"
    again = await first_message_socket(http, proxy)
    await again.send_json({"token": make_token(sub="bob")})
    await again.send_str("hi")
    assert await again.receive_str(timeout=5) == "echo:hi"
    for ws in (*waiting, again):
        await ws.close()


async def test_slow_headers_are_cut_off_at_the_header_deadline(http: aiohttp.ClientSession, upstream: Upstream) -> None:
    port = free_port()
    proxy = await start_proxy_process(
        port, upstream.base_url, NVCF_API_KEY=API_KEY, PROXY_JWT_SECRET=SECRET.decode(), PROXY_HEADER_TIMEOUT="1"
    )
    try:
        await wait_ready(http, port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        async def trickle() -> None:
            for _ in range(100):  # One header byte at a time: the request is never complete.
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.1)

        trickling = asyncio.create_task(trickle())
        try:
            assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # Closed without an answer.
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)
            writer.close()
        assert 0.9 <= time.monotonic() - started < 3
    finally:
        proxy.terminate()
        await proxy.communicate()


# --- deeply nested JSON ---------------------------------------------------------------------


def nested_header_token() -> str:
    return f"{b64url(NESTED)}.{b64url('{}')}.c2ln"


async def test_a_nested_token_header_is_refused_401_at_functions(
    served: TestServer, http: aiohttp.ClientSession
) -> None:
    url = f"http://127.0.0.1:{served.port}/functions"
    async with http.get(url, headers={"Authorization": f"Bearer {nested_header_token()}"}) as r:
        assert (r.status, await r.json()) == (401, {"error": "token invalid: malformed"})
    async with http.get(f"http://127.0.0.1:{served.port}/metrics") as r:
        assert 'proxy_functions_requests_total{outcome="token-rejected"} 1.0' in await r.text()


@pytest.mark.parametrize("where", ["subprotocol", "first-message-token", "first-message"])
async def test_nested_json_at_sign_in_is_refused_4401(
    served: TestServer, http: aiohttp.ClientSession, upstream: Upstream, where: str
) -> None:
    if where == "subprotocol":
        ws = await open_session(http, served, nested_header_token())
    else:
        ws = await first_message_socket(http, served)
        await ws.send_str(f'{{"token": "{nested_header_token()}"}}' if where == "first-message-token" else NESTED)
    code, reason = await expect_close(ws)
    assert code == CloseCode.TOKEN_INVALID
    assert reason == ("token missing" if where == "first-message" else "token invalid: malformed")
    assert upstream.handshakes == []
    async with http.get(f"http://127.0.0.1:{served.port}/metrics") as r:
        assert 'proxy_handshakes_total{outcome="token-rejected"} 1.0' in await r.text()


# --- client addresses -----------------------------------------------------------------------


async def functions_status(http: aiohttp.ClientSession, proxy: TestServer, headers: dict[str, str]) -> int:
    async with http.get(f"http://127.0.0.1:{proxy.port}/functions", headers=headers) as r:
        return r.status


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    proxy = await start(rate_per_address=1, trusted_proxies=load_config_networks("127.0.0.0/8"))
    one = {"X-Forwarded-For": "198.51.100.7"}
    # A client cannot pick its bucket: the balancer (127.0.0.1, trusted) appended what it saw.
    forged = {"X-Forwarded-For": "203.0.113.99, 198.51.100.7"}
    other = {"Forwarded": 'for="[2001:db8:1:2::1]:4711"'}
    same_64 = {"Forwarded": 'for=192.0.2.1, for="[2001:db8:1:2:ffff::9]"'}
    assert await functions_status(http, proxy, one) == 401  # Token missing: the bucket let it in.
    assert await functions_status(http, proxy, forged) == 429
    assert await functions_status(http, proxy, other) == 401
    assert await functions_status(http, proxy, same_64) == 429  # IPv6 counts by /64.


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    proxy = await start(rate_per_address=1)
    assert await functions_status(http, proxy, {"X-Forwarded-For": "198.51.100.7"}) == 401
    assert await functions_status(http, proxy, {"X-Forwarded-For": "198.51.100.8"}) == 429


def load_config_networks(text: str) -> tuple[IPNetwork, ...]:
    return load_config({**ENV, "PROXY_TRUSTED_PROXIES": text}).trusted_proxies


# --- probes and metrics ---------------------------------------------------------------------


@pytest.fixture
async def counting_listener() -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP port that counts the connections opened to it (and closes each at once)."""
    opened: list[int] = []

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], opened
    server.close()
    await server.wait_closed()


async def test_fifty_concurrent_readiness_probes_open_one_upstream_connection(
    start: StartProxy, http: aiohttp.ClientSession, counting_listener: tuple[int, list[int]]
) -> None:
    port, opened = counting_listener
    proxy = await start(nvcf_server=f"ws://127.0.0.1:{port}")

    async def probe() -> int:
        async with http.get(f"http://127.0.0.1:{proxy.port}/readyz") as r:
            return r.status

    assert await asyncio.gather(*(probe() for _ in range(50))) == [200] * 50
    assert len(opened) == 1
    assert await probe() == 200
    assert len(opened) == 1  # Still within the cache time.


async def test_an_unreachable_upstream_is_rechecked_within_a_second(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    port = free_port()  # Nothing listens there yet.
    proxy = await start(nvcf_server=f"ws://127.0.0.1:{port}")
    async with http.get(f"http://127.0.0.1:{proxy.port}/readyz") as r:
        assert (r.status, (await r.json())["upstream"]) == (503, False)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    try:
        await asyncio.sleep(1.1)
        async with http.get(f"http://127.0.0.1:{proxy.port}/readyz") as r:
            assert r.status == 200
    finally:
        server.close()
        await server.wait_closed()


async def test_metrics_on_their_own_listener_are_not_on_the_main_one(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    proxy = await start(metrics_port=free_port())
    async with http.get(f"http://127.0.0.1:{proxy.port}/metrics") as r:
        assert r.status == 404
    metrics = TestServer(make_metrics_app(proxy.app), host="127.0.0.1")
    await metrics.start_server()
    try:
        async with http.get(f"http://127.0.0.1:{metrics.port}/metrics") as r:
            assert r.status == 200 and "proxy_active_sessions" in await r.text()
    finally:
        await metrics.close()


async def test_the_metrics_port_setting_serves_metrics_there_only(
    http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    port, metrics_port = free_ports(2)
    proxy = await start_proxy_process(
        port,
        upstream.base_url,
        NVCF_API_KEY=API_KEY,
        PROXY_JWT_SECRET=SECRET.decode(),
        PROXY_METRICS_PORT=str(metrics_port),
    )
    try:
        await wait_ready(http, port)
        async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert r.status == 404
        async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
            assert r.status == 200 and "proxy_handshakes_total" in await r.text()
    finally:
        proxy.terminate()
        await proxy.communicate()


# --- sessions per user ----------------------------------------------------------------------


async def test_a_user_gets_two_concurrent_sessions_by_default(start: StartProxy, http: aiohttp.ClientSession) -> None:
    assert load_config(ENV).max_sessions_per_user == DEFAULT_MAX_SESSIONS_PER_USER == 2
    proxy = await start(max_sessions_per_user=DEFAULT_MAX_SESSIONS_PER_USER)
    open_ones = [await open_session(http, proxy, make_token()) for _ in range(2)]
    third = await open_session(http, proxy, make_token())
    assert await expect_close(third) == (CloseCode.TOO_MANY_SESSIONS, "too many sessions for alice (limit 2)")
    for ws in open_ones:
        await ws.close()


# --- what gets logged and sent back ---------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        f"GET /sign_in HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: {APP_PROTOCOL}, token.{FAKE_TOKEN}\x01\r\n\r\n",
        f"GET /sign_in HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol : token.{FAKE_TOKEN}\r\n\r\n",
        f"GET /sign_in?token={FAKE_TOKEN} HTTP/1.1\x00\r\nHost: x\r\n\r\n",
    ],
    ids=["bad-char", "bad-name", "bad-request-line"],
)
async def test_a_malformed_request_never_logs_its_token(
    served: TestServer, caplog: pytest.LogCaptureFixture, request_bytes: str
) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(request_bytes.encode())
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400")
    assert FAKE_TOKEN not in caplog.text
    parser_errors = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.exc_info) for r in parser_errors] == [(logging.INFO, None)]
    assert "malformed HTTP request" in parser_errors[0].getMessage()


def test_close_reasons_are_cut_on_a_character_boundary() -> None:
    reason = "too many sessions for " + "é" * 80
    cut = reason_bytes(reason)
    assert len(cut) <= 123 and reason.startswith(cut.decode("utf-8"))
    assert len(reason_bytes("é" * 62)) == 122  # 123 would split the 62nd character.


async def test_a_refusal_naming_a_non_ascii_user_keeps_its_close_code(
    start: StartProxy, http: aiohttp.ClientSession
) -> None:
    proxy = await start(max_sessions_per_user=1)
    user = "ü" * 60  # 120 bytes: the reason is over the 123 a close frame holds.
    first = await open_session(http, proxy, make_token(sub=user))
    second = await open_session(http, proxy, make_token(sub=user))
    code, reason = await expect_close(second)
    assert code == CloseCode.TOO_MANY_SESSIONS
    assert f"too many sessions for {user} (limit 1)".startswith(reason) and len(reason.encode()) <= 123
    await first.close()


def test_an_http_jwks_url_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    warn_about_jwks_url("https://login.example.com/jwks.json")
    assert caplog.records == []
    warn_about_jwks_url("http://login.example.com/jwks.json")
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "PROXY_JWKS_URL is http://" in caplog.text


def test_config_refuses_bad_trusted_proxies() -> None:
    with pytest.raises(ConfigError, match="PROXY_TRUSTED_PROXIES"):
        load_config({**ENV, "PROXY_TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"})
    assert isinstance(load_config(ENV), ProxyConfig)


TRUSTED = load_config_networks("10.0.0.0/8, 2001:db8:ffff::/48")


@pytest.mark.parametrize(
    ("peer", "forwarded", "x_forwarded_for", "client"),
    [
        ("203.0.113.5", [], ["198.51.100.1"], "203.0.113.5"),  # An untrusted peer's headers mean nothing.
        ("10.1.2.3", [], ["198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", [], ["192.0.2.66, 198.51.100.1, 10.9.9.9"], "198.51.100.1"),  # Past trusted hops only.
        ("10.1.2.3", [], ["192.0.2.66", "198.51.100.1"], "198.51.100.1"),  # Several header lines are one list.
        ("10.1.2.3", [], ["garbage, 10.9.9.9"], "10.9.9.9"),  # An unusable entry stops the walk.
        ("10.1.2.3", [], [], "10.1.2.3"),
        ("10.1.2.3", ['for=192.0.2.66;proto=https, for="[2001:db8::7]:443"'], ["198.51.100.1"], "2001:db8::7"),
        ("10.1.2.3", ["for=unknown"], [], "10.1.2.3"),
        ("2001:db8:ffff::1", [], ["198.51.100.1:4711"], "198.51.100.1"),
        ("::ffff:10.1.2.3", [], ["198.51.100.1"], "198.51.100.1"),  # A dual-stack socket's IPv4 peer.
    ],
)
def test_the_client_address_is_read_right_to_left_past_trusted_proxies(
    peer: str, forwarded: list[str], x_forwarded_for: list[str], client: str
) -> None:
    assert client_address(peer, forwarded, x_forwarded_for, TRUSTED) == client


def test_rate_keys_group_ipv6_by_64_and_keep_ipv4_whole() -> None:
    assert rate_key("198.51.100.1") == "198.51.100.1"
    assert rate_key("2001:db8:1:2::1") == rate_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("::ffff:198.51.100.1") == "198.51.100.1"
    assert rate_key("unknown") == "unknown"


def test_every_test_docs_security_names_exists() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", docs))
    defined = {
        name
        for path in Path(__file__).resolve().parents[2].rglob("test_*.py")
        for name in re.findall(r"^(?:async )?def (test_[a-z0-9_]+)", path.read_text(encoding="utf-8"), re.M)
    }
    assert named and named <= defined, named - defined


async def test_a_first_message_token_arriving_after_the_drain_began_is_refused_1001(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    ws = await first_message_socket(http, proxy)
    proxy.app[STATE].draining.set()  # As SIGTERM does, while the socket waits for its token.
    await ws.send_str(f'{{"token": "{make_token()}"}}')
    assert await expect_close(ws) == (CloseCode.GOING_AWAY, "proxy shutting down")
    assert upstream.handshakes == []
