"""The `/sign_in` WebSocket: check, authorize, open the upstream, then bridge (docs/protocol.md 1-2).

Order of checks, cheapest and least revealing first: Origin (HTTP 403), rate per client address
(HTTP 429), the upgrade itself (HTTP 400), drain (1001), the token (4401), rate per user (HTTP 429,
or 4429 after a first-message token), the function (4400/4404), the policy (4403), the user's
session limit (4409). Only then is the upstream opened, before the browser is accepted, so an
upstream failure reaches the page as a close code (4502/4503/4504, or 4410 for a lost session).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final, TypeVar

import aiohttp
from aiohttp import hdrs, web

from observability import set_log_context
from proxy.bridge import BridgeResult, bridge
from proxy.client_address import client_address, rate_key
from proxy.closecodes import CloseCode, reason_bytes
from proxy.limits import LimitsUnavailable, SessionLease
from proxy.origin import origin_allowed
from proxy.policy import FUNCTION_NAME, StreamingFunction
from proxy.preauth import preauth_message_limit, raise_message_limit
from proxy.reload_grace import PAGE_CLOSED
from proxy.state import STATE, ProxyState, Session
from proxy.subprotocols import APP_PROTOCOL, parse_offer
from proxy.tokens import TokenRejected, UserToken, validate_token
from proxy.upstream import UpstreamFailure, UpstreamRequest, connect_upstream, session_id_of

logger = logging.getLogger("proxy.session")

T = TypeVar("T")

RESUME_COOKIE: Final = "nvcf-request-id"
CLOSE_GRACE_SECONDS: Final = 2.0
"""After the browser's connection is gone, how long the bridge may take to pass its close on."""


@dataclass
class Refusal(Exception):
    """A sign-in the proxy will not serve: the close code (or HTTP status) and a safe reason."""

    code: int
    reason: str
    outcome: str
    http_status: int | None = None
    """Set when the refusal is answered before the upgrade."""


@dataclass(frozen=True)
class Admission:
    """A user allowed to open a function; holds one of the user's session slots."""

    user: UserToken
    function: StreamingFunction
    lease: SessionLease


def client_of(request: web.Request) -> str:
    """The client's address: the TCP peer, or what trusted load balancers say it is."""
    return client_address(
        request.remote,
        request.headers.getall(hdrs.FORWARDED, []),
        request.headers.getall(hdrs.X_FORWARDED_FOR, []),
        request.app[STATE].config.trusted_proxies,
    )


def _cookie_secure(request: web.Request) -> bool:
    return request.secure or request.app[STATE].config.tls_terminated


async def _admit(state: ProxyState, token: str | None, function_name: str | None, *, before_upgrade: bool) -> Admission:
    """Validate the token and apply the policy; raises `Refusal`. Takes a session slot."""
    config = state.config
    try:
        user = await validate_token(token, config.token_policy, state.keys)
    except TokenRejected as rejected:
        if rejected.keys_unavailable:
            raise Refusal(CloseCode.UPSTREAM_BUSY, rejected.reason, "keys-unavailable") from None
        raise Refusal(CloseCode.TOKEN_INVALID, rejected.reason, "token-rejected") from None
    if not await _limited(state.limits.allow_user(user.subject)):
        raise Refusal(
            CloseCode.RATE_LIMITED,
            "too many sign-ins, try again later",
            "rate-limited",
            http_status=429 if before_upgrade else None,
        )
    policy = config.access_policy
    name = function_name if function_name is not None else policy.default_function
    if name is None:
        raise Refusal(CloseCode.BAD_REQUEST, "no function given and no default function", "bad-request")
    if not FUNCTION_NAME.fullmatch(name):
        raise Refusal(CloseCode.BAD_REQUEST, "bad function name", "bad-request")
    function = policy.functions.get(name)
    if function is None:
        raise Refusal(CloseCode.UNKNOWN_FUNCTION, f"unknown function: {name}", "unknown-function")
    if not policy.may_open(user, name):
        raise Refusal(CloseCode.FORBIDDEN, f"forbidden: user {user.subject} may not open {name}", "forbidden")
    limit = policy.max_sessions(user)
    lease = await _limited(state.limits.take_session(user.subject, limit))
    if lease is None:
        raise Refusal(
            CloseCode.TOO_MANY_SESSIONS, f"too many sessions for {user.subject} (limit {limit})", "too-many-sessions"
        )
    return Admission(user, function, lease)


async def _limited(asked: Awaitable[T]) -> T:
    """The limits' answer; when they cannot answer, the sign-in is refused (fail closed)."""
    try:
        return await asked
    except LimitsUnavailable as exc:
        raise Refusal(CloseCode.UPSTREAM_BUSY, str(exc), "limits-unavailable") from None


def _upstream_request(state: ProxyState, function: StreamingFunction, resume_id: str | None) -> UpstreamRequest:
    config = state.config
    return UpstreamRequest(
        url=config.upstream_url,
        api_key=config.nvcf_api_key,
        function=function,
        resume_id=resume_id,
        timeout=config.upstream_timeout,
        heartbeat=config.heartbeat_seconds or None,
        max_message_bytes=config.max_message_bytes,
    )


async def _open_upstream(
    state: ProxyState, admission: Admission, resume_id: str | None
) -> aiohttp.ClientWebSocketResponse:
    started = time.monotonic()
    try:
        upstream = await connect_upstream(state.http, _upstream_request(state, admission.function, resume_id))
    except UpstreamFailure as failure:
        raise Refusal(failure.code, failure.reason, failure.outcome) from None
    state.metrics.upstream_connect_seconds.observe(time.monotonic() - started)
    return upstream


def _session_bound(state: ProxyState, user: UserToken) -> tuple[float, str]:
    """Seconds from now until the session must end, and the reason it will be given."""
    until_expiry = user.expires_at - time.time()
    limit = state.config.max_session_seconds
    if limit and limit < until_expiry:
        return limit, "session time limit reached"
    return max(until_expiry, 0.0), "token expired"


def _new_ws(state: ProxyState, *, preauth: bool) -> web.WebSocketResponse:
    """The browser's WebSocket; `preauth`: its first message is a token, so it starts small."""
    config = state.config
    limit = config.max_message_bytes
    if preauth:
        limit = min(limit, preauth_message_limit(config.jwt_max_bytes))
    return web.WebSocketResponse(
        protocols=(APP_PROTOCOL,),
        compress=False,  # Small signaling messages: deflate would add latency, not save time.
        heartbeat=config.heartbeat_seconds or None,
        max_msg_size=limit,
    )


async def _refuse_after_upgrade(
    request: web.Request, ws: web.WebSocketResponse, refusal: Refusal, session_id: str
) -> web.WebSocketResponse:
    _log_refused(session_id, request, refusal)
    request.app[STATE].metrics.handshakes.labels(refusal.outcome).inc()
    if not ws.prepared:
        await ws.prepare(request)
    await ws.close(code=refusal.code, message=reason_bytes(refusal.reason))
    return ws


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Handle one `/sign_in` handshake and, if it is admitted, the whole session."""
    state = request.app[STATE]
    config = state.config
    session_id = secrets.token_hex(4)
    set_log_context(session_id=session_id)  # every line of this sign-in names it (observability)

    def refuse_http(status: int, text: str, outcome: str) -> web.Response:
        state.metrics.handshakes.labels(outcome).inc()
        _log_refused(session_id, request, Refusal(status, text, outcome, status))
        return web.Response(status=status, text=text)

    if not origin_allowed(request, config.allowed_origins):
        return refuse_http(403, "origin not allowed", "origin-forbidden")
    try:
        allowed = await state.limits.allow_address(rate_key(client_of(request)))
    except LimitsUnavailable as exc:
        return refuse_http(503, str(exc), "limits-unavailable")
    if not allowed:
        return refuse_http(429, "too many connection attempts, try again later", "rate-limited")
    if request.headers.get(hdrs.UPGRADE, "").strip().lower() != "websocket":
        return refuse_http(400, "expected a WebSocket upgrade", "bad-request")
    offers = request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, [])
    # Refused before aiohttp sees the offer: when no offered item matches, aiohttp logs the whole
    # offer, token included, and it reads only the first of several headers.
    if len(offers) != 1:
        return refuse_http(400, f"send one Sec-WebSocket-Protocol header offering {APP_PROTOCOL}", "bad-request")
    offer = parse_offer(offers[0])
    if not offer.app_protocol_offered:
        return refuse_http(400, f"Sec-WebSocket-Protocol must offer {APP_PROTOCOL}", "bad-request")
    function_name = request.query.get("function")
    token = offer.token
    if token is None and config.token_query:
        token = request.query.get("token")
    by_first_message = token is None and offer.token_error is None and config.token_first_message
    ws = _new_ws(state, preauth=by_first_message)
    if not ws.can_prepare(request).ok:
        return refuse_http(400, "invalid WebSocket handshake", "bad-request")
    if state.draining.is_set():
        return await _refuse_after_upgrade(
            request, ws, Refusal(CloseCode.GOING_AWAY, "proxy shutting down", "draining"), session_id
        )
    if offer.token_error is not None:
        return await _refuse_after_upgrade(
            request, ws, Refusal(CloseCode.TOKEN_INVALID, offer.token_error, "token-rejected"), session_id
        )
    if by_first_message:
        if not state.preauth.try_enter():
            return refuse_http(503, "too many connections waiting to sign in, try again later", "preauth-full")
        return await _sign_in_by_first_message(request, ws, function_name, session_id)

    try:
        admission = await _admit(state, token, function_name, before_upgrade=True)
    except Refusal as refusal:
        if refusal.http_status is not None:
            return refuse_http(refusal.http_status, refusal.reason, refusal.outcome)
        return await _refuse_after_upgrade(request, ws, refusal, session_id)
    try:
        resume_id = _resume_id(request, state, admission, offer.resume)
        if resume_id is not None and await state.held.release_for_resume(resume_id):
            logger.info("session %s: taking back held session %s after a reload", session_id, resume_id)
        try:
            upstream = await _open_upstream(state, admission, resume_id)
        except Refusal as refusal:
            return await _refuse_after_upgrade(request, ws, refusal, session_id)
        upstream_session_id = session_id_of(upstream)
        bound, _ = _session_bound(state, admission.user)
        # The cookie cannot be renewed once the WebSocket is open, so it is valid for as long as
        # the session may last (`bound`: token expiry or time limit) plus the resume window.
        valid_for = bound + config.resume_window
        cookie = (
            None
            if upstream_session_id is None
            else state.resume.issue(upstream_session_id, admission.user.subject, admission.function.name, valid_for)
        )
        if cookie is not None:
            ws.set_cookie(
                RESUME_COOKIE,
                cookie,
                path="/sign_in",
                httponly=True,
                samesite="Strict",
                max_age=str(int(valid_for)),
                secure=_cookie_secure(request) or None,
            )
        try:
            await ws.prepare(request)
        except BaseException:
            # The browser left while we were connecting upstream (or the handler was cancelled).
            await upstream.close(code=1001, message=b"client went away")
            state.metrics.handshakes.labels("client-gone").inc()
            raise
        state.metrics.handshakes.labels("accepted").inc()
        await _relay(request, ws, upstream, admission, session_id, upstream_session_id)
        return ws
    finally:
        await state.limits.give_back(admission.lease)


def _resume_id(request: web.Request, state: ProxyState, admission: Admission, wants_resume: bool) -> str | None:
    """The session id to resume: only when asked for, and only the user's own for this function."""
    if not wants_resume:
        return None  # A second tab never takes over the first one's session.
    cookie = request.cookies.get(RESUME_COOKIE)
    if cookie is None:
        return None
    return state.resume.session_id(cookie, admission.user.subject, admission.function.name)


async def _sign_in_by_first_message(
    request: web.Request, ws: web.WebSocketResponse, function_name: str | None, session_id: str
) -> web.StreamResponse:
    """Accept first, read `{"token": "<JWT>"}`, then admit and open the upstream.

    Until the token is read the socket is bounded (`proxy.preauth`): one absolute deadline and a
    small message size limit, raised to the session's once the user is admitted.
    """
    state = request.app[STATE]
    try:  # The caller took a place at the gate; it is given back once the first message is in.
        await ws.prepare(request)
        async with asyncio.timeout(state.config.auth_timeout):
            msg = await ws.receive()
    except TimeoutError:
        return await _refuse_after_upgrade(
            request, ws, Refusal(CloseCode.TOKEN_INVALID, "token missing", "token-rejected"), session_id
        )
    finally:
        state.preauth.leave()
    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        state.metrics.handshakes.labels("client-gone").inc()
        return ws
    if msg.type is aiohttp.WSMsgType.ERROR:
        # aiohttp has already closed the socket (1009 for a first message over the pre-auth limit).
        _log_refused(session_id, request, Refusal(ws.close_code or 1006, "bad first message", "bad-first-message"))
        state.metrics.handshakes.labels("bad-first-message").inc()
        return ws
    token = first_message_token(msg.data) if msg.type is aiohttp.WSMsgType.TEXT else None
    try:
        admission = await _admit(state, token, function_name, before_upgrade=False)
    except Refusal as refusal:
        return await _refuse_after_upgrade(request, ws, refusal, session_id)
    if state.config.max_message_bytes > preauth_message_limit(state.config.jwt_max_bytes):
        raise_message_limit(request, ws, state.config.max_message_bytes)
    try:
        try:
            upstream = await _open_upstream(state, admission, None)
        except Refusal as refusal:
            return await _refuse_after_upgrade(request, ws, refusal, session_id)
        state.metrics.handshakes.labels("accepted").inc()
        await _relay(request, ws, upstream, admission, session_id, None)
        return ws
    finally:
        await state.limits.give_back(admission.lease)


def first_message_token(text: str) -> str | None:
    """The token of a first message `{"token": "<JWT>"}`; None when it is anything else.

    Deep nesting raises RecursionError in `json.loads`; it is a malformed message like any other.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("token"), str):
        return str(data["token"])
    return None


async def _relay(
    request: web.Request,
    ws: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
    admission: Admission,
    session_id: str,
    upstream_session_id: str | None,
) -> None:
    """Bridge an accepted browser to its upstream until one of them closes or time runs out.

    A page that unloads (4001) leaves its upstream session held for its reload when the session
    can be resumed (`upstream_session_id`, a resume cookie), else ended with 1000.
    """
    state = request.app[STATE]
    config = state.config
    user = admission.user
    set_log_context(function_id=admission.function.function_id)
    logger.info(
        "session %s start: sub=%r function=%s peer=%s",
        session_id,
        user.subject,
        admission.function.name,
        client_of(request),
    )
    started = time.monotonic()
    last_message = [started]

    def on_message(direction: str, size: int) -> None:
        last_message[0] = time.monotonic()
        state.metrics.count_message(direction, size)

    # The bridge runs in its own task, tracked by the app so that drain and shutdown can end it.
    stop: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
    bridging = asyncio.create_task(
        bridge(
            ws,
            upstream,
            left_name="client",
            right_name="upstream",
            on_message=on_message,
            stop=stop,
            keep_right_open_on=frozenset({CloseCode.PAGE_HIDDEN}),
        ),
        name=f"session {session_id}",
    )
    session = Session(ws, bridging, stop)
    state.sessions.add(session)
    state.metrics.active_sessions.inc()
    bound, bound_reason = _session_bound(state, user)
    deadline = started + bound
    try:
        while not bridging.done():
            now = time.monotonic()
            wait = deadline - now
            if config.idle_timeout:
                wait = min(wait, last_message[0] + config.idle_timeout - now)
            if wait <= 0:
                reason = bound_reason if now >= deadline else "idle timeout"
                session.end(CloseCode.SESSION_TIMEOUT, reason)
                await asyncio.wait({bridging}, timeout=CLOSE_GRACE_SECONDS)
                break
            await asyncio.wait({bridging}, timeout=wait)  # Waiting does not cancel it.
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
    finally:
        if not bridging.done():
            bridging.cancel()
        await asyncio.gather(bridging, return_exceptions=True)
        state.sessions.discard(session)
        state.metrics.active_sessions.dec()
        page_hidden = _page_hidden(bridging)
        if page_hidden and upstream_session_id is not None and state.held.grace > 0 and not upstream.closed:
            state.held.hold(upstream_session_id, upstream)
        elif page_hidden and not upstream.closed:
            await upstream.close(code=1000, message=PAGE_CLOSED)  # Nothing to come back to.
        elif not upstream.closed:  # Never leave an upstream session open, whatever happened.
            await upstream.close(code=1001, message=b"going away")
        _log_end(session_id, user, bridging, time.monotonic() - started)


def _page_hidden(bridging: asyncio.Task[BridgeResult]) -> bool:
    return not bridging.cancelled() and bridging.exception() is None and bridging.result().right_kept_open


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


def _log_refused(session_id: str, request: web.Request, refusal: Refusal) -> None:
    logger.info(
        "session %s refused: peer=%s outcome=%s code=%d reason=%r",
        session_id,
        client_of(request),
        refusal.outcome,
        refusal.code,
        refusal.reason,
    )


async def end_all_sessions(state: ProxyState, code: int, reason: str) -> None:
    """Close every open session with `code` (the bridge passes it upstream), then wait for them."""
    sessions = list(state.sessions)
    for session in sessions:
        session.end(code, reason)
    bridges = [s.bridging for s in sessions]
    if bridges:
        _, pending = await asyncio.wait(bridges, timeout=CLOSE_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*bridges, return_exceptions=True)
