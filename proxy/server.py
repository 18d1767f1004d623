"""The proxy's HTTP server: the web client's files, a health check, and the `/sign_in` WebSocket.

`make_app(config)` builds everything; the app holds its state under typed `AppKey`s and opens and
closes its upstream HTTP client with the app (`cleanup_ctx`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger

from proxy.bridge import BridgeResult, bridge
from proxy.closecodes import CloseCode
from proxy.config import ProxyConfig
from proxy.subprotocols import APP_PROTOCOL, parse_offer
from proxy.tokens import TokenPolicy, TokenRejected, UserToken, validate_token
from proxy.upstream import HEARTBEAT_SECONDS, UpstreamFailure, connect_upstream

logger = logging.getLogger("proxy.session")

CONFIG: Final = web.AppKey("config", ProxyConfig)
TOKEN_POLICY: Final = web.AppKey("token_policy", TokenPolicy)
UPSTREAM_SESSION: Final = web.AppKey("upstream_session", aiohttp.ClientSession)
SESSIONS: Final = web.AppKey("sessions", set[asyncio.Task[BridgeResult]])
"""The bridges of the sessions in progress."""

# Only the kinds of file the web client ships (pyproject's package-data); `.js` must be
# text/javascript or browsers refuse to run it as an ES module.
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
CLOSE_GRACE_SECONDS: Final = 2.0
"""After the browser's connection is gone, how long the bridge may take to pass its close on."""

# One path segment, no leading dot (no `..`, no hidden files), no separators.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ProxyAccessLogger(AbstractAccessLogger):
    """Access log lines without the query string or any header.

    aiohttp's default format prints the whole request line, query included; a client that put a
    token in the URL despite docs/protocol.md would have it written to the log.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line: peer, method, path, status, bytes sent and duration."""
        self.logger.info(
            "%s %s %s %s %s %.3fs",
            request.remote,
            request.method,
            # Still percent-encoded: a decoded path could carry a newline into the log.
            request.rel_url.raw_path,
            response.status,
            response.body_length,
            time,
        )

    @property
    def enabled(self) -> bool:
        """Skip formatting when the access logger would drop the line anyway."""
        return self.logger.isEnabledFor(logging.INFO)


def make_app(config: ProxyConfig) -> web.Application:
    """Build the proxy's application from its config."""
    app = web.Application()
    app[CONFIG] = config
    app[TOKEN_POLICY] = TokenPolicy(
        secret=config.jwt_secret,
        issuer=config.jwt_issuer,
        audience=config.jwt_audience,
        leeway_seconds=config.jwt_leeway,
    )
    app[SESSIONS] = set()
    app.cleanup_ctx.append(_upstream_session)
    app.on_shutdown.append(_end_sessions)
    # Fixed routes first: the dispatcher tries routes in order and `/{name}` would match them.
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/sign_in", _sign_in)
    app.router.add_get("/", _index)
    app.router.add_get("/{name}", _static_file)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    # One client for all sessions, shared for its DNS cache and TLS context. No cookie jar: the
    # relay sets a session cookie (`nvcf-request-id`), and a shared jar would send one user's
    # session id upstream with another user's connection. No connection limit: each upstream
    # WebSocket holds its connection for the whole session, and aiohttp's default limit (100)
    # would make session 101 wait for a free slot and then time out.
    session = aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None),  # connect_upstream bounds the handshake itself.
    )
    app[UPSTREAM_SESSION] = session
    yield
    await session.close()


async def _end_sessions(app: web.Application) -> None:
    # Without this, shutdown would wait for every open session to end by itself (aiohttp waits
    # up to its shutdown timeout before cancelling handlers). A cancelled bridge closes both
    # sides with 1001 (going away), which tells the page it may reconnect.
    sessions = app[SESSIONS]
    bridges = list(sessions)
    for task in bridges:
        task.cancel()
    await asyncio.gather(*bridges, return_exceptions=True)


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _file_response(path: Path) -> web.StreamResponse:
    return web.FileResponse(
        path,
        headers={
            hdrs.CONTENT_TYPE: CONTENT_TYPES[path.suffix],
            # The client is small and changes with each deploy; revalidate instead of caching.
            hdrs.CACHE_CONTROL: "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _index(request: web.Request) -> web.StreamResponse:
    path = request.app[CONFIG].web_client_dir / "index.html"
    if not path.is_file():
        raise web.HTTPNotFound(text="web client not installed")
    return _file_response(path)


async def _static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    root = request.app[CONFIG].web_client_dir.resolve()
    if not _FILE_NAME.fullmatch(name) or Path(name).suffix not in CONTENT_TYPES:
        raise web.HTTPNotFound()
    path = (root / name).resolve()
    # resolve() follows symlinks: a link inside the directory must not lead out of it.
    if path.parent != root or not path.is_file():
        raise web.HTTPNotFound()
    return _file_response(path)


def _refuse_upgrade(text: str) -> web.Response:
    return web.Response(status=400, text=text)


async def _sign_in(request: web.Request) -> web.StreamResponse:
    """Check the token, open the upstream, then bridge the browser to it (docs/protocol.md 1-2)."""
    session_id = secrets.token_hex(4)
    if request.headers.get(hdrs.UPGRADE, "").strip().lower() != "websocket":
        return _refuse_upgrade("expected a WebSocket upgrade")
    offers = request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, [])
    # Refused before aiohttp sees the offer: when no offered item matches, aiohttp logs the whole
    # offer, token included, and it reads only the first of several headers.
    if len(offers) != 1:
        return _refuse_upgrade(f"send one Sec-WebSocket-Protocol header offering {APP_PROTOCOL}")
    offer = parse_offer(offers[0])
    if not offer.app_protocol_offered:
        return _refuse_upgrade(f"Sec-WebSocket-Protocol must offer {APP_PROTOCOL}")

    ws = web.WebSocketResponse(
        protocols=(APP_PROTOCOL,),
        compress=False,  # Small signaling messages: deflate would add latency, not save time.
        heartbeat=HEARTBEAT_SECONDS,
    )
    if not ws.can_prepare(request).ok:
        return _refuse_upgrade("invalid WebSocket handshake")

    try:
        if offer.token_error is not None:
            raise TokenRejected(offer.token_error)
        user = validate_token(offer.token, request.app[TOKEN_POLICY])
    except TokenRejected as rejected:
        _log_refused(session_id, request, None, "token-rejected", CloseCode.TOKEN_INVALID, rejected.reason)
        await ws.prepare(request)
        await ws.close(code=CloseCode.TOKEN_INVALID, message=rejected.reason.encode())
        return ws

    config = request.app[CONFIG]
    # Upstream first: if NVCF cannot take the session the browser learns why from the close code.
    try:
        upstream = await connect_upstream(request.app[UPSTREAM_SESSION], config)
    except UpstreamFailure as failure:
        _log_refused(session_id, request, user, failure.outcome, failure.code, failure.reason)
        await ws.prepare(request)
        await ws.close(code=failure.code, message=failure.reason.encode())
        return ws

    try:
        await ws.prepare(request)
    except (ConnectionError, RuntimeError):
        # The browser left while we were connecting upstream.
        _log_refused(session_id, request, user, "client-gone", 1001, "client went away")
        await upstream.close(code=1001, message=b"client went away")
        raise
    except BaseException:
        await upstream.close(code=1001, message=b"going away")
        raise
    await _relay(request, ws, upstream, user, session_id)
    return ws


async def _relay(
    request: web.Request,
    ws: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
    user: UserToken,
    session_id: str,
) -> None:
    """Bridge an accepted browser to its upstream until one of them closes."""
    logger.info(
        "session %s start: sub=%r peer=%s upstream=%s",
        session_id,
        user.subject,
        request.remote,
        request.app[CONFIG].upstream_url,
    )
    started = time.monotonic()
    # The bridge runs in its own task, tracked by the app so that shutdown can end it.
    bridging = asyncio.create_task(
        bridge(ws, upstream, left_name="client", right_name="upstream"),
        name=f"session {session_id}",
    )
    sessions = request.app[SESSIONS]
    sessions.add(bridging)
    bridging.add_done_callback(sessions.discard)
    try:
        await asyncio.shield(bridging)
    except asyncio.CancelledError:
        handler = asyncio.current_task()
        if handler is not None and handler.cancelling():
            # aiohttp cancels the handler as soon as the browser's connection is gone, which
            # includes right after a clean close handshake, before the bridge has passed the
            # browser's close code upstream. Let the bridge finish on its own for a moment;
            # only then cancel it (it then closes both sides with 1001).
            try:
                await asyncio.wait({bridging}, timeout=CLOSE_GRACE_SECONDS)
            finally:
                bridging.cancel()
            raise
        # Otherwise the bridge itself was cancelled (server shutdown) and closed both sides.
    finally:
        await asyncio.gather(bridging, return_exceptions=True)
        if not upstream.closed:  # Never leave an upstream session open, whatever happened.
            await upstream.close(code=1001, message=b"going away")
        _log_end(session_id, user, bridging, time.monotonic() - started)


def _log_end(session_id: str, user: UserToken, bridging: asyncio.Task[BridgeResult], duration: float) -> None:
    if bridging.cancelled():
        outcome, code, reason = "ended-by-proxy", 1001, "going away"
    elif bridging.exception() is not None:
        outcome, code, reason = "bridge-error", 1011, type(bridging.exception()).__name__
    else:
        result = bridging.result()
        outcome, code, reason = f"closed-by-{result.closed_by}", result.code, result.reason
    logger.info(
        "session %s end: sub=%r outcome=%s code=%d reason=%r duration=%.1fs",
        session_id,
        user.subject,
        outcome,
        code,
        reason,
        duration,
    )


def _log_refused(
    session_id: str,
    request: web.Request,
    user: UserToken | None,
    outcome: str,
    code: int,
    reason: str,
) -> None:
    logger.info(
        "session %s refused: sub=%r peer=%s outcome=%s code=%d reason=%r",
        session_id,
        user.subject if user is not None else None,
        request.remote,
        outcome,
        code,
        reason,
    )
