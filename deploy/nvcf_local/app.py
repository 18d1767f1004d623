"""nvcf-local's web application: NVCF's control API, the sign-in relay, and an instance listing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from deploy.nvcf_local.config import NvcfLocalConfig
from deploy.nvcf_local.control_api import CONTROL_PLANE, add_routes, problem_response, require_api_key
from deploy.nvcf_local.control_plane import ApiProblem, ControlPlane
from deploy.nvcf_local.metrics import METRICS, NvcfLocalMetrics
from deploy.nvcf_local.relay import relay_sign_in
from deploy.nvcf_local.store import Store


@dataclass
class RelayState:
    """The relay's open bridges (closed with 1001 when nvcf-local stops) and its HTTP client."""

    bridges: set[asyncio.Task[Any]] = field(default_factory=set)
    http: aiohttp.ClientSession | None = None


RELAY = web.AppKey("nvcf_local_relay", RelayState)


async def sign_in(request: web.Request) -> web.StreamResponse:
    """The relay's WebSocket endpoint (``/sign_in``)."""
    relay = request.app[RELAY]
    assert relay.http is not None
    return await relay_sign_in(request, plane=request.app[CONTROL_PLANE], http=relay.http, sessions=relay.bridges)


async def list_instances(request: web.Request) -> web.Response:
    """``GET /local/v1/functions/{fid}/versions/{vid}/instances``: nvcf-local's own view of a deployment.

    Not part of NVCF's API: tests and people use it to see which instance holds which session.
    """
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"], request.match_info["version_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    deployment = plane.deployments.get((found[0].function_id, found[0].version_id))
    instances = [i.describe() for i in deployment.instances] if deployment is not None else []
    return web.json_response({"instances": instances})


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: nvcf-local's Prometheus metrics (docs/observability.md)."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _control_plane(app: web.Application) -> AsyncIterator[None]:
    plane = app[CONTROL_PLANE]
    async with aiohttp.ClientSession() as http:
        app[RELAY].http = http
        plane.start(http)
        try:
            yield
        finally:
            await plane.close()
            app[RELAY].http = None
            plane.store.close()


async def _close_bridges(app: web.Application) -> None:
    # Cancelling a bridge closes both of its WebSockets with 1001 (going away).
    bridges = list(app[RELAY].bridges)
    for bridge in bridges:
        bridge.cancel()
    await asyncio.gather(*bridges, return_exceptions=True)


def make_app(config: NvcfLocalConfig, store: Store, definition_body: dict[str, Any] | None = None) -> web.Application:
    """Build nvcf-local; starting the app runs the stored deployments, cleaning it up stops their instances.

    With `definition_body` (single-definition mode) that function is created with the configured
    ids and deployed with the configured instance counts before anything else starts.
    """
    app = web.Application(middlewares=[require_api_key])
    plane = ControlPlane(config, store)
    if definition_body is not None:
        plane.ensure_definition(definition_body)
    app[CONTROL_PLANE] = plane
    app[METRICS] = NvcfLocalMetrics(plane)
    app[RELAY] = RelayState()
    add_routes(app)
    app.router.add_get("/local/v1/functions/{function_id}/versions/{version_id}/instances", list_instances)
    app.router.add_get("/sign_in", sign_in)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_control_plane)
    app.on_shutdown.append(_close_bridges)
    return app
