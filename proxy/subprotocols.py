"""Reads the browser's `Sec-WebSocket-Protocol` offer: the application protocol and the token.

A browser cannot set headers on a WebSocket, so the token travels as one item of the subprotocol
list (`token.<JWT>`) next to the application protocol (`nvcf-stream-v1`). Only the application
protocol is ever echoed back. Pure: no I/O, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

APP_PROTOCOL = "nvcf-stream-v1"
"""The only subprotocol the proxy agrees to, and the only item it echoes back."""

TOKEN_PREFIX = "token."
"""Items starting with this carry the user's token."""

RESUME_ITEM = "resume"
"""Offered by a page that reconnects and wants its previous session back."""


@dataclass(frozen=True)
class SubprotocolOffer:
    """What the browser offered in `Sec-WebSocket-Protocol`.

    `token` is None when no token item was offered; `token_error` is set when the offer holds an
    unusable token item (e.g. two of them), and is then a reason safe to send back and log.
    """

    app_protocol_offered: bool
    token: str | None = field(default=None, repr=False)
    token_error: str | None = None
    resume: bool = False


def parse_offer(header: str | None) -> SubprotocolOffer:
    """Split one `Sec-WebSocket-Protocol` header value into the app protocol and the token.

    Items are comma-separated with optional whitespace (RFC 6455 4.1); empty items are ignored,
    as are protocols we do not know (a later client may offer newer versions first).
    """
    if header is None:
        return SubprotocolOffer(app_protocol_offered=False)
    items = [item.strip() for item in header.split(",")]
    tokens = [item[len(TOKEN_PREFIX) :] for item in items if item.startswith(TOKEN_PREFIX)]
    offered = APP_PROTOCOL in items
    resume = RESUME_ITEM in items
    if len(tokens) > 1:
        # Choosing one would be a guess; a well-behaved client never sends two.
        return SubprotocolOffer(offered, token_error="token invalid: more than one token offered", resume=resume)
    if tokens and not tokens[0]:
        return SubprotocolOffer(offered, token_error="token invalid: empty", resume=resume)
    return SubprotocolOffer(offered, token=tokens[0] if tokens else None, resume=resume)
