"""The part of NVCF's control API that nvcf-deploy uses, served by nvcf-local (docs/local-nvcf.md).

| method and path | answer |
|---|---|
| ``POST /v2/nvcf/functions`` | create a function from a create-function body: ``{"function": {...}}`` |
| ``POST /v2/nvcf/functions/{fid}/versions`` | create a new version of a function |
| ``GET /v2/nvcf/functions?visibility=...`` | ``{"functions": [...]}``: every version is ``private`` (own) |
| ``GET /v2/nvcf/functions/{fid}/versions`` | ``{"functions": [...]}``, the function's versions |
| ``GET /v2/nvcf/functions/{fid}/versions/{vid}`` | ``{"function": {...}}`` |
| ``DELETE /v2/nvcf/functions/{fid}/versions/{vid}`` | undeploy and delete: 204 |
| ``POST /v2/nvcf/deployments/functions/{fid}/versions/{vid}`` | deploy: ``{"deployment": {...}}`` |
| ``PUT /v2/nvcf/deployments/functions/{fid}/versions/{vid}`` | update instance counts: ``{"deployment": {...}}`` |
| ``GET /v2/nvcf/deployments/functions/{fid}/versions/{vid}`` | ``{"deployment": {...}}`` |
| ``DELETE /v2/nvcf/deployments/functions/{fid}/versions/{vid}[?graceful=true]`` | undeploy: ``{"function": {...}}`` |

Every request needs ``Authorization: Bearer <API key>``; errors are RFC 7807 problem documents.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from deploy.nvcf_local.control_plane import ApiProblem, ControlPlane
from deploy.nvcf_local.store import StoredVersion

CONTROL_PLANE = web.AppKey("nvcf_local_control_plane", ControlPlane)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(problem: ApiProblem) -> web.Response:
    """`problem` as NVCF answers errors: an RFC 7807 problem document."""
    return web.json_response(
        {"type": "about:blank", "title": problem.title, "status": problem.status, "detail": problem.detail},
        status=problem.status,
        content_type="application/problem+json",
    )


def _authorized(request: web.Request, api_key: str) -> bool:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), api_key.encode())


@web.middleware
async def require_api_key(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The control API answers 401 to a request without the API key as bearer token."""
    if request.path.startswith(("/v2/", "/local/")):
        plane = request.app[CONTROL_PLANE]
        if not _authorized(request, plane.config.api_key):
            return problem_response(ApiProblem(401, "Unauthorized", "send 'Authorization: Bearer <API key>'"))
    return await handler(request)


async def _json_body(request: web.Request) -> object | ApiProblem:
    try:
        body: object = await request.json(loads=json.loads)
        return body
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ApiProblem(400, "Bad Request", f"the body is not JSON: {exc}")


async def create_function(request: web.Request) -> web.Response:
    """``POST /v2/nvcf/functions``."""
    body = await _json_body(request)
    if isinstance(body, ApiProblem):
        return problem_response(body)
    plane = request.app[CONTROL_PLANE]
    version = plane.create_version(body)
    if isinstance(version, ApiProblem):
        return problem_response(version)
    return web.json_response({"function": plane.describe_version(version)})


async def create_version(request: web.Request) -> web.Response:
    """``POST /v2/nvcf/functions/{fid}/versions``."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    body = await _json_body(request)
    if isinstance(body, ApiProblem):
        return problem_response(body)
    version = plane.create_version(body, function_id=found[0].function_id)
    if isinstance(version, ApiProblem):
        return problem_response(version)
    return web.json_response({"function": plane.describe_version(version)})


# NVIDIA/nvcf FunctionManagementController: ``visibility`` is a set of these, by default all three
# (NvcfConstants.DEFAULT_VISIBILITY), so without it NVCF lists NVIDIA's public catalogue too.
VISIBILITIES = ("authorized", "private", "public")


def parse_visibility(values: list[str]) -> set[str] | ApiProblem:
    """The ``visibility`` query values (repeated or comma-separated); all three when absent."""
    asked = {item.strip() for value in values for item in value.split(",") if item.strip()}
    unknown = sorted(asked - set(VISIBILITIES))
    if unknown:
        return ApiProblem(
            400, "Bad Request", f"visibility {', '.join(unknown)} is not one of {', '.join(VISIBILITIES)}"
        )
    return asked or set(VISIBILITIES)


async def list_functions(request: web.Request) -> web.Response:
    """``GET /v2/nvcf/functions``: nvcf-local's functions are all the account's own (``private``)."""
    plane = request.app[CONTROL_PLANE]
    visibility = parse_visibility(request.query.getall("visibility", []))
    if isinstance(visibility, ApiProblem):
        return problem_response(visibility)
    versions = plane.store.versions() if "private" in visibility else []
    return web.json_response({"functions": [plane.describe_version(v) for v in versions]})


async def list_versions(request: web.Request) -> web.Response:
    """``GET /v2/nvcf/functions/{fid}/versions``."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    return web.json_response({"functions": [plane.describe_version(v) for v in found]})


async def get_version(request: web.Request) -> web.Response:
    """``GET /v2/nvcf/functions/{fid}/versions/{vid}``."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"], request.match_info["version_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    return web.json_response({"function": plane.describe_version(found[0])})


async def delete_version(request: web.Request) -> web.Response:
    """``DELETE /v2/nvcf/functions/{fid}/versions/{vid}``: stops its instances first."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"], request.match_info["version_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    await plane.delete_version(found[0])
    return web.Response(status=204)


async def deploy_version(request: web.Request) -> web.Response:
    """``POST /v2/nvcf/deployments/functions/{fid}/versions/{vid}``."""
    return await _with_deployment_body(request, request.app[CONTROL_PLANE].deploy)


async def update_deployment(request: web.Request) -> web.Response:
    """``PUT /v2/nvcf/deployments/functions/{fid}/versions/{vid}``."""
    return await _with_deployment_body(request, request.app[CONTROL_PLANE].update_deployment)


async def _with_deployment_body(
    request: web.Request, action: Callable[[StoredVersion, object], dict[str, Any] | ApiProblem]
) -> web.Response:
    """Find the version, read the deployment specification body, and apply `action` to both."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"], request.match_info["version_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    body = await _json_body(request)
    if isinstance(body, ApiProblem):
        return problem_response(body)
    deployment = action(found[0], body)
    if isinstance(deployment, ApiProblem):
        return problem_response(deployment)
    return web.json_response({"deployment": deployment})


async def get_deployment(request: web.Request) -> web.Response:
    """``GET /v2/nvcf/deployments/functions/{fid}/versions/{vid}``."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"], request.match_info["version_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    if (found[0].function_id, found[0].version_id) not in plane.deployments:
        return problem_response(ApiProblem(404, "Not Found", f"version {found[0].version_id} is not deployed"))
    return web.json_response({"deployment": plane.describe_deployment(found[0])})


async def undeploy_version(request: web.Request) -> web.Response:
    """``DELETE /v2/nvcf/deployments/functions/{fid}/versions/{vid}``: returns once its instances are
    gone; with ``?graceful=true`` at once, the instances stopping as their sessions end."""
    plane = request.app[CONTROL_PLANE]
    found = plane.find(request.match_info["function_id"], request.match_info["version_id"])
    if isinstance(found, ApiProblem):
        return problem_response(found)
    graceful = request.query.get("graceful", "false").lower()
    if graceful not in ("true", "false"):
        return problem_response(ApiProblem(400, "Bad Request", "graceful must be true or false"))
    if not await plane.undeploy(found[0], graceful=graceful == "true"):
        return problem_response(ApiProblem(404, "Not Found", f"version {found[0].version_id} is not deployed"))
    return web.json_response({"function": plane.describe_version(found[0])})


def add_routes(app: web.Application) -> None:
    """Add the control API's routes to `app` (whose `CONTROL_PLANE` must be set)."""
    functions = "/v2/nvcf/functions"
    version = functions + "/{function_id}/versions/{version_id}"
    deployment = "/v2/nvcf/deployments/functions/{function_id}/versions/{version_id}"
    app.router.add_post(functions, create_function)
    app.router.add_get(functions, list_functions)
    app.router.add_post(functions + "/{function_id}/versions", create_version)
    app.router.add_get(functions + "/{function_id}/versions", list_versions)
    app.router.add_get(version, get_version)
    app.router.add_delete(version, delete_version)
    app.router.add_post(deployment, deploy_version)
    app.router.add_put(deployment, update_deployment)
    app.router.add_get(deployment, get_deployment)
    app.router.add_delete(deployment, undeploy_version)
