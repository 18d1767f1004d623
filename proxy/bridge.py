"""Moves WebSocket messages between two already-open connections until one side closes.

Used by the proxy (browser <-> NVCF) and by the local NVCF relay (proxy <-> stream app). It reads
nothing of what it moves: text stays text, binary stays binary, and the close code and reason of
the side that closed first are passed to the other side.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import WSMsgType

logger = logging.getLogger(__name__)

# Close codes that may not be sent on the wire (RFC 6455 7.4.1); replaced by 1011 / 1000.
_RESERVED_CLOSE_CODES = frozenset({1005, 1006, 1015})


class WebSocketEnd(Protocol):
    """The part of aiohttp's server and client WebSocket objects the bridge uses."""

    @property
    def closed(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...


@dataclass(frozen=True)
class BridgeResult:
    """How a bridged session ended: who closed first, with which code and reason."""

    closed_by: str
    code: int
    reason: str


async def _pump(source: WebSocketEnd, sink: WebSocketEnd) -> tuple[int, str]:
    """Forward messages from source to sink; return the close code and reason of source."""
    while True:
        msg = await source.receive()
        if msg.type is WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            code = source.close_code if source.close_code is not None else 1000
            reason = msg.extra if isinstance(msg.extra, str) else ""
            return code, reason
        elif msg.type is WSMsgType.ERROR:
            return 1011, f"connection error: {msg.data}"


def _sendable(code: int) -> int:
    if code in _RESERVED_CLOSE_CODES:
        return 1011 if code == 1006 else 1000
    return code


async def bridge(
    left: WebSocketEnd, right: WebSocketEnd, *, left_name: str = "client", right_name: str = "upstream"
) -> BridgeResult:
    """Pump both directions until one side closes, then close the other with the same code.

    Returns which side closed first and how. Cancelling the bridge closes both sides with 1001.
    """
    to_right = asyncio.create_task(_pump(left, right), name=f"{left_name}->{right_name}")
    to_left = asyncio.create_task(_pump(right, left), name=f"{right_name}->{left_name}")
    try:
        done, _ = await asyncio.wait({to_right, to_left}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        to_right.cancel()
        to_left.cancel()
        await asyncio.gather(to_right, to_left, return_exceptions=True)
        await left.close(code=1001, message=b"going away")
        await right.close(code=1001, message=b"going away")
        raise
    first = to_right if to_right in done else to_left
    closed_by, other = (left_name, right) if first is to_right else (right_name, left)
    try:
        code, reason = first.result()
    except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
        # Sending to the other side failed: that side is gone.
        code, reason = 1011, f"forwarding failed: {exc}"
    for task in (to_right, to_left):
        task.cancel()
    await asyncio.gather(to_right, to_left, return_exceptions=True)
    await other.close(code=_sendable(code), message=reason.encode()[:123])
    # The side that closed first may still be half-open (e.g. it sent an error frame).
    await (left if other is right else right).close(code=_sendable(code))
    logger.debug("bridge ended: %s closed with %s %r", closed_by, code, reason)
    return BridgeResult(closed_by=closed_by, code=code, reason=reason)
