"""Opens the upstream WebSocket to NVCF's relay and names its failures.

The upstream handshake is built from an allow-list (docs/protocol.md section 2): the API key as
bearer authorization, the function id, the optional version id and, when resuming, the session id
(`nvcf-reqid`). Nothing from the browser's request is ever copied into it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp

from proxy.policy import StreamingFunction
from proxy.refusals import Refusal, RefusalKind
from proxy.resume import SESSION_ID


@dataclass(frozen=True)
class UpstreamRequest:
    """What goes into one upstream handshake."""

    url: str
    api_key: str = field(repr=False)
    function: StreamingFunction
    resume_id: str | None = None
    timeout: float = 10.0
    heartbeat: float | None = 20.0
    max_message_bytes: int = 1024 * 1024


def upstream_headers(request: UpstreamRequest) -> dict[str, str]:
    """The headers added to the upstream handshake (docs/protocol.md section 2), and no others."""
    headers = {
        "Authorization": f"Bearer {request.api_key}",
        "Function-ID": request.function.function_id,
    }
    if request.function.version_id is not None:
        headers["Function-Version-ID"] = request.function.version_id
    if request.resume_id is not None:
        headers["nvcf-reqid"] = request.resume_id
    return headers


def failure_for(exc: BaseException, *, resuming: bool = False) -> Refusal:
    """Name a failure of the upstream handshake; the browser gets it as a close code."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        if resuming and exc.status == 404:
            return Refusal(RefusalKind.SESSION_GONE, "session expired")
        if resuming and exc.status == 409:
            return Refusal(RefusalKind.UPSTREAM_REFUSED, "upstream refused: session already connected")
        if exc.status == 503:
            return Refusal(RefusalKind.UPSTREAM_BUSY, "upstream busy: HTTP 503")
        if exc.status == 101:
            # Status 101 but a wrong Upgrade/Connection/Accept header: not a WebSocket server.
            return Refusal(RefusalKind.UPSTREAM_REFUSED, "upstream refused: bad handshake")
        return Refusal(RefusalKind.UPSTREAM_REFUSED, f"upstream refused: HTTP {exc.status}")
    # Checked before OSError: aiohttp's connect timeouts are both TimeoutError and OSError.
    if isinstance(exc, TimeoutError):
        return Refusal(RefusalKind.UPSTREAM_TIMEOUT, "upstream timed out")
    return Refusal(RefusalKind.UPSTREAM_UNREACHABLE, "upstream unreachable")


def session_id_of(ws: aiohttp.ClientWebSocketResponse) -> str | None:
    """The `nvcf-reqid` the upstream answered with, when it is a well-formed id."""
    # aiohttp keeps the handshake response on the WebSocket object but does not expose it
    # publicly; without it the relay's session id would be lost.
    response = getattr(ws, "_response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("nvcf-reqid") if headers is not None else None
    return value if isinstance(value, str) and SESSION_ID.fullmatch(value) else None


async def connect_upstream(
    session: aiohttp.ClientSession, request: UpstreamRequest
) -> aiohttp.ClientWebSocketResponse | Refusal:
    """Open the upstream WebSocket within `request.timeout`, or say why it could not be opened.

    The timeout covers everything (DNS, TCP, TLS, the HTTP upgrade), so a relay that accepts the
    connection but never answers cannot hold the browser beyond it.
    """
    try:
        async with asyncio.timeout(request.timeout):
            return await session.ws_connect(
                request.url,
                headers=upstream_headers(request),
                compress=0,  # No permessage-deflate: the payloads are small and latency matters.
                heartbeat=request.heartbeat,
                autoclose=True,
                autoping=True,
                max_msg_size=request.max_message_bytes,
            )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return failure_for(exc, resuming=request.resume_id is not None)
