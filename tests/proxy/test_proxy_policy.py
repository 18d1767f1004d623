"""Authorization, protection and operations of the real proxy on loopback.

Policy file (functions, users, groups, limits), `GET /functions`, Origin, rate limits, security
headers, metrics, readiness, token transports. Resume cookies: tests/proxy/test_proxy_resume.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from support.proxy_harness import (
    API_KEY,
    APP_PROTOCOL,
    POLICY,
    SECRET,
    StartProxy,
    Upstream,
    connect,
    expect_close,
    make_token,
    open_session,
    proxy_starter,
    sign_in_url,
)

from proxy.closecodes import CloseCode
from proxy.config import ConfigError, ProxyConfig, load_config
from proxy.policy import load_policy
from proxy.server import CONTENT_SECURITY_POLICY


@pytest.fixture
def config(upstream: Upstream, tmp_path: Path) -> ProxyConfig:
    (tmp_path / "policy.toml").write_text(POLICY)
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "client.js").write_text("export {};")
    return ProxyConfig(
        nvcf_api_key=API_KEY,
        jwt_secret=SECRET,
        policy=load_policy(tmp_path / "policy.toml"),
        nvcf_server=upstream.base_url,
        upstream_timeout=2.0,
        web_client_dir=web,
        token_first_message=False,
    )


@pytest.fixture
async def start(config: ProxyConfig) -> AsyncIterator[StartProxy]:
    async with proxy_starter(config) as start_proxy:
        yield start_proxy


async def test_function_choice_reaches_upstream_as_its_ids(
    start: Any, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    ws = await connect(http, proxy, make_token(sub="alice"), "paint")
    await ws.close()
    ws = await connect(http, proxy, make_token(sub="bob"))  # The default function.
    await ws.close()
    assert [(h["function-id"], h.get("function-version-id")) for h in upstream.handshakes] == [
        ("fn-paint", "ver-paint"),
        ("fn-viewer", None),
    ]


@pytest.mark.parametrize(
    ("sub", "groups", "function", "expected"),
    [
        ("bob", [], "paint", (CloseCode.FORBIDDEN, "forbidden: user bob may not open paint")),
        ("carol", [], "viewer", (CloseCode.FORBIDDEN, "forbidden: user carol may not open viewer")),
        ("alice", [], "nosuch", (CloseCode.UNKNOWN_FUNCTION, "unknown function: nosuch")),
        ("alice", [], "bad%20name", (CloseCode.BAD_REQUEST, "bad function name")),
    ],
)
async def test_policy_refusals_open_no_upstream(
    start: Any,
    http: aiohttp.ClientSession,
    upstream: Upstream,
    sub: str,
    groups: list[str],
    function: str,
    expected: Any,
) -> None:
    proxy = await start()
    ws = await connect(http, proxy, make_token(sub=sub, groups=groups), function)
    assert await expect_close(ws) == expected
    assert upstream.handshakes == []


async def test_group_grants_a_function(start: Any, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    proxy = await start()
    ws = await connect(http, proxy, make_token(sub="carol", groups=["artists"]), "paint")
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    await ws.close()


async def test_session_limit_per_user_closes_4409(start: Any, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    proxy = await start()
    first = await connect(http, proxy, make_token(sub="alice"), "paint")
    await first.send_str("x")
    await first.receive_str(timeout=5)
    second = await connect(http, proxy, make_token(sub="alice"), "viewer")
    assert await expect_close(second) == (CloseCode.TOO_MANY_SESSIONS, "too many sessions for alice (limit 1)")
    assert len(upstream.handshakes) == 1
    await first.close()
    await asyncio.sleep(0.2)
    third = await connect(http, proxy, make_token(sub="alice"), "viewer")
    await third.send_str("y")
    assert await third.receive_str(timeout=5) == "echo:y"
    await third.close()


async def test_functions_lists_what_the_user_may_open(start: Any, http: aiohttp.ClientSession) -> None:
    proxy = await start()
    base = f"http://127.0.0.1:{proxy.port}/functions"
    async with http.get(base, headers={"Authorization": f"Bearer {make_token(sub='alice')}"}) as r:
        assert r.status == 200
        assert await r.json() == {
            "functions": [{"name": "paint", "title": "Paint"}, {"name": "viewer", "title": "viewer"}],
            "default": "viewer",
        }
    async with http.get(base, headers={"Authorization": f"Bearer {make_token(sub='carol', groups=['artists'])}"}) as r:
        assert [f["name"] for f in (await r.json())["functions"]] == ["paint"]
    async with http.get(base, headers={"Authorization": f"Bearer {make_token(exp=1)}"}) as r:
        assert r.status == 401
        assert (await r.json()) == {"error": "token invalid: expired"}
    async with http.get(base) as r:
        assert r.status == 401


async def test_foreign_origin_gets_403_before_upgrade(
    start: Any, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(http, proxy, make_token(sub="bob"), origin="https://evil.test")
    assert caught.value.status == 403
    ws = await connect(http, proxy, make_token(sub="bob"), origin=f"http://127.0.0.1:{proxy.port}")
    await ws.close()
    allowed = await start(allowed_origins=("https://app.example",))
    ws = await connect(http, allowed, make_token(sub="bob"), origin="https://app.example")
    await ws.close()
    assert len(upstream.handshakes) == 2


async def test_rate_limits_answer_429(start: Any, http: aiohttp.ClientSession) -> None:
    proxy = await start(rate_per_address=3, rate_per_user=0)
    statuses = []
    for _ in range(5):
        try:
            await (await connect(http, proxy, make_token(sub="bob"))).close()
            statuses.append(101)
        except aiohttp.WSServerHandshakeError as exc:
            statuses.append(exc.status)
    assert statuses == [101, 101, 101, 429, 429]
    per_user = await start(rate_per_address=0, rate_per_user=2)
    statuses = []
    for _ in range(3):
        try:
            await (await connect(http, per_user, make_token(sub="bob"))).close()
            statuses.append(101)
        except aiohttp.WSServerHandshakeError as exc:
            statuses.append(exc.status)
    assert statuses == [101, 101, 429]


async def test_static_files_carry_strict_security_headers(start: Any, http: aiohttp.ClientSession) -> None:
    proxy = await start()
    for path in ("/", "/client.js", "/nosuch.js", "/healthz"):
        async with http.get(f"http://127.0.0.1:{proxy.port}{path}") as r:
            assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY


async def test_metrics_count_handshakes_sessions_and_bytes(
    start: Any, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    ws = await connect(http, proxy, make_token(sub="bob"))
    await ws.send_bytes(b"12345")
    await ws.receive_bytes(timeout=5)
    async with http.get(f"http://127.0.0.1:{proxy.port}/metrics") as r:
        during = await r.text()
    await ws.close()
    bad = await connect(http, proxy, "nope")
    await expect_close(bad)
    await asyncio.sleep(0.2)
    async with http.get(f"http://127.0.0.1:{proxy.port}/metrics") as r:
        text = await r.text()
    assert "proxy_active_sessions 1.0" in during
    assert "proxy_active_sessions 0.0" in text
    assert 'proxy_handshakes_total{outcome="accepted"} 1.0' in text
    assert 'proxy_handshakes_total{outcome="token-rejected"} 1.0' in text
    assert 'proxy_bytes_total{direction="client->upstream"} 5.0' in text
    assert 'proxy_bytes_total{direction="upstream->client"} 10.0' in text
    assert 'proxy_messages_total{direction="client->upstream"} 1.0' in text
    assert "proxy_upstream_connect_seconds_count 1.0" in text
    # Two apps, two registries: nothing global.
    other = await start()
    async with http.get(f"http://127.0.0.1:{other.port}/metrics") as r:
        assert "proxy_active_sessions 0.0" in await r.text()


async def test_readyz_needs_a_reachable_upstream(start: Any, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    proxy = await start()
    async with http.get(f"http://127.0.0.1:{proxy.port}/readyz") as r:
        assert r.status == 200
    down = await start(nvcf_server="ws://127.0.0.1:9")  # Discard port: nothing listens.
    async with http.get(f"http://127.0.0.1:{down.port}/readyz") as r:
        assert r.status == 503
        assert (await r.json())["upstream"] is False
    async with http.get(f"http://127.0.0.1:{down.port}/healthz") as r:
        assert r.status == 200


async def test_first_message_token(start: Any, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    proxy = await start(token_first_message=True, auth_timeout=1.0)
    ws = await open_session(http, proxy)
    assert ws.protocol == APP_PROTOCOL
    await ws.send_str(json.dumps({"token": make_token(sub="bob")}))
    await ws.send_str("hello")
    assert await ws.receive_str(timeout=5) == "echo:hello"
    await ws.close()
    silent = await open_session(http, proxy)
    assert await expect_close(silent) == (CloseCode.TOKEN_INVALID, "token missing")
    assert len(upstream.handshakes) == 1


async def test_query_token_only_when_enabled(start: Any, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    token = make_token(sub="bob")
    off = await start()
    ws = await http.ws_connect(f"{sign_in_url(off)}?token={token}", protocols=[APP_PROTOCOL])
    assert (await expect_close(ws))[0] == CloseCode.TOKEN_INVALID
    on = await start(token_query=True)
    ws = await http.ws_connect(f"{sign_in_url(on)}?token={token}", protocols=[APP_PROTOCOL])
    await ws.send_str("q")
    assert await ws.receive_str(timeout=5) == "echo:q"
    await ws.close()
    assert len(upstream.handshakes) == 1


async def test_max_session_length_closes_4408(start: Any, http: aiohttp.ClientSession) -> None:
    proxy = await start(max_session_seconds=1.0)
    ws = await connect(http, proxy, make_token(sub="bob"))
    assert await asyncio.wait_for(expect_close(ws), 5) == (CloseCode.SESSION_TIMEOUT, "session time limit reached")


async def test_oversized_message_closes_1009(start: Any, http: aiohttp.ClientSession) -> None:
    proxy = await start(max_message_bytes=2048)
    ws = await connect(http, proxy, make_token(sub="bob"))
    await ws.send_bytes(b"x" * 4096)
    msg = await ws.receive(timeout=5)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1009


# --- idle timeout and the config file ---------------------------------------------------------


async def test_a_session_without_messages_for_the_idle_timeout_is_closed_4408(
    start: Any, http: aiohttp.ClientSession
) -> None:
    proxy = await start(idle_timeout=0.6)
    ws = await connect(http, proxy, make_token(sub="alice"), "viewer")
    # Messages keep it open past the timeout ...
    for _ in range(4):
        await ws.send_str("ping")
        assert (await ws.receive(timeout=5)).type is WSMsgType.TEXT
        await asyncio.sleep(0.25)
    # ... and silence ends it.
    assert await expect_close(ws) == (CloseCode.SESSION_TIMEOUT, "idle timeout")


def test_settings_come_from_the_config_file_and_env_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "proxy.toml").write_text(
        'PROXY_PORT = 9090\nPROXY_IDLE_TIMEOUT = 45\nPROXY_ALLOWED_ORIGINS = ["https://a.example", "https://b.example"]\n'
    )
    env = {
        "NVCF_API_KEY": API_KEY,
        "STREAMING_FUNCTION_ID": "fn-1",
        "PROXY_JWT_SECRET": SECRET.decode(),
        "PROXY_CONFIG_FILE": str(tmp_path / "proxy.toml"),
    }
    config = load_config(env)
    assert (config.port, config.idle_timeout) == (9090, 45.0)
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert load_config({**env, "PROXY_PORT": "9191"}).port == 9191
    (tmp_path / "bad.toml").write_text("PROXY_NO_SUCH_SETTING = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'PROXY_NO_SUCH_SETTING'"):
        load_config({**env, "PROXY_CONFIG_FILE": str(tmp_path / "bad.toml")})
    (tmp_path / "secret.toml").write_text('NVCF_API_KEY = "nope"\n')
    with pytest.raises(ConfigError, match="NVCF_API_KEY_FILE"):
        load_config({**env, "PROXY_CONFIG_FILE": str(tmp_path / "secret.toml")})
