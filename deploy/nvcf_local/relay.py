"""The sign-in relay: NVCF's WebSocket front door for streaming functions (docs/protocol.md, section 2).

A sign-in names its API key and function as headers (``Authorization: Bearer <key>``,
``Function-ID``, ``Function-Version-ID``) or, for clients that cannot set headers, as
``Sec-WebSocket-Protocol`` items ``key.value`` with the key in any case. The relay refuses before
the upgrade, with an HTTP status and a plain-text reason, when the key is wrong (401), the function
id is missing (400), the function or version is unknown (404), no instance can take a session
(503) or the instance cannot be reached (502), and for a resume when the session id is unknown or
expired (404 ``no existing session``) or still connected (409 ``session already connected``).
Otherwise it opens the WebSocket to the instance first, then accepts the client, answering with
the session id (``NVCF-REQID`` header and ``nvcf-request-id`` cookie), and moves messages both
ways with `proxy.bridge.bridge`. When the connection ends, the instance is asked with endsession
whether the session is over (`deploy.nvcf_local.sessions`), as NVCF's streaming sidecar asks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from deploy.nvcf_local.closecodes import CloseCode
from deploy.nvcf_local.control_plane import ApiProblem, ControlPlane
from deploy.nvcf_local.deployment import Deployment
from deploy.nvcf_local.instance import FunctionInstance
from deploy.nvcf_local.metrics import METRICS
from deploy.nvcf_local.sessions import RECONNECT_WINDOW_HEADER, RelaySession, ResumeProblem, reconnect_window
from observability import set_log_context
from proxy.bridge import bridge

logger = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
FUNCTION_ID = "function-id"
FUNCTION_VERSION_ID = "function-version-id"
REQUEST_ID = "nvcf-reqid"
REQUEST_ID_COOKIE = "nvcf-request-id"
RELAY_ITEM_KEYS = frozenset({AUTHORIZATION, FUNCTION_ID, FUNCTION_VERSION_ID, REQUEST_ID})
# Relay items that are not secret, so may be echoed to a client that offered no protocol of its
# own (a browser fails the handshake when it offered protocols and none comes back).
_ECHOABLE_ITEM_KEYS = (FUNCTION_ID, FUNCTION_VERSION_ID)
_UPSTREAM_CONNECT_TIMEOUT = 10.0
_MAX_MESSAGE = 4 * 1024 * 1024


@dataclass(frozen=True)
class SignIn:
    """What a sign-in handshake says, read from its headers and subprotocol items."""

    api_key: str | None
    function_id: str | None
    version_id: str | None
    request_id: str | None
    app_protocols: tuple[str, ...]
    echoable_items: tuple[str, ...]
    authorization_problem: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A sign-in the relay refuses before the upgrade: the HTTP status and a reason to show."""

    status: int
    reason: str


def _protocol_items(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> list[str]:
    values = headers.getall("Sec-WebSocket-Protocol", [])
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_sign_in(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> SignIn:
    """Read a sign-in's credentials; headers win over subprotocol items of the same key.

    `headers` is aiohttp's ``request.headers``: names match in any case, a name may repeat.
    """
    items: dict[str, str] = {}
    app_protocols: list[str] = []
    echoable: list[str] = []
    for item in _protocol_items(headers):
        key, dot, value = item.partition(".")
        if dot and key.lower() in RELAY_ITEM_KEYS:
            items.setdefault(key.lower(), value)
            if key.lower() in _ECHOABLE_ITEM_KEYS:
                echoable.append(item)
        else:
            app_protocols.append(item)
    api_key = items.get(AUTHORIZATION) or None
    problem = None
    header = headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            api_key = credentials.strip()
        else:
            api_key, problem = None, "the Authorization header must be 'Bearer <API key>'"
    return SignIn(
        api_key=api_key,
        function_id=(headers.get("Function-ID") or items.get(FUNCTION_ID) or "").strip() or None,
        version_id=(headers.get("Function-Version-ID") or items.get(FUNCTION_VERSION_ID) or "").strip() or None,
        request_id=(headers.get("NVCF-REQID") or items.get(REQUEST_ID) or "").strip() or None,
        app_protocols=tuple(app_protocols),
        echoable_items=tuple(echoable),
        authorization_problem=problem,
    )


def _same_id(given: str, expected: str) -> bool:
    return given.lower() == expected.lower()


def authorize(sign_in: SignIn, api_key: str) -> Refusal | None:
    """The refusal NVCF's relay would answer for these credentials, or None if they are good."""
    if sign_in.authorization_problem is not None:
        return Refusal(401, sign_in.authorization_problem)
    if sign_in.api_key is None:
        return Refusal(
            401, "API key missing: send 'Authorization: Bearer <key>' or the subprotocol item 'authorization.<key>'"
        )
    if not hmac.compare_digest(sign_in.api_key.encode(), api_key.encode()):
        return Refusal(401, "API key invalid")
    if sign_in.function_id is None:
        return Refusal(
            400, "function id missing: send the Function-ID header or the subprotocol item 'function-id.<id>'"
        )
    return None


def choose_protocol(sign_in: SignIn, upstream_choice: str | None) -> str | None:
    """The one subprotocol to echo: the instance's choice, else the client's own, never a secret."""
    if upstream_choice and upstream_choice in sign_in.app_protocols:
        return upstream_choice
    if sign_in.app_protocols:
        return sign_in.app_protocols[0]
    return sign_in.echoable_items[0] if sign_in.echoable_items else None


def _refuse(refusal: Refusal, request: web.Request) -> web.Response:
    logger.info("sign-in from %s refused: %d %s", request.remote, refusal.status, refusal.reason)
    request.app[METRICS].refused(refusal.status)
    return web.Response(status=refusal.status, text=refusal.reason + "\n")


async def _connect_instance(
    http: aiohttp.ClientSession, instance: FunctionInstance, protocols: tuple[str, ...]
) -> aiohttp.ClientWebSocketResponse | Refusal:
    try:
        return await asyncio.wait_for(
            http.ws_connect(instance.inference_url, protocols=protocols, max_msg_size=_MAX_MESSAGE),
            _UPSTREAM_CONNECT_TIMEOUT,
        )
    except aiohttp.WSServerHandshakeError as exc:
        return Refusal(502, f"function instance refused the WebSocket: HTTP {exc.status}")
    except TimeoutError:
        return Refusal(502, f"function instance unreachable: no WebSocket within {_UPSTREAM_CONNECT_TIMEOUT:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return Refusal(502, f"function instance unreachable: {exc}")


def requested_session(sign_in: SignIn, request: web.Request) -> str | None:
    """The session id a sign-in asks to resume: ``nvcf-reqid`` header, subprotocol item, then cookie."""
    return sign_in.request_id or (request.cookies.get(REQUEST_ID_COOKIE) or "").strip() or None


async def _route(
    request: web.Request, sign_in: SignIn, plane: ControlPlane, deployment: Deployment, http: aiohttp.ClientSession
) -> tuple[RelaySession, aiohttp.ClientWebSocketResponse] | Refusal:
    """A session and the instance's WebSocket for this sign-in: a resumed one or a new one."""
    assert sign_in.function_id is not None
    request_id = requested_session(sign_in, request)
    if request_id is not None:
        resumed = plane.sessions.resume(request_id, sign_in.function_id)
        if isinstance(resumed, ResumeProblem):
            return Refusal(409 if resumed is ResumeProblem.CONNECTED else 404, resumed.value)
        # Connected from now on, so no endsession call ends it while the instance is being reached.
        plane.sessions.reconnected(resumed)
        upstream = await _connect_instance(http, resumed.instance, sign_in.app_protocols)
        if isinstance(upstream, Refusal):
            plane.sessions.disconnected(resumed)
            return upstream
        return resumed, upstream
    claimed = await deployment.claim()
    if isinstance(claimed, str):
        return Refusal(503, claimed)
    upstream = await _connect_instance(http, claimed, sign_in.app_protocols)
    if isinstance(upstream, Refusal):
        deployment.release(claimed)
        return upstream
    window = reconnect_window(request.headers.get(RECONNECT_WINDOW_HEADER), plane.config.reconnect_window)
    return plane.sessions.open(sign_in.function_id, claimed, window), upstream


async def relay_sign_in(
    request: web.Request,
    *,
    plane: ControlPlane,
    http: aiohttp.ClientSession,
    sessions: set[asyncio.Task[object]],
) -> web.StreamResponse:
    """Handle one sign-in: refuse it, or connect it to an instance and bridge until either side closes."""
    sign_in = parse_sign_in(request.headers)
    refusal = authorize(sign_in, plane.config.api_key)
    if refusal is not None:
        return _refuse(refusal, request)
    assert sign_in.function_id is not None
    set_log_context(function_id=sign_in.function_id)
    deployment = plane.deployment_for(sign_in.function_id, sign_in.version_id)
    if isinstance(deployment, ApiProblem):
        return _refuse(Refusal(deployment.status, deployment.detail), request)
    if not web.WebSocketResponse().can_prepare(request).ok:
        return _refuse(Refusal(400, "sign-in must be a WebSocket upgrade request"), request)
    routed = await _route(request, sign_in, plane, deployment, http)
    if isinstance(routed, Refusal):
        return _refuse(routed, request)
    session, upstream = routed
    instance = session.instance
    set_log_context(session_id=session.session_id, instance_id=instance.instance_id)
    protocol = choose_protocol(sign_in, upstream.protocol)
    client = web.WebSocketResponse(protocols=(protocol,) if protocol else (), max_msg_size=_MAX_MESSAGE)
    client.headers["NVCF-REQID"] = session.session_id
    client.set_cookie(REQUEST_ID_COOKIE, session.session_id, path="/", httponly=True)
    try:
        await client.prepare(request)
    except BaseException as exc:
        # The client went away during the upgrade: the instance's connection must not linger, and
        # a session the client never learnt the id of cannot be resumed.
        await upstream.close()
        if requested_session(sign_in, request) is None:
            await session.instance.end_session(session.session_id, graceful=True)
            plane.sessions.end(session)
        else:
            plane.sessions.disconnected(session)
        if isinstance(exc, web.HTTPException):
            return _refuse(Refusal(exc.status, exc.text or exc.reason), request)
        raise
    request.app[METRICS].routed(resumed=requested_session(sign_in, request) is not None)
    logger.info(
        "session %s: %s connected to function %s instance %s (port %d, protocol %s)",
        session.session_id,
        request.remote,
        instance.function_id,
        instance.instance_id,
        instance.ports.streaming,
        protocol or "none",
    )
    bridged = asyncio.create_task(bridge(client, upstream, left_name="client", right_name="instance"))
    sessions.add(bridged)
    try:
        await asyncio.wait({bridged})
    except asyncio.CancelledError:
        bridged.cancel()
        await asyncio.gather(bridged, return_exceptions=True)
        raise
    finally:
        sessions.discard(bridged)
        await upstream.close()
    if bridged.cancelled():
        logger.info("session %s: closed by shutdown", session.session_id)
        return client
    error = bridged.exception()
    if error is not None:
        logger.warning("session %s: connection ended by an error: %r", session.session_id, error)
        await client.close(code=CloseCode.INTERNAL_ERROR)
    else:
        result = bridged.result()
        logger.info(
            "session %s: %s closed the connection with %d %s",
            session.session_id,
            result.closed_by,
            result.code,
            result.reason,
        )
    # As NVCF's sidecar: whoever closed, the instance says (endsession) whether the session is over.
    plane.sessions.disconnected(session)
    return client
