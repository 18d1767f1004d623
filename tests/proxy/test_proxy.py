"""The proxy, run for real on loopback against a small real upstream WebSocket server.

The upstream stands in for NVCF's relay: it records each handshake it receives, echoes messages
(prefixed, so a test can tell they went through it), closes on request, or refuses the handshake
with a given HTTP status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer
from support.proxy_harness import (
    API_KEY,
    APP_PROTOCOL,
    AUDIENCE,
    ISSUER,
    REPO,
    SECRET,
    StartProxy,
    Upstream,
    expect_close,
    make_token,
    open_session,
    proxy_starter,
    sign_in_url,
)
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from benchmarks.ports import free_port
from proxy.closecodes import CloseCode
from proxy.config import SETTINGS, ConfigError, ProxyConfig, load_config
from proxy.devtoken import mint_dev_token

FUNCTION_ID = "fn-0000-1111"
VERSION_ID = "ver-2222-3333"

# What aiohttp's client puts in any WebSocket handshake, plus the three headers the proxy adds.
ALLOWED_UPSTREAM_HEADERS = {
    "host",
    "upgrade",
    "connection",
    "sec-websocket-version",
    "sec-websocket-key",
    "accept",
    "accept-encoding",
    "user-agent",
    "authorization",
    "function-id",
    "function-version-id",
}


def unsigned_token() -> str:
    """An `alg: none` token, built by hand because PyJWT rightly makes that hard."""

    def b64url(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": int(time.time()) + 60}
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """A web client directory, with a file next to it that must never be served."""
    (tmp_path / "pyproject.toml").write_text("NOT-FOR-BROWSERS")
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>stream</title>")
    (root / "client.js").write_text("export const client = 1;")
    (root / "stamp.js").write_text("export const stamp = 2;")
    (root / "style.css").write_text("body { margin: 0 }")
    (root / "__init__.py").write_text("# package marker, not for browsers")
    (root / "escape.js").symlink_to(tmp_path / "pyproject.toml")
    return root


@pytest.fixture
def base_config(upstream: Upstream, web_dir: Path) -> ProxyConfig:
    return ProxyConfig(
        nvcf_api_key=API_KEY,
        function_id=FUNCTION_ID,
        function_version_id=VERSION_ID,
        jwt_secret=SECRET,
        host="127.0.0.1",
        port=0,
        nvcf_server=upstream.base_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        upstream_timeout=2.0,
        web_client_dir=web_dir,
        allowed_origins=("https://example.test",),
        auth_timeout=1.0,
    )


@pytest.fixture
async def start_proxy(base_config: ProxyConfig) -> AsyncIterator[StartProxy]:
    """Start the real proxy app on loopback; keyword arguments change its config."""
    async with proxy_starter(base_config) as start:
        yield start


@pytest.fixture
async def proxy(start_proxy: StartProxy) -> TestServer:
    return await start_proxy()


# --- relaying -------------------------------------------------------------------------------


async def test_relays_text_both_ways(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    ws = await open_session(http, proxy, make_token())
    await ws.send_str('{"v": 1, "type": "offer", "sdp": "v=0"}')
    assert await ws.receive_str(timeout=5) == 'echo:{"v": 1, "type": "offer", "sdp": "v=0"}'
    await ws.close()


async def test_relays_binary_both_ways(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    ws = await open_session(http, proxy, make_token())
    payload = bytes(range(256)) * 64
    await ws.send_bytes(payload)
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.BINARY  # Binary stays binary: no decoding on the way.
    assert msg.data == b"echo:" + payload
    await ws.close()


@pytest.mark.parametrize("valid", [True, False], ids=["accepted", "refused"])
async def test_echoes_only_the_app_protocol(proxy: TestServer, valid: bool) -> None:
    token = make_token() if valid else make_token(key=b"x" * 64)
    async with websockets.connect(
        sign_in_url(proxy),
        subprotocols=[APP_PROTOCOL, f"token.{token}"],  # type: ignore[list-item]
    ) as conn:
        assert conn.response is not None
        assert conn.response.headers.get_all("Sec-WebSocket-Protocol") == [APP_PROTOCOL]
        assert token not in str(conn.response.headers)
        assert conn.subprotocol == APP_PROTOCOL


async def test_upstream_gets_exactly_the_allowed_headers(
    proxy: TestServer, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    token = make_token()
    ws = await open_session(
        http,
        proxy,
        token,
        headers={
            "Authorization": "Bearer browser-credential",
            "Cookie": "nvcf-request-id=someone-elses-session",
            "X-Forwarded-For": "203.0.113.7",
            "x_forwarded_host": "evil.test",
            "nvcf-reqid": "browser-chosen-session",
            "NVCF_REQID": "browser-chosen-session-2",
            "Function-Id": "fn-chosen-by-browser",
            "function_version_id": "ver-chosen-by-browser",
            "NVCF-API-KEY": "browser-credential",
        },
        origin="https://example.test",
    )
    await ws.close()
    (seen,) = upstream.handshakes
    names = [name.lower() for name in seen]
    assert len(names) == len(set(names))  # Each header once.
    assert set(names) <= ALLOWED_UPSTREAM_HEADERS
    assert seen["authorization"] == f"Bearer {API_KEY}"
    assert seen["function-id"] == FUNCTION_ID
    assert seen["function-version-id"] == VERSION_ID
    assert "sec-websocket-protocol" not in seen
    assert "sec-websocket-extensions" not in seen  # No compression upstream.
    for value in seen.values():
        assert token not in value
        assert "browser-credential" not in value
        assert "chosen" not in value
        assert "evil" not in value


async def test_version_header_is_left_out_when_unset(
    start_proxy: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start_proxy(function_version_id=None)
    ws = await open_session(http, proxy, make_token())
    await ws.close()
    (seen,) = upstream.handshakes
    assert "function-version-id" not in seen
    assert seen["function-id"] == FUNCTION_ID


async def test_upstream_sets_no_cookie_for_later_sessions(
    start_proxy: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    # The relay answers with Set-Cookie: nvcf-request-id=...; a shared cookie jar would send one
    # user's session id with the next user's handshake.
    upstream.session_cookie = "first-users-session"
    # By name, not IP: aiohttp's cookie jar ignores cookies from IP addresses.
    proxy = await start_proxy(nvcf_server=f"ws://localhost:{upstream.server.port}")
    for _ in range(2):
        ws = await open_session(http, proxy, make_token())
        await ws.close()
    assert len(upstream.handshakes) == 2
    assert "cookie" not in upstream.handshakes[1]


# --- refusing tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: None, "token missing"),
        (
            lambda: make_token(key=b"wrong-secret-0123456789abcdef-0123456789abcdef"),
            "token invalid: bad signature",
        ),
        (lambda: make_token(exp=int(time.time()) - 60), "token invalid: expired"),
        (lambda: make_token(exp=None), "token invalid: missing exp claim"),
        (lambda: make_token(iss="evil-issuer"), "token invalid: wrong issuer"),
        (lambda: make_token(aud="another-service"), "token invalid: wrong audience"),
        (lambda: unsigned_token(), "token invalid: algorithm not allowed"),
        (lambda: make_token(algorithm="HS512"), "token invalid: algorithm not allowed"),
        (lambda: "garbage", "token invalid: malformed"),
    ],
    ids=[
        "missing",
        "bad-signature",
        "expired",
        "no-exp",
        "wrong-iss",
        "wrong-aud",
        "alg-none",
        "wrong-alg",
        "garbage",
    ],
)
async def test_bad_token_closes_4401_without_upstream(
    proxy: TestServer,
    http: aiohttp.ClientSession,
    upstream: Upstream,
    make: Callable[[], str | None],
    reason: str,
) -> None:
    # Minted here, not at collection: a token made then could expire before the test runs.
    token = make()
    ws = await open_session(http, proxy, token)
    assert ws.protocol == APP_PROTOCOL  # The handshake completes so the page can read the code.
    code, text = await expect_close(ws)
    assert code == CloseCode.TOKEN_INVALID
    assert text == reason
    if token:
        assert token not in text
    assert upstream.handshakes == []


async def test_two_tokens_close_4401(proxy: TestServer, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    ws = await http.ws_connect(
        sign_in_url(proxy),
        protocols=[APP_PROTOCOL, f"token.{make_token()}", f"token.{make_token()}"],
    )
    assert await expect_close(ws) == (4401, "token invalid: more than one token offered")
    assert upstream.handshakes == []


async def test_offer_without_app_protocol_is_refused_and_not_logged(
    proxy: TestServer, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(sign_in_url(proxy), protocols=[f"token.{token}"])
    assert caught.value.status == 400
    assert upstream.handshakes == []
    # aiohttp logs an offer it cannot match, token included; the proxy must refuse it first.
    assert token not in caplog.text


async def test_offer_split_over_two_headers_is_refused_and_not_logged(
    proxy: TestServer, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp negotiates from the first header only; the token must not reach its warning either.
    caplog.set_level(logging.DEBUG)
    token = make_token()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(
        (
            "GET /sign_in HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Protocol: token.{token}\r\n"
            f"Sec-WebSocket-Protocol: {APP_PROTOCOL}\r\n\r\n"
        ).encode()
    )
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split(b" ")[1] == b"400"
    assert upstream.handshakes == []
    assert token not in caplog.text


async def test_plain_get_on_sign_in_is_400(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.get(proxy.make_url("/sign_in")) as response:
        assert response.status == 400


# --- upstream failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (401, 4502, "upstream refused: HTTP 401"),
        (403, 4502, "upstream refused: HTTP 403"),
        (404, 4502, "upstream refused: HTTP 404"),
        (503, 4503, "upstream busy: HTTP 503"),
    ],
)
async def test_upstream_refusal_maps_to_close_code(
    proxy: TestServer,
    http: aiohttp.ClientSession,
    upstream: Upstream,
    status: int,
    code: int,
    reason: str,
) -> None:
    upstream.refuse_status = status
    ws = await open_session(http, proxy, make_token())
    assert await expect_close(ws) == (code, reason)
    assert len(upstream.handshakes) == 1


async def test_unreachable_upstream_closes_4502(start_proxy: StartProxy, http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(nvcf_server=f"ws://127.0.0.1:{free_port()}")
    ws = await open_session(http, proxy, make_token())
    assert await expect_close(ws) == (4502, "upstream unreachable")


async def test_silent_upstream_closes_4504_after_the_timeout(
    start_proxy: StartProxy, http: aiohttp.ClientSession
) -> None:
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # Until the proxy gives up and closes the connection.
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        proxy = await start_proxy(nvcf_server=f"ws://127.0.0.1:{port}", upstream_timeout=0.3)
        started = time.monotonic()
        ws = await open_session(http, proxy, make_token())
        assert await expect_close(ws) == (4504, "upstream timed out")
        assert accepted.is_set()
        assert 0.25 <= time.monotonic() - started < 2.0
    finally:
        silent.close()
        await silent.wait_closed()


# --- close codes ----------------------------------------------------------------------------


async def test_upstream_close_code_reaches_browser(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    ws = await open_session(http, proxy, make_token())
    await ws.send_str("please-close 4000 game over")
    assert await expect_close(ws) == (4000, "game over")


async def test_browser_close_code_reaches_upstream(
    proxy: TestServer, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    ws = await open_session(http, proxy, make_token())
    await ws.send_str("hello")
    await ws.receive_str(timeout=5)
    await ws.close(code=4000, message=b"user left")
    assert await asyncio.wait_for(upstream.closes.get(), 5) == (4000, "user left")


async def test_shutdown_ends_sessions_with_1001(
    start_proxy: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start_proxy()
    ws = await open_session(http, proxy, make_token())
    await ws.send_str("x")
    await ws.receive_str(timeout=5)
    browser_close = asyncio.create_task(expect_close(ws))  # A browser answers a close at once.
    started = time.monotonic()
    await asyncio.wait_for(proxy.close(), 10)
    assert time.monotonic() - started < 3  # Not aiohttp's 60 s wait for handlers to finish.
    assert await browser_close == (1001, "proxy shutting down")
    assert await asyncio.wait_for(upstream.closes.get(), 5) == (1001, "proxy shutting down")


async def test_close_without_code_reaches_upstream_as_normal_closure(proxy: TestServer, upstream: Upstream) -> None:
    # A close frame may carry no code (the receiver sees 1005). 1005 may not be sent on, so the
    # proxy sends 1000 rather than an invalid code 0.
    protocol = ClientProtocol(
        parse_uri(sign_in_url(proxy)),
        subprotocols=[APP_PROTOCOL, f"token.{make_token()}"],  # type: ignore[list-item]
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        protocol.send_request(protocol.connect())
        writer.writelines(protocol.data_to_send())
        while not protocol.events_received():
            protocol.receive_data(await asyncio.wait_for(reader.read(4096), 5))
        assert protocol.handshake_exc is None
        protocol.send_close()  # No code, no reason: an empty close frame.
        writer.writelines(protocol.data_to_send())
        assert await asyncio.wait_for(upstream.closes.get(), 5) == (1000, "")
    finally:
        writer.close()


async def test_oversized_message_ends_only_its_own_session(
    proxy: TestServer, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    steady = await open_session(http, proxy, make_token(sub="steady"))
    greedy = await open_session(http, proxy, make_token(sub="greedy"))
    # Over the 4 MiB message limit: the proxy stops reading and closes while this is sent.
    with contextlib.suppress(ConnectionError):
        await greedy.send_bytes(b"\0" * (5 * 1024 * 1024))
    upstream_code, _ = await asyncio.wait_for(upstream.closes.get(), 5)
    assert upstream_code == 1009  # Message too big, as aiohttp closed the browser's side.
    assert (await greedy.receive(timeout=5)).type in (
        WSMsgType.CLOSE,
        WSMsgType.CLOSED,
        WSMsgType.ERROR,
    )
    await steady.send_str("still here?")
    assert await steady.receive_str(timeout=5) == "echo:still here?"
    await steady.close()


async def test_garbage_request_does_not_disturb_a_session(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    ws = await open_session(http, proxy, make_token())
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 5)).split(b"\r\n")[0].endswith(b" 400 Bad Request")
    writer.close()
    await ws.send_str("ping")
    assert await ws.receive_str(timeout=5) == "echo:ping"
    await ws.close()


# --- static files and health ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/", "text/html", "<!doctype html><title>stream</title>"),
        ("/index.html", "text/html", "<!doctype html><title>stream</title>"),
        ("/client.js", "text/javascript", "export const client = 1;"),
        ("/stamp.js", "text/javascript", "export const stamp = 2;"),
        ("/style.css", "text/css", "body { margin: 0 }"),
    ],
)
async def test_serves_web_client_files(
    proxy: TestServer, http: aiohttp.ClientSession, path: str, content_type: str, body: str
) -> None:
    async with http.get(proxy.make_url(path)) as response:
        assert response.status == 200
        assert response.content_type == content_type
        assert await response.text() == body


async def raw_get(server: TestServer, target: str) -> tuple[int, bytes]:
    """Send the request target exactly as given (a client library would normalize it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response


@pytest.mark.parametrize(
    "target",
    [
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/%2e%2e%2fpyproject.toml",
        "/..%2fpyproject.toml",
        "/%2E%2E/%2E%2E/pyproject.toml",
        "/escape.js",  # A symlink inside the directory that leads out of it.
        "/__init__.py",  # In the directory, but not a kind of file the client ships.
        "/.hidden.js",
        "/missing.js",
    ],
)
async def test_serves_nothing_outside_the_client_files(proxy: TestServer, target: str) -> None:
    status, response = await raw_get(proxy, target)
    assert status == 404
    assert b"NOT-FOR-BROWSERS" not in response
    assert b"package marker" not in response


async def test_healthz(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    async with http.get(proxy.make_url("/healthz")) as response:
        assert response.status == 200
        assert await response.text() == "ok"


# --- logging --------------------------------------------------------------------------------


async def test_access_log_has_no_query_string(
    proxy: TestServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with http.get(proxy.make_url("/healthz?token=leaked-if-logged")) as response:
        assert response.status == 200
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("GET /healthz 200" in line for line in access)
    assert "leaked-if-logged" not in caplog.text


async def test_session_log_names_user_and_code_but_no_secret(
    proxy: TestServer,
    http: aiohttp.ClientSession,
    upstream: Upstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    good, bad = make_token(sub="carol"), make_token(iss="nobody")
    ws = await open_session(http, proxy, good)
    await ws.send_str("please-close 4000 done")
    await expect_close(ws)
    refused = await open_session(http, proxy, bad)
    await expect_close(refused)
    await asyncio.sleep(0.05)  # Let the handlers write their last line.
    lines = [r.getMessage() for r in caplog.records if r.name == "proxy.session"]
    assert any("start: sub='carol'" in line for line in lines)
    assert any("end: sub='carol'" in line and "code=4000" in line for line in lines)
    assert any("refused" in line and "code=4401" in line for line in lines)
    for secret in (good, bad, API_KEY, SECRET.decode()):
        assert secret not in caplog.text


# --- configuration and command line ---------------------------------------------------------

BASE_ENV = {
    "NVCF_API_KEY": API_KEY,
    "STREAMING_FUNCTION_ID": FUNCTION_ID,
    "PROXY_JWT_SECRET": SECRET.decode(),
}


def test_config_from_env_with_defaults(web_dir: Path) -> None:
    config = load_config({**BASE_ENV, "PROXY_WEB_CLIENT_DIR": str(web_dir)})
    assert (config.host, config.port, config.upstream_timeout) == ("127.0.0.1", 8080, 10.0)
    assert config.upstream_url == "wss://grpc.nvcf.nvidia.com/sign_in"
    assert (config.jwt_issuer, config.jwt_audience) == ("nvcf-stream-kit", "stream-proxy")
    assert config.function_version_id is None
    assert config.event_loop == "uvloop"


def test_config_default_web_client_dir_is_the_package() -> None:
    import web_client

    assert load_config(BASE_ENV).web_client_dir == Path(web_client.__file__).parent


def test_flags_override_env_and_files_override_env_values(tmp_path: Path, web_dir: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("nvapi-from-file\n")
    env = {**BASE_ENV, "PROXY_PORT": "9000", "PROXY_WEB_CLIENT_DIR": str(web_dir)}
    config = load_config(env, {"PROXY_PORT": "9100", "NVCF_API_KEY_FILE": str(key_file), "PROXY_HOST": None})
    assert config.port == 9100
    assert config.nvcf_api_key == "nvapi-from-file"  # Stripped of the file's newline.


def test_config_repr_masks_secrets(web_dir: Path) -> None:
    config = load_config({**BASE_ENV, "PROXY_WEB_CLIENT_DIR": str(web_dir)})
    assert API_KEY not in repr(config)
    assert SECRET.decode() not in repr(config)
    assert FUNCTION_ID in repr(config)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"PROXY_JWT_SECRET": ""}, "PROXY_JWT_SECRET (or PROXY_JWT_SECRET_FILE"),
        ({"PROXY_JWT_SECRET": "short"}, "at least 32 bytes"),
        (
            {"NVCF_API_KEY_FILE": "/nonexistent/key"},
            "set only one of NVCF_API_KEY and NVCF_API_KEY_FILE",
        ),
        ({"PROXY_PORT": "eighty"}, "PROXY_PORT"),
        ({"PROXY_UPSTREAM_TIMEOUT": "0"}, "PROXY_UPSTREAM_TIMEOUT"),
        ({"PROXY_UPSTREAM_TIMEOUT": "nan"}, "PROXY_UPSTREAM_TIMEOUT"),
        ({"NVCF_SERVER": "https://grpc.nvcf.nvidia.com"}, "NVCF_SERVER"),
        ({"PROXY_JWT_LEEWAY": "3600"}, "PROXY_JWT_LEEWAY"),
        ({"STREAMING_FUNCTION_ID": "id with spaces"}, "STREAMING_FUNCTION_ID"),
        ({"PROXY_EVENT_LOOP": "trio"}, "PROXY_EVENT_LOOP: 'trio' is not one of uvloop, asyncio"),
    ],
)
def test_bad_settings_raise_config_error(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE_ENV, **changes})
    assert message in str(caught.value)
    assert API_KEY not in str(caught.value)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        capture_output=True,
        text=True,
        timeout=20,
        cwd=REPO,
    )


def test_help_lists_every_setting() -> None:
    result = run_cli("-m", "proxy", "--help")
    assert result.returncode == 0
    for setting in SETTINGS:
        assert setting.env in result.stdout
        if setting.flag is not None:
            assert setting.flag in result.stdout
    assert "wss://grpc.nvcf.nvidia.com" in result.stdout


def test_missing_secret_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("-m", "proxy", env={"NVCF_API_KEY": API_KEY, "STREAMING_FUNCTION_ID": FUNCTION_ID})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "PROXY_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
    assert API_KEY not in result.stderr


def test_unreadable_secret_file_exits_2(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "proxy",
        "--jwt-secret-file",
        str(tmp_path / "absent"),
        env={**BASE_ENV, "PROXY_JWT_SECRET": ""},
    )
    assert result.returncode == 2
    assert "PROXY_JWT_SECRET_FILE: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


async def test_cli_serves_a_devtoken_session_and_logs_no_secret(
    tmp_path: Path, web_dir: Path, upstream: Upstream
) -> None:
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_bytes(SECRET + b"\n")
    minted = await asyncio.to_thread(
        run_cli,
        "-m",
        "proxy.devtoken",
        "--secret-file",
        str(secret_file),
        "--subject",
        "dave",
        "--ttl",
        "60",
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()

    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NVCF_API_KEY": API_KEY,
        "STREAMING_FUNCTION_ID": FUNCTION_ID,
        "PROXY_JWT_SECRET_FILE": str(secret_file),
        "NVCF_SERVER": upstream.base_url,
        "PROXY_WEB_CLIENT_DIR": str(web_dir),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "--port",
        str(port),
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            ws = await session.ws_connect(f"ws://127.0.0.1:{port}/sign_in", protocols=[APP_PROTOCOL, f"token.{token}"])
            await ws.send_str("hi")
            assert await ws.receive_str(timeout=5) == "echo:hi"
            await ws.close()
    finally:
        process.send_signal(signal.SIGINT)
        output = (await asyncio.wait_for(process.communicate(), 10))[0].decode()
    assert "start: sub='dave'" in output
    assert "GET /healthz 200" in output
    for secret in (token, API_KEY, SECRET.decode()):
        assert secret not in output


async def test_devtoken_without_secret_exits_2() -> None:
    result = await asyncio.to_thread(run_cli, "-m", "proxy.devtoken")
    assert result.returncode == 2
    assert "--secret-file" in result.stderr


async def test_minted_token_opens_a_session(proxy: TestServer, http: aiohttp.ClientSession) -> None:
    token = mint_dev_token(SECRET, issuer=ISSUER, audience=AUDIENCE, subject="erin", ttl_seconds=30)
    ws = await open_session(http, proxy, token)
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    await ws.close()
