"""The `/sign_in` WebSocket: the I/O shell around `proxy.admission` (docs/protocol.md 1-2).

Order of checks, cheapest and least revealing first: the door (`proxy.door`: Origin, rate per
client address), the upgrade itself, then `proxy.admission.admit` (drain, token, rate per user,
function, policy) and the user's session limit. Only then is the upstream opened, before the
browser is accepted, so an upstream failure reaches the page as a close code. A token may come in
the subprotocol offer (or the URL), or in a first message after the upgrade; both ways meet in
`_admit_and_serve`. Every refusal is answered by `_refuse` through `proxy.refusals.wire_answer`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Final

import aiohttp
from aiohttp import hdrs, web

from observability import set_log_context
from proxy.admission import (
    DRAINING,
    TOKEN_MISSING,
    Admission,
    AdmissionFacts,
    HandshakeFacts,
    SignInRequest,
    admit,
    limits_unavailable,
    read_handshake,
    sessions_full,
    token_problem,
)
from proxy.bridge import BridgeResult, bridge
from proxy.closecodes import CloseCode, reason_bytes
from proxy.door import client_of
from proxy.limits import LimitsUnavailable, SessionLease
from proxy.preauth import first_message_token, preauth_message_limit, raise_message_limit
from proxy.refusals import HttpAnswer, Refusal, RefusalKind, Stage, wire_answer
from proxy.reload_grace import PAGE_CLOSED
from proxy.state import STATE, ProxyState, Session
from proxy.subprotocols import APP_PROTOCOL
from proxy.tokens import TokenRejected, UserToken, validate_token
from proxy.upstream import UpstreamRequest, connect_upstream, session_id_of

logger = logging.getLogger("proxy.session")

RESUME_COOKIE: Final = "nvcf-request-id"
CLOSE_GRACE_SECONDS: Final = 2.0
"""After the browser's connection is gone, how long the bridge may take to pass its close on."""


def refuse_at_door(request: web.Request, refusal: Refusal) -> web.StreamResponse:
    """How `/sign_in` answers a refusal of `proxy.door`: counted and logged like any other."""
    answer = wire_answer(refusal, Stage.HTTP)
    assert isinstance(answer, HttpAnswer)
    _count_refused(request, secrets.token_hex(4), refusal, answer.status)
    return web.Response(status=answer.status, text=answer.reason)


async def _refuse(
    request: web.Request, refusal: Refusal, session_id: str, ws: web.WebSocketResponse | None = None
) -> web.StreamResponse:
    """Answer `refusal`: an HTTP status before the upgrade, else accept (if need be) and close."""
    answer = wire_answer(refusal, Stage.OPEN if ws is not None and ws.prepared else Stage.HANDSHAKE)
    if isinstance(answer, HttpAnswer):
        _count_refused(request, session_id, refusal, answer.status)
        return web.Response(status=answer.status, text=answer.reason)
    _count_refused(request, session_id, refusal, answer.code)
    if ws is None:
        ws = _new_ws(request.app[STATE], preauth=False)
    if not ws.prepared:
        await ws.prepare(request)
    await ws.close(code=answer.code, message=reason_bytes(answer.reason))
    return ws


def _count_refused(request: web.Request, session_id: str, refusal: Refusal, code: int) -> None:
    request.app[STATE].metrics.handshakes.labels(refusal.outcome).inc()
    _log_refused(session_id, request, refusal.outcome, code, refusal.reason)


def _cookie_secure(request: web.Request) -> bool:
    return request.secure or request.app[STATE].config.tls_terminated


async def _check_token(state: ProxyState, sign_in: SignInRequest, token: str | None) -> UserToken | TokenRejected:
    problem = token_problem(sign_in)
    if problem is not None:
        return problem
    try:
        return await validate_token(token, state.config.token_policy, state.keys)
    except TokenRejected as rejected:
        return rejected


async def _admit(
    state: ProxyState, sign_in: SignInRequest, token: str | None
) -> tuple[Admission, SessionLease] | Refusal:
    """Gather the facts `admit` decides on, then take one of the user's session slots.

    While draining the token is not checked at all (no key fetch, no rate spent). The limits fail
    closed: when they cannot answer, the sign-in is refused.
    """
    checked = None if state.draining.is_set() else await _check_token(state, sign_in, token)
    try:
        rate_ok = isinstance(checked, UserToken) and await state.limits.allow_user(checked.subject)
        # The drain is read again: it may have begun while the token was checked.
        facts = AdmissionFacts(state.draining.is_set(), checked, rate_ok, sign_in.function_name)
        decision = admit(facts, state.config.access_policy)
        if isinstance(decision, Refusal):
            return decision
        lease = await state.limits.take_session(decision.user.subject, decision.session_limit)
    except LimitsUnavailable as exc:
        return limits_unavailable(str(exc))
    if lease is None:
        return sessions_full(decision)
    return decision, lease


def _upstream_request(state: ProxyState, admission: Admission, resume_id: str | None) -> UpstreamRequest:
    config = state.config
    return UpstreamRequest(
        url=config.upstream_url,
        api_key=config.nvcf_api_key,
        function=admission.function,
        resume_id=resume_id,
        timeout=config.upstream_timeout,
        heartbeat=config.heartbeat_seconds or None,
        max_message_bytes=config.max_message_bytes,
    )


async def _open_upstream(
    state: ProxyState, admission: Admission, resume_id: str | None
) -> aiohttp.ClientWebSocketResponse | Refusal:
    started = time.monotonic()
    upstream = await connect_upstream(state.http, _upstream_request(state, admission, resume_id))
    if not isinstance(upstream, Refusal):
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


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Handle one `/sign_in` handshake (past the door) and, if it is admitted, the whole session."""
    state = request.app[STATE]
    config = state.config
    session_id = secrets.token_hex(4)
    set_log_context(session_id=session_id)  # every line of this sign-in names it
    read = read_handshake(
        HandshakeFacts(
            upgrade=request.headers.get(hdrs.UPGRADE, ""),
            protocol_headers=tuple(request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, [])),
            function_name=request.query.get("function"),
            query_token=request.query.get("token"),
            token_query=config.token_query,
            token_first_message=config.token_first_message,
        )
    )
    if isinstance(read, Refusal):
        return await _refuse(request, read, session_id)
    ws = _new_ws(state, preauth=read.by_first_message)
    if not ws.can_prepare(request).ok:
        return await _refuse(request, Refusal(RefusalKind.BAD_HANDSHAKE, "invalid WebSocket handshake"), session_id)
    if not read.by_first_message:
        return await _admit_and_serve(request, ws, read, read.token, session_id)
    if state.draining.is_set():  # Not worth a wait for a token that would be refused anyway.
        return await _refuse(request, DRAINING, session_id, ws)
    if not state.preauth.try_enter():
        refusal = Refusal(RefusalKind.PREAUTH_FULL, "too many connections waiting to sign in, try again later")
        return await _refuse(request, refusal, session_id, ws)
    return await _sign_in_by_first_message(request, ws, read, session_id)


async def _sign_in_by_first_message(
    request: web.Request, ws: web.WebSocketResponse, sign_in: SignInRequest, session_id: str
) -> web.StreamResponse:
    """Accept first, read `{"token": "<JWT>"}`, then admit and serve as with any other token.

    Until the token is read the socket is bounded (`proxy.preauth`): one absolute deadline and a
    small message size limit, raised to the session's once the user is admitted.
    """
    state = request.app[STATE]
    try:  # The caller took a place at the gate; it is given back once the first message is in.
        await ws.prepare(request)
        async with asyncio.timeout(state.config.auth_timeout):
            msg = await ws.receive()
    except TimeoutError:
        return await _refuse(request, Refusal(RefusalKind.TOKEN_REJECTED, TOKEN_MISSING), session_id, ws)
    finally:
        state.preauth.leave()
    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        state.metrics.handshakes.labels("client-gone").inc()
        return ws
    if msg.type is aiohttp.WSMsgType.ERROR:
        # aiohttp has already closed the socket (1009 for a first message over the pre-auth limit).
        _log_refused(session_id, request, "bad-first-message", ws.close_code or CloseCode.ABNORMAL, "bad first message")
        state.metrics.handshakes.labels("bad-first-message").inc()
        return ws
    token = first_message_token(msg.data) if msg.type is aiohttp.WSMsgType.TEXT else None
    return await _admit_and_serve(request, ws, sign_in, token, session_id)


async def _admit_and_serve(
    request: web.Request, ws: web.WebSocketResponse, sign_in: SignInRequest, token: str | None, session_id: str
) -> web.StreamResponse:
    """Admit the user, open the upstream, accept the browser (if not yet) and relay until the end.

    A session can be resumed only when its browser is accepted here, after the upstream: the resume
    cookie is set on the handshake's answer, so a first-message sign-in (accepted before its token)
    neither resumes nor issues one.
    """
    state = request.app[STATE]
    config = state.config
    admitted = await _admit(state, sign_in, token)
    if isinstance(admitted, Refusal):
        return await _refuse(request, admitted, session_id, ws)
    admission, lease = admitted
    try:
        if ws.prepared and config.max_message_bytes > preauth_message_limit(config.jwt_max_bytes):
            raise_message_limit(request, ws, config.max_message_bytes)
        resumable = not ws.prepared
        resume_id = _resume_id(request, state, admission, sign_in.resume) if resumable else None
        if resume_id is not None and await state.held.release_for_resume(resume_id):
            logger.info("session %s: taking back held session %s after a reload", session_id, resume_id)
        upstream = await _open_upstream(state, admission, resume_id)
        if isinstance(upstream, Refusal):
            return await _refuse(request, upstream, session_id, ws)
        upstream_session_id = session_id_of(upstream) if resumable else None
        if not ws.prepared:
            _set_resume_cookie(request, ws, admission, upstream_session_id)
            try:
                await ws.prepare(request)
            except BaseException:
                # The browser left while we were connecting upstream (or the handler was cancelled).
                await upstream.close(code=CloseCode.GOING_AWAY, message=b"client went away")
                state.metrics.handshakes.labels("client-gone").inc()
                raise
        state.metrics.handshakes.labels("accepted").inc()
        await _relay(request, ws, upstream, admission, session_id, upstream_session_id)
        return ws
    finally:
        await state.limits.give_back(lease)


def _set_resume_cookie(
    request: web.Request, ws: web.WebSocketResponse, admission: Admission, upstream_session_id: str | None
) -> None:
    if upstream_session_id is None:
        return
    state = request.app[STATE]
    bound, _ = _session_bound(state, admission.user)
    # The cookie cannot be renewed once the WebSocket is open, so it is valid for as long as
    # the session may last (`bound`: token expiry or time limit) plus the resume window.
    valid_for = bound + state.config.resume_window
    cookie = state.resume.issue(upstream_session_id, admission.user.subject, admission.function.name, valid_for)
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


def _resume_id(request: web.Request, state: ProxyState, admission: Admission, wants_resume: bool) -> str | None:
    """The session id to resume: only when asked for, and only the user's own for this function."""
    if not wants_resume:
        return None  # A second tab never takes over the first one's session.
    cookie = request.cookies.get(RESUME_COOKIE)
    if cookie is None:
        return None
    return state.resume.session_id(cookie, admission.user.subject, admission.function.name)


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
            await upstream.close(code=CloseCode.NORMAL, message=PAGE_CLOSED)  # Nothing to come back to.
        elif not upstream.closed:  # Never leave an upstream session open, whatever happened.
            await upstream.close(code=CloseCode.GOING_AWAY, message=b"going away")
        _log_end(session_id, user, bridging, time.monotonic() - started)


def _page_hidden(bridging: asyncio.Task[BridgeResult]) -> bool:
    return not bridging.cancelled() and bridging.exception() is None and bridging.result().right_kept_open


def _log_end(session_id: str, user: UserToken, bridging: asyncio.Task[BridgeResult], duration: float) -> None:
    if bridging.cancelled():
        outcome, code, reason = "ended-by-proxy", int(CloseCode.GOING_AWAY), "going away"
    elif bridging.exception() is not None:
        outcome, code, reason = "bridge-error", int(CloseCode.INTERNAL_ERROR), type(bridging.exception()).__name__
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


def _log_refused(session_id: str, request: web.Request, outcome: str, code: int, reason: str) -> None:
    logger.info(
        "session %s refused: peer=%s outcome=%s code=%d reason=%r",
        session_id,
        client_of(request),
        outcome,
        code,
        reason,
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
