"""NVCF's control API as nvcf-deploy uses it: request values, sending them, and errors as values.

Requests are built as plain `ApiRequest` values (so ``--dry-run`` can print exactly what would be
sent, and tests can compare them field by field with REFERENCE.md section 1), then sent by
`ApiClient`. Any failure, from a refused connection to a 4xx problem document, becomes an
`ApiError` carrying the HTTP status and NVCF's own message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class ApiRequest:
    """One control-API call: method, path under the base URL, JSON body (or none)."""

    method: str
    path: str
    body: dict[str, Any] | None = None

    def render(self, base_url: str) -> str:
        """The request as text, as ``--dry-run`` prints it; the API key is never shown."""
        lines = [f"{self.method} {base_url.rstrip('/')}{self.path}", "Authorization: Bearer <API key>"]
        if self.body is not None:
            lines += ["Content-Type: application/json", "", json.dumps(self.body, indent=2)]
        return "\n".join(lines)


class ApiError(Exception):
    """The API refused a request or could not be reached; `status` is 0 when there was no answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


FUNCTIONS = "/v2/nvcf/functions"


def create_function(definition: dict[str, Any]) -> ApiRequest:
    """``POST /v2/nvcf/functions``: the definition is the body, as is."""
    return ApiRequest("POST", FUNCTIONS, definition)


def create_version(function_id: str, definition: dict[str, Any]) -> ApiRequest:
    """``POST /v2/nvcf/functions/{functionId}/versions``: a new version of an existing function."""
    return ApiRequest("POST", f"{FUNCTIONS}/{function_id}/versions", definition)


def list_functions() -> ApiRequest:
    """``GET /v2/nvcf/functions``."""
    return ApiRequest("GET", FUNCTIONS)


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


def get_deployment(function_id: str, version_id: str) -> ApiRequest:
    """``GET /v2/nvcf/deployments/functions/{functionId}/versions/{versionId}``."""
    return ApiRequest("GET", _deployment_path(function_id, version_id))


def undeploy_version(function_id: str, version_id: str) -> ApiRequest:
    """``DELETE /v2/nvcf/deployments/functions/{functionId}/versions/{versionId}``."""
    return ApiRequest("DELETE", _deployment_path(function_id, version_id))


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

    async def send(self, request: ApiRequest) -> dict[str, Any]:
        """Send `request`; the JSON answer ({} for an empty one), or `ApiError`."""
        url = f"{self.base_url.rstrip('/')}{request.path}"
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
                    raise ApiError(response.status, _message(response.status, text))
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
