"""Opens the upstream WebSocket to NVCF's relay and names its failures.

The upstream handshake carries only what docs/protocol.md section 2 lists (the API key as bearer
authorization, the function id, the optional version id): nothing from the browser's request.
"""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp

from proxy.closecodes import CloseCode
from proxy.config import ProxyConfig

HEARTBEAT_SECONDS: Final = 20.0
"""Ping interval on both legs, so a peer that vanished without a FIN ends the session."""


class UpstreamFailure(Exception):
    """The upstream handshake did not succeed; `code` and `reason` go to the browser.

    `outcome` is a short word for the session log line.
    """

    def __init__(self, code: CloseCode, reason: str, outcome: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.outcome = outcome


def upstream_headers(config: ProxyConfig) -> dict[str, str]:
    """The headers added to the upstream handshake (docs/protocol.md section 2)."""
    headers = {
        "Authorization": f"Bearer {config.nvcf_api_key}",
        "Function-ID": config.function_id,
    }
    if config.function_version_id is not None:
        headers["Function-Version-ID"] = config.function_version_id
    return headers


def failure_for(exc: BaseException) -> UpstreamFailure:
    """Map an exception of the upstream handshake to the close code the browser receives."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        if exc.status == 503:
            return UpstreamFailure(CloseCode.UPSTREAM_BUSY, "upstream busy: HTTP 503", "upstream-busy")
        if exc.status == 101:
            # Status 101 but a wrong Upgrade/Connection/Accept header: not a WebSocket server.
            return UpstreamFailure(CloseCode.UPSTREAM_REFUSED, "upstream refused: bad handshake", "upstream-refused")
        return UpstreamFailure(CloseCode.UPSTREAM_REFUSED, f"upstream refused: HTTP {exc.status}", "upstream-refused")
    # Checked before OSError: aiohttp's connect timeouts are both TimeoutError and OSError.
    if isinstance(exc, TimeoutError):
        return UpstreamFailure(CloseCode.UPSTREAM_TIMEOUT, "upstream timed out", "upstream-timeout")
    return UpstreamFailure(CloseCode.UPSTREAM_REFUSED, "upstream unreachable", "upstream-unreachable")


async def connect_upstream(session: aiohttp.ClientSession, config: ProxyConfig) -> aiohttp.ClientWebSocketResponse:
    """Open the upstream WebSocket within `config.upstream_timeout`, or raise `UpstreamFailure`.

    The timeout covers everything (DNS, TCP, TLS, the HTTP upgrade), so a relay that accepts the
    connection but never answers cannot hold the browser beyond it.
    """
    try:
        async with asyncio.timeout(config.upstream_timeout):
            return await session.ws_connect(
                config.upstream_url,
                headers=upstream_headers(config),
                compress=0,  # No permessage-deflate: the payloads are small and latency matters.
                heartbeat=HEARTBEAT_SECONDS,
                autoclose=True,
                autoping=True,
            )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise failure_for(exc) from exc
