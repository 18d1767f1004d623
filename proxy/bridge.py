"""Moves WebSocket messages between two already-open connections until one side closes.

Used by the proxy (browser <-> NVCF) and by the local NVCF relay (proxy <-> stream app). It reads
nothing of what it moves: text stays text, binary stays binary, and the close code and reason of
the side that closed first are passed to the other side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import aiohttp
from aiohttp import WSMsgType

from proxy.closecodes import CloseCode, reason_bytes

logger = logging.getLogger(__name__)

# Codes a peer may put in a close frame (RFC 6455 7.4.1, 7.4.2); 1004-1006 and 1015 are reserved
# for local use and must never be sent.
_SENDABLE_RFC_CODES: Final = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_NO_STATUS: Final = CloseCode.NO_STATUS  # The peer's close frame had no code (aiohttp reports it as 0).
_ABNORMAL: Final = CloseCode.ABNORMAL  # The connection ended without a close frame, or failed.
# How long to wait, after forwarding to one side failed, for that side's own close code.
_SINK_GRACE_SECONDS: Final = 1.0


class WebSocketEnd(Protocol):
    """The part of aiohttp's server and client WebSocket objects the bridge uses."""

    @property
    def closed(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = CloseCode.NORMAL, message: bytes = b"") -> bool: ...


@dataclass(frozen=True)
class BridgeResult:
    """How a bridged session ended: who closed first, with which code and reason.

    `code` is what that side did: 1005 when its close frame had no code, 1006 when its connection
    was lost or failed. The code sent to the other side is always one that may be sent on the wire.
    """

    closed_by: str
    code: int
    reason: str
    right_kept_open: bool = False
    """The left side closed with one of `keep_right_open_on`: the right side is still open."""


class _SinkFailed(Exception):
    """Forwarding failed because the receiving side is gone (not the side we read from)."""


MessageCounter = Callable[[str, int], None]
"""Called with (direction, payload bytes) for each message moved; direction is `a->b`."""


async def _pump(
    source: WebSocketEnd, sink: WebSocketEnd, direction: str = "", on_message: MessageCounter | None = None
) -> tuple[int, str]:
    """Forward messages from source to sink; return the close code and reason of source.

    Each message is sent (and the sink's buffer drained) before the next one is read, so a slow
    sink slows its source down instead of making the proxy buffer without bound.
    """
    while True:
        msg = await source.receive()
        if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
            if on_message is not None:
                size = len(msg.data.encode()) if msg.type is WSMsgType.TEXT else len(msg.data)
                on_message(direction, size)
            try:
                if msg.type is WSMsgType.TEXT:
                    await sink.send_str(msg.data)
                else:
                    await sink.send_bytes(msg.data)
            except Exception as exc:
                raise _SinkFailed(str(exc) or type(exc).__name__) from exc
        elif msg.type is WSMsgType.CLOSE:
            reason = msg.extra if isinstance(msg.extra, str) else ""
            return (msg.data or _NO_STATUS), reason
        elif msg.type is WSMsgType.CLOSING:
            # Someone else started closing source; aiohttp has recorded the code it used.
            return (source.close_code or _NO_STATUS), ""
        elif msg.type is WSMsgType.CLOSED:
            # Closed without a close frame from the peer: the TCP connection simply ended.
            return _ABNORMAL, "connection lost"
        elif msg.type is WSMsgType.ERROR:
            # A protocol violation by source carries its own code (1002, 1007, 1009), which aiohttp
            # also sent to source; pass that on rather than a generic error.
            if isinstance(msg.data, aiohttp.WebSocketError):
                return msg.data.code, f"connection error: {msg.data}"
            return (source.close_code or _ABNORMAL), f"connection error: {msg.data}"


def _sendable(code: int) -> int:
    """A code that may go on the wire in place of `code` (1006 becomes 1011, others 1000)."""
    if code in _SENDABLE_RFC_CODES or 3000 <= code <= 4999:
        return code
    return CloseCode.INTERNAL_ERROR if code == _ABNORMAL else CloseCode.NORMAL


async def _close_quietly(end: WebSocketEnd, code: int, reason: str = "") -> None:
    try:
        await end.close(code=code, message=reason_bytes(reason))
    except Exception:  # The side is already broken; nothing more can be done for it.
        logger.debug("closing a bridged side failed", exc_info=True)


async def _abort(left: WebSocketEnd, right: WebSocketEnd, *pumps: asyncio.Task[tuple[int, str]]) -> None:
    """Stop both pumps and close both sides with 1001 (the bridge was cancelled)."""
    for task in pumps:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    await _close_quietly(left, CloseCode.GOING_AWAY, "going away")
    await _close_quietly(right, CloseCode.GOING_AWAY, "going away")


async def bridge(
    left: WebSocketEnd,
    right: WebSocketEnd,
    *,
    left_name: str = "client",
    right_name: str = "upstream",
    on_message: MessageCounter | None = None,
    stop: asyncio.Future[tuple[int, str]] | None = None,
    keep_right_open_on: frozenset[int] = frozenset(),
) -> BridgeResult:
    """Pump both directions until one side closes, then close the other with the same code.

    Returns which side closed first and how. Cancelling the bridge closes both sides with 1001.
    `on_message`, when given, is told the direction and size of every message moved. When `stop`
    gets a result (code, reason) first, both sides are closed with it (`closed_by` is "bridge").
    When the left side closes with a code in `keep_right_open_on`, the right side is left open for
    the caller (`right_kept_open`).
    """
    rightward, leftward = f"{left_name}->{right_name}", f"{right_name}->{left_name}"
    to_right = asyncio.create_task(_pump(left, right, rightward, on_message), name=rightward)
    to_left = asyncio.create_task(_pump(right, left, leftward, on_message), name=leftward)
    # For each pump: the side it reads from and the side it writes to.
    ends = {
        to_right: (left, left_name, right, right_name),
        to_left: (right, right_name, left, left_name),
    }
    try:
        waiting: set[asyncio.Future[tuple[int, str]]] = {to_right, to_left}
        if stop is not None:
            waiting.add(stop)
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _abort(left, right, to_right, to_left)
        raise
    if stop is not None and stop in done and not (to_right in done or to_left in done):
        code, reason = stop.result()
        for task in (to_right, to_left):
            task.cancel()
        await asyncio.gather(to_right, to_left, return_exceptions=True)
        await asyncio.gather(_close_quietly(left, code, reason), _close_quietly(right, code, reason))
        return BridgeResult(closed_by="bridge", code=code, reason=reason)
    first = to_right if to_right in done else to_left
    second = to_left if first is to_right else to_right
    source, source_name, sink, sink_name = ends[first]
    closer, closed_by, other = source, source_name, sink
    try:
        code, reason = first.result()
    except _SinkFailed as exc:
        # The sink went away while we were writing to it; its own pump usually reports how it
        # closed a moment later, and that code is the one to pass on.
        closer, closed_by, other = sink, sink_name, source
        code, reason = _ABNORMAL, f"forwarding failed: {exc}"
        try:
            finished, _ = await asyncio.wait({second}, timeout=_SINK_GRACE_SECONDS)
        except asyncio.CancelledError:
            await _abort(left, right, to_right, to_left)
            raise
        if second in finished and not second.cancelled() and second.exception() is None:
            code, reason = second.result()
    except Exception as exc:
        logger.warning("bridge %s->%s failed", source_name, sink_name, exc_info=True)
        code, reason = _ABNORMAL, f"bridge error: {type(exc).__name__}"
    for task in (to_right, to_left):
        task.cancel()
    await asyncio.gather(to_right, to_left, return_exceptions=True)
    if closer is left and code in keep_right_open_on:
        await _close_quietly(left, _sendable(code))
        logger.debug("bridge ended: %s closed with %s %r; %s kept open", closed_by, code, reason, right_name)
        return BridgeResult(closed_by=closed_by, code=code, reason=reason, right_kept_open=True)
    try:
        await _close_quietly(other, _sendable(code), reason)
    finally:
        # The side that closed first may still be half-open (e.g. it sent an error frame).
        await _close_quietly(closer, _sendable(code))
    logger.debug("bridge ended: %s closed with %s %r", closed_by, code, reason)
    return BridgeResult(closed_by=closed_by, code=code, reason=reason)
