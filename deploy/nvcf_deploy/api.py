"""NVCF's control API as nvcf-deploy uses it: request values, sending them, and errors as values.

Requests are built as plain `ApiRequest` values (so ``--dry-run`` can print exactly what would be
sent, and tests can compare them field by field with NVCF's API reference), then sent by
`ApiClient`. Any failure, from a refused connection to a 4xx problem document, becomes an
`ApiError` carrying the HTTP status and NVCF's own message.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from deploy.nvcf_deploy.retry import MAX_ATTEMPTS, retry_pause


@dataclass(frozen=True)
class ApiRequest:
    """One control-API call: method, path under the base URL, JSON body (or none)."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    query: tuple[tuple[str, str], ...] = ()

    @property
    def target(self) -> str:
        """The path with its query string."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{key}={value}" for key, value in self.query)

    def render(self, base_url: str) -> str:
        """The request as text, as ``--dry-run`` prints it; the API key and secret values are never shown."""
        lines = [f"{self.method} {base_url.rstrip('/')}{self.target}", "Authorization: Bearer <API key>"]
        if self.body is not None:
            lines += ["Content-Type: application/json", "", json.dumps(mask_secrets(self.body), indent=2)]
        return "\n".join(lines)


MASK = "<secret value>"


def mask_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with every ``secrets[].value`` replaced by a placeholder (as the API key is)."""
    secrets = body.get("secrets")
    if not isinstance(secrets, list):
        return body
    masked = [{**s, "value": MASK} if isinstance(s, dict) and "value" in s else s for s in secrets]
    return {**body, "secrets": masked}


class ApiError(Exception):
    """The API refused a request or could not be reached; `status` is 0 when there was no answer."""

    def __init__(self, status: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


FUNCTIONS = "/v2/nvcf/functions"


def create_function(definition: dict[str, Any]) -> ApiRequest:
    """``POST /v2/nvcf/functions``: the definition is the body, as is."""
    return ApiRequest("POST", FUNCTIONS, definition)


def create_version(function_id: str, definition: dict[str, Any]) -> ApiRequest:
    """``POST /v2/nvcf/functions/{functionId}/versions``: a new version of an existing function."""
    return ApiRequest("POST", f"{FUNCTIONS}/{function_id}/versions", definition)


# NVCF lists by visibility; without the parameter it means all three (NVIDIA/nvcf
# NvcfConstants.DEFAULT_VISIBILITY), NVIDIA's public catalogue included. The ngc CLI asks for private.
VISIBILITIES = ("authorized", "private", "public")


def list_functions(visibility: tuple[str, ...] = ("private",)) -> ApiRequest:
    """``GET /v2/nvcf/functions?visibility=...``: by default the account's own functions only."""
    return ApiRequest("GET", FUNCTIONS, query=(("visibility", ",".join(visibility)),))


def list_versions(function_id: str) -> ApiRequest:
    """``GET /v2/nvcf/functions/{functionId}/versions``: every version with its status."""
    return ApiRequest("GET", f"{FUNCTIONS}/{function_id}/versions")


def get_version(function_id: str, version_id: str) -> ApiRequest:
    """``GET /v2/nvcf/functions/{functionId}/versions/{versionId}``."""
    return ApiRequest("GET", f"{FUNCTIONS}/{function_id}/versions/{version_id}")


def delete_version(function_id: str, version_id: str) -> ApiRequest:
    """``DELETE /v2/nvcf/functions/{functionId}/versions/{versionId}``."""
    return ApiRequest("DELETE", f"{FUNCTIONS}/{function_id}/versions/{version_id}")


def _deployment_path(function_id: str, version_id: str) -> str:
    return f"/v2/nvcf/deployments/functions/{function_id}/versions/{version_id}"


def deploy_version(function_id: str, version_id: str, specifications: list[dict[str, Any]]) -> ApiRequest:
    """``POST /v2/nvcf/deployments/functions/{functionId}/versions/{versionId}``."""
    return ApiRequest("POST", _deployment_path(function_id, version_id), {"deploymentSpecifications": specifications})


def update_deployment(function_id: str, version_id: str, specifications: list[dict[str, Any]]) -> ApiRequest:
    """``PUT /v2/nvcf/deployments/functions/{functionId}/versions/{versionId}``: new instance counts."""
    return ApiRequest("PUT", _deployment_path(function_id, version_id), {"deploymentSpecifications": specifications})


def get_deployment(function_id: str, version_id: str) -> ApiRequest:
    """``GET /v2/nvcf/deployments/functions/{functionId}/versions/{versionId}``."""
    return ApiRequest("GET", _deployment_path(function_id, version_id))


def undeploy_version(function_id: str, version_id: str, *, graceful: bool = False) -> ApiRequest:
    """``DELETE /v2/nvcf/deployments/functions/{functionId}/versions/{versionId}``; with `graceful`
    (``?graceful=true``) running sessions finish before their instances stop."""
    query = (("graceful", "true"),) if graceful else ()
    return ApiRequest("DELETE", _deployment_path(function_id, version_id), query=query)


def _message(status: int, text: str) -> str:
    """NVCF's message from an error body: a problem document's ``detail``/``title``, else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:500] or f"no message (HTTP {status})"
    if isinstance(body, dict):
        for key in ("detail", "title", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return text.strip()[:500]


@dataclass
class ApiClient:
    """Sends `ApiRequest`s to one base URL with one API key."""

    base_url: str
    api_key: str = field(repr=False)
    http: aiohttp.ClientSession
    request_timeout: float = 60.0
    retries: int = MAX_ATTEMPTS - 1
    # Told about each retry (nvcf-deploy prints it), so a slow command says why it is slow.
    notice: Callable[[str], None] = field(default=lambda _: None, repr=False)

    async def send(self, request: ApiRequest) -> dict[str, Any]:
        """Send `request`, again after a transient failure (`deploy.nvcf_deploy.retry`); the JSON
        answer ({} for an empty one), or `ApiError`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send_once(request)
            except ApiError as exc:
                pause = (
                    None
                    if attempt > self.retries
                    else retry_pause(
                        attempt,
                        method=request.method,
                        status=exc.status,
                        retry_after=exc.retry_after,
                        now=datetime.datetime.now(datetime.UTC),
                    )
                )
                if pause is None:
                    raise
                self.notice(f"{exc}; trying again in {pause:.1f} s")
                await asyncio.sleep(pause)

    async def _send_once(self, request: ApiRequest) -> dict[str, Any]:
        url = f"{self.base_url.rstrip('/')}{request.target}"
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        try:
            async with self.http.request(
                request.method,
                url,
                json=request.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise ApiError(
                        response.status, _message(response.status, text), response.headers.get("Retry-After")
                    )
        except TimeoutError:
            raise ApiError(0, f"{request.method} {url}: no answer within {self.request_timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise ApiError(0, f"{request.method} {url}: cannot reach the API: {exc}") from None
        if not text.strip():
            return {}
        try:
            body = json.loads(text)
        except ValueError:
            raise ApiError(response.status, f"the answer is not JSON: {text[:200]!r}") from None
        if not isinstance(body, dict):
            raise ApiError(response.status, f"the answer is not a JSON object: {text[:200]!r}")
        return body
