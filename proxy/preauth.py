"""Bounds on WebSockets that have not shown a token yet (first-message sign-in).

Such a socket costs the proxy memory and a file descriptor before anyone is known, so three
bounds hold until the token arrives: how many may wait at once (`PreAuthGate`), one absolute
deadline for the token (pings and pongs do not extend it: `asyncio.timeout` around the read,
not aiohttp's per-receive timeout, which restarts on every control frame), and a small size
limit on the first message (a 1 MiB half-sent frame parked by each of a few hundred sockets
is what an attacker would otherwise hold). After admission the session's own limit applies.
"""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web
from aiohttp._websocket.reader import WebSocketReader

PREAUTH_OVERHEAD_BYTES: Final = 1024
"""Room around the token in `{"token": "<JWT>"}` (the key, quotes, whitespace)."""


def preauth_message_limit(max_token_bytes: int) -> int:
    """The largest first message a socket may send before it is authenticated."""
    return max_token_bytes + PREAUTH_OVERHEAD_BYTES


def first_message_token(text: str) -> str | None:
    """The token of a first message `{"token": "<JWT>"}`; None when it is anything else.

    Deep nesting raises RecursionError in `json.loads`; it is a malformed message like any other.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("token"), str):
        return str(data["token"])
    return None


class PreAuthGate:
    """Counts sockets waiting for their first-message token; refuses more than `limit`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Sockets between upgrade and token now."""
        return self._waiting

    def try_enter(self) -> bool:
        """Take a place, unless `limit` sockets already wait."""
        if self._waiting >= self._limit:
            return False
        self._waiting += 1
        return True

    def leave(self) -> None:
        """A waiting socket showed its token, was refused or went away."""
        self._waiting -= 1


def raise_message_limit(request: web.Request, ws: web.WebSocketResponse, max_msg_size: int) -> None:
    """Give an open WebSocket a new (larger) message size limit, from the next frame on.

    aiohttp fixes the limit when the WebSocket is prepared and offers no way to change it, so the
    frame parser is replaced with one of the new limit (aiohttp 3.14: `ws._parser` is what the
    protocol feeds). Only called right after the first message was read, when the client (which
    waits for the app's `hello` after its token) has nothing else in flight; a client that sent
    more meanwhile breaks only its own framing and is closed with 1002.
    """
    protocol = request.protocol
    old = getattr(ws, "_parser", None)
    queue = ws._reader
    if old is None or queue is None or getattr(protocol, "_payload_parser", None) is not old:
        raise RuntimeError("this aiohttp release does not keep its WebSocket parser where proxy.preauth expects it")
    parser = WebSocketReader(queue, max_msg_size, compress=False, decode_text=True)
    protocol._payload_parser = parser
    ws._parser = parser
