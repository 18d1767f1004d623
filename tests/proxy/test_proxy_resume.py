"""Resume cookies: signed for one user and function, accepted by any proxy holding the same secret.

The signer on its own first (a fake clock), then real proxies on loopback in front of the
recording upstream stand-in, which shows whether a session id was forwarded as `nvcf-reqid`:
two proxy apps sharing a secret, and a real `stream-proxy` process restarted with its secret file.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
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
    proxy_starter,
    start_proxy_process,
    wait_ready,
)

from benchmarks.ports import free_port
from proxy.closecodes import CloseCode
from proxy.config import ConfigError, ProxyConfig, load_config, read_config_file
from proxy.policy import load_policy
from proxy.resume import ResumeSigner

SESSION_SECRET = b"resume-test-secret-0123456789abcdef-0123456789abcdef"
OTHER_SECRET = b"another-resume-secret-0123456789abcdef-0123456789ab"
NOW = 1_700_000_000.0


# --- the signer -----------------------------------------------------------------------------


def signer(secret: bytes = SESSION_SECRET, now: float = NOW) -> ResumeSigner:
    return ResumeSigner(secret, clock=lambda: now)


def test_a_cookie_gives_back_its_session_id_to_its_user_and_function() -> None:
    cookie = signer().issue("sess.with.dots", "bob", "viewer", 60)
    assert cookie is not None and cookie.startswith(f"sess.with.dots.{int(NOW) + 60}.")
    assert signer().session_id(cookie, "bob", "viewer") == "sess.with.dots"


def test_a_cookie_is_refused_for_another_user_function_or_secret() -> None:
    cookie = signer().issue("sess-1", "bob", "viewer", 60)
    assert cookie is not None
    assert signer().session_id(cookie, "alice", "viewer") is None
    assert signer().session_id(cookie, "bob", "paint") is None
    assert signer(OTHER_SECRET).session_id(cookie, "bob", "viewer") is None


def test_a_cookie_is_valid_until_its_expiry_only() -> None:
    cookie = signer().issue("sess-1", "bob", "viewer", 60)
    assert cookie is not None
    assert signer(now=NOW + 59).session_id(cookie, "bob", "viewer") == "sess-1"
    assert signer(now=NOW + 60).session_id(cookie, "bob", "viewer") is None


def test_a_tampered_cookie_is_refused() -> None:
    cookie = signer().issue("sess-1", "bob", "viewer", 60)
    assert cookie is not None
    session_id, expiry, mac = cookie.rsplit(".", 2)
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    for tampered in (
        f"sess-2.{expiry}.{mac}",
        f"x.sess-1.{expiry}.{mac}",  # Cannot borrow another id's signature by prefixing.
        f"{session_id}.{int(expiry) + 3600}.{mac}",
        f"{session_id}.{expiry}.{flipped}",
        f"{session_id}.{expiry}.{mac}=",
        f"{session_id}.{expiry}",
        f"{session_id}.0{expiry}.{mac}",
        "",
        "...",
        f"{session_id}.-1.{mac}",
        f"{session_id}.{'9' * 40}.{mac}",
    ):
        assert signer().session_id(tampered, "bob", "viewer") is None, tampered


def test_fields_cannot_shift_into_one_another() -> None:
    cookie = signer().issue("sess-1", "ab", "c", 60)
    assert cookie is not None
    assert signer().session_id(cookie, "a", "bc") is None


def test_unusable_session_ids_and_short_secrets_are_refused() -> None:
    assert signer().issue("bad id", "bob", "viewer", 60) is None
    assert signer().issue("x" * 129, "bob", "viewer", 60) is None
    assert signer().session_id("bad id.1.x", "bob", "viewer") is None
    # A token's subject may be any JSON text, lone surrogates included.
    cookie = signer().issue("sess-1", "\ud800", "viewer", 60)
    assert cookie is not None and signer().session_id(cookie, "\ud800", "viewer") == "sess-1"
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ResumeSigner(b"short")


# --- the setting ----------------------------------------------------------------------------

BASE_ENV = {"NVCF_API_KEY": API_KEY, "STREAMING_FUNCTION_ID": "fn-1", "PROXY_JWT_SECRET": SECRET.decode()}


def test_session_secret_comes_from_env_or_file_and_is_masked(tmp_path: Path) -> None:
    assert load_config(BASE_ENV).session_secret is None
    config = load_config({**BASE_ENV, "PROXY_SESSION_SECRET": SESSION_SECRET.decode()})
    assert config.session_secret == SESSION_SECRET
    assert SESSION_SECRET.decode() not in repr(config)
    secret_file = tmp_path / "session-secret"
    secret_file.write_bytes(SESSION_SECRET + b"\n")
    from_flag = load_config(
        {**BASE_ENV, "PROXY_SESSION_SECRET": OTHER_SECRET.decode()},
        {"PROXY_SESSION_SECRET_FILE": str(secret_file)},  # A file given as a flag wins.
    )
    assert from_flag.session_secret == SESSION_SECRET


def test_short_or_misplaced_session_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^PROXY_SESSION_SECRET: must be at least 32 bytes"):
        load_config({**BASE_ENV, "PROXY_SESSION_SECRET": "short"})
    config_file = tmp_path / "proxy.toml"
    config_file.write_text(f'PROXY_SESSION_SECRET = "{SESSION_SECRET.decode()}"\n')
    with pytest.raises(ConfigError, match="set PROXY_SESSION_SECRET_FILE instead") as caught:
        read_config_file(config_file)
    assert SESSION_SECRET.decode() not in str(caught.value)


# --- real proxies ---------------------------------------------------------------------------


@pytest.fixture
def config(upstream: Upstream, tmp_path: Path) -> ProxyConfig:
    (tmp_path / "policy.toml").write_text(POLICY)
    return ProxyConfig(
        nvcf_api_key=API_KEY,
        jwt_secret=SECRET,
        policy=load_policy(tmp_path / "policy.toml"),
        nvcf_server=upstream.base_url,
        upstream_timeout=2.0,
        token_first_message=False,
        session_secret=SESSION_SECRET,
        resume_window=60,
    )


@pytest.fixture
async def start(config: ProxyConfig) -> AsyncIterator[StartProxy]:
    async with proxy_starter(config) as start_proxy:
        yield start_proxy


def resume_cookie(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, Any]:
    """The `nvcf-request-id` value the proxy set, and the cookie's attributes."""
    cookies = SimpleCookie()
    cookies.load(ws._response.headers["Set-Cookie"])  # The browser keeps it (HttpOnly).
    morsel = cookies["nvcf-request-id"]
    return morsel.value, morsel


async def first_session(
    http: aiohttp.ClientSession, proxy: TestServer, sub: str = "bob", function: str | None = None
) -> str:
    ws = await connect(http, proxy, make_token(sub=sub), function)
    value, _ = resume_cookie(ws)
    await ws.close()
    return value


async def reconnect(
    http: aiohttp.ClientSession, proxy: TestServer, cookie: str, sub: str = "bob", function: str | None = None
) -> None:
    ws = await connect(
        http, proxy, make_token(sub=sub), function, headers={"Cookie": f"nvcf-request-id={cookie}"}, extra=["resume"]
    )
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    await ws.close()


def forwarded(upstream: Upstream) -> list[str | None]:
    return [h.get("nvcf-reqid") for h in upstream.handshakes]


async def test_cookie_is_signed_and_keeps_its_attributes(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    upstream.reqid = "sess.1234"
    ws = await connect(http, proxy, make_token(sub="bob", exp=int(time.time()) + 100))
    value, morsel = resume_cookie(ws)
    await ws.close()
    assert value.startswith("sess.1234.") and value.count(".") == 3
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/sign_in"
    assert not morsel["secure"]  # Plain http on loopback; set behind https.
    # The token has 100 s left and the resume window is 60 s.
    assert 150 <= int(morsel["max-age"]) <= 160
    assert all("cookie" not in h for h in upstream.handshakes)


async def test_behind_a_tls_terminating_balancer_the_cookie_is_secure(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(tls_terminated=True)
    upstream.reqid = "sess.1234"
    ws = await connect(http, proxy, make_token(sub="bob"))
    _, morsel = resume_cookie(ws)
    await ws.close()
    assert morsel["secure"] and morsel["httponly"]


async def test_cookie_from_one_proxy_resumes_through_another_with_the_same_secret(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    upstream.reqid = "sess.1234"
    proxy_a = await start()
    cookie = await first_session(http, proxy_a)
    await proxy_a.close()  # As in a rolling deploy: the proxy that set the cookie is gone.
    proxy_b = await start()
    await reconnect(http, proxy_b, cookie)
    proxy_c = await start(session_secret=OTHER_SECRET)
    await reconnect(http, proxy_c, cookie)
    assert forwarded(upstream) == [None, "sess.1234", None]


async def test_without_the_resume_item_the_cookie_is_not_forwarded(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    upstream.reqid = "sess-1"
    proxy = await start()
    cookie = await first_session(http, proxy)
    ws = await connect(http, proxy, make_token(sub="bob"), headers={"Cookie": f"nvcf-request-id={cookie}"})
    await ws.close()  # A second tab: a new session.
    assert forwarded(upstream) == [None, None]


async def test_tampered_cookies_are_ignored(start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    upstream.reqid = "sess-1"
    proxy = await start()
    cookie = await first_session(http, proxy)
    session_id, expiry, mac = cookie.rsplit(".", 2)
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    for tampered in (
        f"sess-2.{expiry}.{mac}",
        f"{session_id}.{int(expiry) + 3600}.{mac}",
        f"{session_id}.{expiry}.{flipped}",
        session_id,  # What the cookie used to be.
    ):
        await reconnect(http, proxy, tampered)
    assert forwarded(upstream) == [None] * 5


async def test_another_users_or_functions_cookie_is_ignored(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    upstream.reqid = "sess-1"
    proxy = await start()
    bobs = await first_session(http, proxy, "bob")  # bob's default function: viewer
    alices_paint = await first_session(http, proxy, "alice", "paint")
    await reconnect(http, proxy, bobs, "alice", "viewer")
    await reconnect(http, proxy, alices_paint, "alice", "viewer")
    await reconnect(http, proxy, alices_paint, "alice", "paint")  # Her own: forwarded.
    assert forwarded(upstream) == [None, None, None, None, "sess-1"]


async def test_an_expired_cookie_is_ignored(start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream) -> None:
    proxy = await start()
    # What a proxy with this secret issued 100 s ago, valid for 50 s.
    expired = ResumeSigner(SESSION_SECRET, clock=lambda: time.time() - 100).issue("sess-1", "bob", "viewer", 50)
    still_valid = ResumeSigner(SESSION_SECRET, clock=lambda: time.time() - 100).issue("sess-2", "bob", "viewer", 150)
    assert expired is not None and still_valid is not None
    await reconnect(http, proxy, expired)
    await reconnect(http, proxy, still_valid)
    assert forwarded(upstream) == [None, "sess-2"]


async def test_resume_of_a_gone_session_closes_4410(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    upstream.reqid = "sess-9"
    cookie = await first_session(http, proxy)
    upstream.resume_refusal = 404
    ws = await connect(
        http, proxy, make_token(sub="bob"), headers={"Cookie": f"nvcf-request-id={cookie}"}, extra=["resume"]
    )
    assert await expect_close(ws) == (CloseCode.SESSION_GONE, "session expired")


async def test_without_a_secret_each_app_signs_with_its_own(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.reqid = "sess-1"
    with caplog.at_level(logging.INFO, logger="proxy"):
        proxy_a = await start(session_secret=None)
        proxy_b = await start(session_secret=None)
    warnings = [r for r in caplog.records if "PROXY_SESSION_SECRET is not set" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.INFO for r in warnings)
    cookie = await first_session(http, proxy_a)
    await reconnect(http, proxy_b, cookie)
    await reconnect(http, proxy_a, cookie)
    assert forwarded(upstream) == [None, None, "sess-1"]


async def test_a_restarted_proxy_process_resumes_the_session(upstream: Upstream, tmp_path: Path) -> None:
    """The rolling deploy: SIGTERM closes the page with 1001, the new process takes the resume."""
    secret_file = tmp_path / "session-secret"
    secret_file.write_bytes(SESSION_SECRET + b"\n")
    port = free_port()
    upstream.reqid = "sess-42"
    url = f"ws://127.0.0.1:{port}/sign_in"
    processes: list[asyncio.subprocess.Process] = []

    async def run_proxy() -> asyncio.subprocess.Process:
        process = await start_proxy_process(
            port,
            upstream.base_url,
            NVCF_API_KEY=API_KEY,
            PROXY_JWT_SECRET=SECRET.decode(),
            PROXY_SESSION_SECRET_FILE=str(secret_file),
            PROXY_DRAIN_SECONDS="0",
            # The drain test runs the default loop (uvloop); this one the standard library's.
            PROXY_EVENT_LOOP="asyncio",
        )
        processes.append(process)
        return process

    try:
        async with aiohttp.ClientSession() as http:
            first = await run_proxy()
            await wait_ready(http, port)
            ws = await http.ws_connect(url, protocols=[APP_PROTOCOL, f"token.{make_token()}"])
            cookie, _ = resume_cookie(ws)
            first.send_signal(signal.SIGTERM)
            assert await expect_close(ws) == (1001, "proxy shutting down")
            assert await asyncio.wait_for(first.wait(), 10) == 0
            await run_proxy()
            await wait_ready(http, port)
            resumed = await http.ws_connect(
                url,
                protocols=[APP_PROTOCOL, f"token.{make_token()}", "resume"],
                headers={"Cookie": f"nvcf-request-id={cookie}"},
            )
            await resumed.send_str("again")
            assert await resumed.receive_str(timeout=5) == "echo:again"
            await resumed.close()
        assert forwarded(upstream) == [None, "sess-42"]
        assert first.stderr is not None
        log = (await first.stderr.read()).decode()
        assert SESSION_SECRET.decode() not in log and "PROXY_SESSION_SECRET is not set" not in log
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


# --- a page that unloads (4001) -------------------------------------------------------------


async def test_an_unloaded_pages_session_is_held_for_the_grace_then_ended_with_1000(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(reload_grace=0.5)
    upstream.reqid = "sess.1234"
    ws = await connect(http, proxy, make_token(sub="bob"))
    started = time.monotonic()
    await ws.close(code=CloseCode.PAGE_HIDDEN, message=b"page hidden")
    assert await asyncio.wait_for(upstream.closes.get(), timeout=5) == (1000, "page closed")
    assert 0.4 <= time.monotonic() - started < 2


async def test_the_same_tabs_reload_takes_its_held_session_back_at_once(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(reload_grace=30)
    upstream.reqid = "sess.1234"
    ws = await connect(http, proxy, make_token(sub="bob"))
    cookie, _ = resume_cookie(ws)
    await ws.close(code=CloseCode.PAGE_HIDDEN, message=b"page hidden")
    started = time.monotonic()
    await reconnect(http, proxy, cookie)
    # The held connection was given up as lost (the app keeps the session), then resumed.
    assert upstream.closes.get_nowait() == (1001, "page reloaded")
    assert forwarded(upstream) == [None, "sess.1234"]
    assert time.monotonic() - started < 2


async def test_an_unloaded_page_without_a_resume_cookie_ends_its_session_at_once(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(reload_grace=30)  # No nvcf-reqid from the upstream: nothing to resume.
    ws = await connect(http, proxy, make_token(sub="bob"))
    await ws.close(code=CloseCode.PAGE_HIDDEN, message=b"page hidden")
    assert await asyncio.wait_for(upstream.closes.get(), timeout=2) == (1000, "page closed")


async def test_held_sessions_end_when_the_proxy_stops(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(reload_grace=30)
    upstream.reqid = "sess.1234"
    ws = await connect(http, proxy, make_token(sub="bob"))
    await ws.close(code=CloseCode.PAGE_HIDDEN, message=b"page hidden")
    await proxy.close()
    assert await asyncio.wait_for(upstream.closes.get(), timeout=5) == (1000, "page closed")
