"""The proxy's HTTP server: the web client's files, health, metrics, `/functions`, `/sign_in`.

`make_app(config)` builds everything; the app holds its state under a typed `AppKey` and opens
and closes its HTTP client and key source with the app (`cleanup_ctx`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from yarl import URL

from proxy import log_redaction
from proxy.admission import TOKEN_MISSING, token_refusal
from proxy.closecodes import CloseCode
from proxy.config import ProxyConfig
from proxy.door import door_middleware
from proxy.limits import Limits, LocalLimits
from proxy.metrics import ProxyMetrics
from proxy.preauth import PreAuthGate
from proxy.refusals import HttpAnswer, Refusal, Stage, wire_answer
from proxy.reload_grace import HeldSessions
from proxy.resume import MIN_SESSION_SECRET_BYTES, ResumeSigner
from proxy.shared_holds import RedisHolds
from proxy.shared_limits import RedisLimits
from proxy.signin import end_all_sessions, refuse_at_door, sign_in
from proxy.signing_keys import JwksKeys, JwksSettings, PublicKey, SecretKey
from proxy.state import STATE, Keys, ProxyState
from proxy.tokens import TokenRejected, validate_token

logger = logging.getLogger("proxy")

# Only the kinds of file the web client ships (pyproject's package-data); `.js` must be
# text/javascript or browsers refuse to run it as an ES module.
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Sent with every HTTP answer (static files, health, errors); the page needs nothing more."""

# One path segment, no leading dot (no `..`, no hidden files), no separators.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ProxyAccessLogger(AbstractAccessLogger):
    """Access log lines without the query string or any header.

    aiohttp's default format prints the whole request line, query included; a token in the URL
    (`PROXY_TOKEN_QUERY`) would be written to the log.
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
    # The door (Origin, rate per address) is the same for both routes a browser signs in with.
    app = web.Application(middlewares=[door_middleware({"/sign_in": refuse_at_door, "/functions": _refuse_functions})])
    app.cleanup_ctx.append(_running_state(config))
    app.on_response_prepare.append(_add_security_headers)
    app.on_shutdown.append(_end_sessions)
    # Fixed routes first: the dispatcher tries routes in order and `/{name}` would match them.
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    if config.metrics_port is None:
        app.router.add_get("/metrics", _metrics)
    app.router.add_get("/functions", _functions)
    app.router.add_get("/sign_in", sign_in)
    app.router.add_get("/", _index)
    app.router.add_get("/{name}", _static_file)
    return app


def make_metrics_app(proxy: web.Application) -> web.Application:
    """`GET /metrics` of `proxy` alone, for a listener of its own (`PROXY_METRICS_PORT`)."""
    app = web.Application()

    async def metrics(request: web.Request) -> web.Response:
        return _metrics_response(proxy[STATE].metrics)

    app.router.add_get("/metrics", metrics)
    return app


def runner_options(config: ProxyConfig) -> dict[str, Any]:
    """How the proxy's HTTP server must run (for `web.AppRunner` and aiohttp's test server)."""
    return {
        "access_log_class": ProxyAccessLogger,
        # Cancel a session's handler when its browser disconnects; the bridge then closes the
        # upstream side with 1001 instead of waiting to notice.
        "handler_cancellation": True,
        # aiohttp closes a connection that has not completed a request within its keep-alive
        # time, counted from the connection's start or the previous answer; partial headers do
        # not restart it. That makes it the header deadline (aiohttp's default is an hour).
        "keepalive_timeout": config.header_timeout,
    }


def _running_state(config: ProxyConfig) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_state(app: web.Application) -> AsyncIterator[None]:
        redaction = log_redaction.install()
        # One client for all sessions, shared for its DNS cache and TLS context. No cookie jar:
        # the relay sets a session cookie (`nvcf-request-id`), and a shared jar would send one
        # user's session id upstream with another user's connection. No connection limit: each
        # upstream WebSocket holds its connection for the whole session, and aiohttp's default
        # limit (100) would make session 101 wait for a free slot and then time out.
        http = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None),  # Each use bounds its own time.
        )
        metrics = ProxyMetrics()
        keys: Keys
        algorithms = config.token_policy.algorithms
        if config.jwt_secret is not None:
            keys = SecretKey(config.jwt_secret, algorithms)
        elif config.jwt_public_key is not None:
            keys = PublicKey(config.jwt_public_key, algorithms)
        else:
            assert config.jwks_url is not None
            keys = JwksKeys(
                JwksSettings(
                    url=config.jwks_url,
                    ttl=config.jwks_ttl,
                    cooldown=config.jwks_cooldown,
                    max_stale=config.jwks_max_stale,
                    timeout=config.jwks_timeout,
                ),
                http,
                on_fetch=lambda result: metrics.key_fetches.labels(result).inc(),
            )
            warn_about_jwks_url(config.jwks_url)
            await keys.refresh()  # Not fatal when it fails: /readyz says so, and it is retried.
        app[STATE] = ProxyState(
            config=config,
            metrics=metrics,
            keys=keys,
            http=http,
            limits=_limits(config),
            resume=ResumeSigner(_session_secret(config)),
            preauth=PreAuthGate(config.max_unauthenticated),
            held=HeldSessions(
                config.reload_grace, RedisHolds(config.redis_url) if config.redis_url is not None else None
            ),
        )
        yield
        await app[STATE].limits.close()
        await http.close()
        log_redaction.uninstall(redaction)

    return open_state


def _limits(config: ProxyConfig) -> Limits:
    if config.redis_url is None:
        return LocalLimits(config.rate_per_address, config.rate_per_user)
    return RedisLimits(
        config.redis_url,
        rate_per_address=config.rate_per_address,
        rate_per_user=config.rate_per_user,
        lease_seconds=config.redis_lease_seconds,
    )


def warn_about_jwks_url(url: str) -> None:
    """Warn when the signing keys would come over plain HTTP."""
    if URL(url).scheme == "http":
        logger.warning(
            "PROXY_JWKS_URL is http://: anyone on the path to the key server can swap the keys "
            "and sign tokens for any user; use https:// outside a test setup"
        )


def _session_secret(config: ProxyConfig) -> bytes:
    if config.session_secret is not None:
        return config.session_secret
    logger.info(
        "PROXY_SESSION_SECRET is not set: resume cookies are signed with a random secret of this "
        "process, so a page cannot resume its session after a restart or on another replica"
    )
    return secrets.token_bytes(MIN_SESSION_SECRET_BYTES)


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.status == 101:
        return  # A WebSocket upgrade: the headers mean nothing there.
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def _end_sessions(app: web.Application) -> None:
    # Without this, shutdown would wait for every open session to end by itself (aiohttp waits
    # up to its shutdown timeout before cancelling handlers). 1001 tells the page to reconnect.
    state = app[STATE]
    state.draining.set()
    await end_all_sessions(state, CloseCode.GOING_AWAY, "proxy shutting down")
    await state.held.end_all()


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _upstream_answers(state: ProxyState) -> bool:
    """A TCP connection to the upstream's host and port opens."""
    url = URL(state.config.nvcf_server)
    assert url.host is not None and url.port is not None
    try:
        async with asyncio.timeout(min(2.0, state.config.upstream_timeout)):
            _, writer = await asyncio.open_connection(url.host, url.port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    return True


async def _readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    keys_ready = state.keys.ready
    if not keys_ready and isinstance(state.keys, JwksKeys):
        await state.keys.refresh()  # Bounded by the cooldown, so probes cannot hammer the key server.
        keys_ready = state.keys.ready
    draining = state.draining.is_set()
    upstream = False if draining else await state.upstream_check.reachable(lambda: _upstream_answers(state))
    ready = keys_ready and upstream and not draining
    return web.json_response(
        {"ready": ready, "keys": keys_ready, "upstream": upstream, "draining": draining},
        status=200 if ready else 503,
    )


def _metrics_response(metrics: ProxyMetrics) -> web.Response:
    return web.Response(body=generate_latest(metrics.registry), headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST})


async def _metrics(request: web.Request) -> web.Response:
    return _metrics_response(request.app[STATE].metrics)


def _refuse_functions(request: web.Request, refusal: Refusal) -> web.Response:
    """`/functions`' answer to a refusal: its status and `{"error": reason}`, counted by outcome."""
    request.app[STATE].metrics.functions_requests.labels(refusal.outcome).inc()
    answer = wire_answer(refusal, Stage.HTTP)
    assert isinstance(answer, HttpAnswer)
    headers = {hdrs.WWW_AUTHENTICATE: 'Bearer realm="stream-proxy"'} if answer.status == 401 else None
    return web.json_response({"error": answer.reason}, status=answer.status, headers=headers)


async def _functions(request: web.Request) -> web.Response:
    """`GET /functions` with a Bearer token (past the door): the functions this user may open."""
    state = request.app[STATE]
    authorization = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refuse_functions(request, token_refusal(TokenRejected(TOKEN_MISSING)))
    try:
        user = await validate_token(token.strip(), state.config.token_policy, state.keys)
    except TokenRejected as rejected:
        return _refuse_functions(request, token_refusal(rejected))
    policy = state.config.access_policy
    allowed = policy.allowed_functions(user)
    default = policy.default_function if any(f.name == policy.default_function for f in allowed) else None
    state.metrics.functions_requests.labels("ok").inc()
    return web.json_response(
        {
            "functions": [{"name": f.name, "title": f.display_title} for f in allowed],
            "default": default,
        },
        headers={hdrs.CACHE_CONTROL: "no-store"},
    )


def _file_response(path: Path) -> web.StreamResponse:
    return web.FileResponse(
        path,
        headers={
            hdrs.CONTENT_TYPE: CONTENT_TYPES[path.suffix],
            # The client is small and changes with each deploy; revalidate instead of caching.
            hdrs.CACHE_CONTROL: "no-cache",
        },
    )


async def _index(request: web.Request) -> web.StreamResponse:
    path = request.app[STATE].config.web_client_dir / "index.html"
    if not path.is_file():
        raise web.HTTPNotFound(text="web client not installed")
    return _file_response(path)


async def _static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    root = request.app[STATE].config.web_client_dir.resolve()
    if not _FILE_NAME.fullmatch(name) or Path(name).suffix not in CONTENT_TYPES:
        raise web.HTTPNotFound()
    path = (root / name).resolve()
    # resolve() follows symlinks: a link inside the directory must not lead out of it.
    if path.parent != root or not path.is_file():
        raise web.HTTPNotFound()
    return _file_response(path)
