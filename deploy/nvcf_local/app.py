"""nvcf-local's web application: the status API NVCF's control plane offers, and the sign-in relay."""

from __future__ import annotations

import asyncio
import datetime
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from deploy.nvcf_local.config import NvcfLocalConfig
from deploy.nvcf_local.definition import FunctionDefinition
from deploy.nvcf_local.instance import FunctionInstance
from deploy.nvcf_local.relay import relay_sign_in

logger = logging.getLogger(__name__)


@dataclass
class NvcfLocalState:
    """What the handlers share: settings, the supervised instance, open sessions."""

    config: NvcfLocalConfig
    definition: FunctionDefinition
    instance: FunctionInstance
    created_at: str
    sessions: set[asyncio.Task[Any]] = field(default_factory=set)
    http: aiohttp.ClientSession | None = None


STATE = web.AppKey("nvcf_local_state", NvcfLocalState)


def _problem(status: int, title: str, detail: str) -> web.Response:
    # NVCF's API answers errors as RFC 7807 problem documents.
    return web.json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


def _authorized(request: web.Request, api_key: str) -> bool:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), api_key.encode())


def describe_version(state: NvcfLocalState) -> dict[str, Any]:
    """The function version in the shape of NVCF's ``GET /v2/nvcf/functions/{id}/versions`` items."""
    definition = state.definition
    health = definition.health
    return {
        "id": state.config.function_id,
        "ncaId": "local",
        "versionId": state.config.version_id,
        "name": definition.name,
        "status": state.instance.status.value,
        "functionType": "STREAMING",
        "inferenceUrl": definition.inference_url,
        "inferencePort": definition.inference_port,
        "containerImage": definition.container_image,
        "apiBodyFormat": "CUSTOM",
        "description": definition.description,
        "health": {
            "protocol": health.protocol,
            "uri": health.uri,
            "port": health.port,
            "timeout": f"PT{health.timeout_seconds:g}S",
            "expectedStatusCode": health.expected_status,
        },
        "containerEnvironment": [{"key": k, "value": v} for k, v in definition.container_environment],
        "createdAt": state.created_at,
    }


def _check_function(request: web.Request, state: NvcfLocalState) -> web.Response | None:
    if not _authorized(request, state.config.api_key):
        return _problem(401, "Unauthorized", "send 'Authorization: Bearer <API key>'")
    function_id = request.match_info["function_id"]
    if function_id.lower() != state.config.function_id:
        return _problem(404, "Not Found", f"function {function_id} not found")
    version_id = request.match_info.get("version_id")
    if version_id is not None and version_id.lower() != state.config.version_id:
        return _problem(404, "Not Found", f"version {version_id} of function {function_id} not found")
    return None


async def list_versions(request: web.Request) -> web.Response:
    """``GET /v2/nvcf/functions/{functionId}/versions``: the one version and its status."""
    state = request.app[STATE]
    return _check_function(request, state) or web.json_response({"functions": [describe_version(state)]})


async def get_version(request: web.Request) -> web.Response:
    """``GET /v2/nvcf/functions/{functionId}/versions/{versionId}``."""
    state = request.app[STATE]
    return _check_function(request, state) or web.json_response({"function": describe_version(state)})


async def sign_in(request: web.Request) -> web.StreamResponse:
    """The relay's WebSocket endpoint (``/sign_in``)."""
    state = request.app[STATE]
    assert state.http is not None
    return await relay_sign_in(
        request, config=state.config, instance=state.instance, http=state.http, sessions=state.sessions
    )


async def _http_client(app: web.Application) -> Any:
    state = app[STATE]
    async with aiohttp.ClientSession() as http:
        state.http = http
        yield
        state.http = None


async def _supervise_instance(app: web.Application) -> Any:
    instance = app[STATE].instance
    task = asyncio.create_task(instance.run(), name="instance supervisor")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _close_sessions(app: web.Application) -> None:
    # Cancelling a bridge closes both of its WebSockets with 1001 (going away).
    sessions = list(app[STATE].sessions)
    for session in sessions:
        session.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)


def make_app(config: NvcfLocalConfig, definition: FunctionDefinition) -> web.Application:
    """Build nvcf-local; starting the app starts the instance, cleaning it up stops the instance."""
    app = web.Application()
    app[STATE] = NvcfLocalState(
        config=config,
        definition=definition,
        instance=FunctionInstance(config, definition),
        created_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )
    app.router.add_get("/v2/nvcf/functions/{function_id}/versions", list_versions)
    app.router.add_get("/v2/nvcf/functions/{function_id}/versions/{version_id}", get_version)
    app.router.add_get("/sign_in", sign_in)
    app.cleanup_ctx.append(_http_client)
    app.cleanup_ctx.append(_supervise_instance)
    app.on_shutdown.append(_close_sessions)
    return app
