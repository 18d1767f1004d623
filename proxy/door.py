"""The door: the `Origin` and per-address rate checks every sign-in-related route passes first.

An aiohttp middleware, so `/sign_in` and `/functions` cannot differ in what they check or in which
order: the `Origin` first (it costs nothing and stops Cross-Site WebSocket Hijacking,
`proxy.origin`), then one handshake from the client address's bucket (`proxy.limits`). A route
opts in with how it answers a refusal (its metric and body format); the status comes from
`proxy.refusals.wire_answer` like every other refusal's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from proxy.admission import limits_unavailable
from proxy.client_address import client_address, rate_key
from proxy.limits import LimitsUnavailable
from proxy.origin import origin_allowed
from proxy.refusals import Refusal, RefusalKind
from proxy.state import STATE

RefuseAtDoor = Callable[[web.Request, Refusal], web.StreamResponse]
"""How a guarded route answers a refusal at its door (counting it in its own metric)."""


def client_of(request: web.Request) -> str:
    """The client's address: the TCP peer, or what trusted load balancers say it is."""
    return client_address(
        request.remote,
        request.headers.getall(hdrs.FORWARDED, []),
        request.headers.getall(hdrs.X_FORWARDED_FOR, []),
        request.app[STATE].config.trusted_proxies,
    )


async def door_refusal(request: web.Request) -> Refusal | None:
    """Why `request` may not come in, or None; takes one handshake from the address's bucket."""
    state = request.app[STATE]
    origins = request.headers.getall(hdrs.ORIGIN, [])
    if not origin_allowed(origins, request.headers.get(hdrs.HOST, ""), state.config.allowed_origins):
        return Refusal(RefusalKind.ORIGIN_FORBIDDEN, "origin not allowed")
    try:
        allowed = await state.limits.allow_address(rate_key(client_of(request)))
    except LimitsUnavailable as exc:
        return limits_unavailable(str(exc))
    if not allowed:
        return Refusal(RefusalKind.RATE_LIMITED, "too many requests, try again later")
    return None


def door_middleware(guarded: Mapping[str, RefuseAtDoor]) -> Middleware:
    """A middleware checking requests to the paths of `guarded`, refused each route's own way."""

    @web.middleware
    async def door(request: web.Request, handler: Handler) -> web.StreamResponse:
        refuse = guarded.get(request.path)
        if refuse is None:
            return await handler(request)
        refusal = await door_refusal(request)
        if refusal is not None:
            return refuse(request, refusal)
        return await handler(request)

    return door
