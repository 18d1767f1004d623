"""Resume cookies: an upstream session id, signed for the user and function it was issued to.

The relay answers each accepted handshake with `nvcf-reqid`; a page that lost its connection may
resume that session (docs/protocol.md section 1, "Resume (proxy side)"). The proxy forwards an id
only to the user and function it was issued to, and only until it expires, so a stolen or guessed
cookie is worth nothing to anyone else.

The cookie carries everything needed to check it: `<session id>.<expiry>.<mac>`, the expiry in
unix seconds and the mac an HMAC-SHA256 (base64url, unpadded) over the session id, the user, the
function and the expiry, keyed with the proxy's session secret. Nothing is remembered, so any proxy
process holding the same secret accepts it: after a restart, and across replicas. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Final

SESSION_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
"""What a session id may look like: cookie- and header-safe characters only."""

MIN_SESSION_SECRET_BYTES: Final = 32
"""HMAC-SHA256 keys shorter than its output weaken it; the same floor as HS256 token secrets."""

_EXPIRY: Final = re.compile(r"[1-9][0-9]{0,11}")  # Canonical: one spelling per expiry.
_MAC: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding.
_DOMAIN: Final = b"nvcf-stream-kit resume cookie v1"
"""Bound into every mac, so a mac made with the same secret for any other purpose never passes."""


class ResumeSigner:
    """Issues and checks resume cookies with one secret; `clock` gives unix seconds."""

    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SESSION_SECRET_BYTES:
            raise ValueError(f"the session secret must be at least {MIN_SESSION_SECRET_BYTES} bytes")
        self._secret = secret
        self._clock = clock

    def issue(self, session_id: str, subject: str, function: str, valid_for: float) -> str | None:
        """The cookie value resuming `session_id` for this user and function for `valid_for` seconds.

        None when the upstream's id is not one a cookie may carry (the session then just cannot
        be resumed).
        """
        if not SESSION_ID.fullmatch(session_id):
            return None
        expiry = int(self._clock() + valid_for)
        return f"{session_id}.{expiry}.{self._mac(session_id, subject, function, expiry)}"

    def session_id(self, cookie: str, subject: str, function: str) -> str | None:
        """The session id in `cookie` when it was issued to this user for this function and is valid.

        None for anything else: malformed, tampered with, signed with another secret, issued to
        another user or function, or expired.
        """
        # From the right: the id may itself contain dots.
        head, _, mac = cookie.rpartition(".")
        session_id, _, expiry_text = head.rpartition(".")
        if not (SESSION_ID.fullmatch(session_id) and _EXPIRY.fullmatch(expiry_text) and _MAC.fullmatch(mac)):
            return None
        expiry = int(expiry_text)
        if not hmac.compare_digest(mac, self._mac(session_id, subject, function, expiry)):
            return None
        if expiry <= self._clock():
            return None
        return session_id

    def _mac(self, session_id: str, subject: str, function: str, expiry: int) -> str:
        # Each field is length-prefixed, so no choice of user name or id can shift the boundaries
        # between them and make one binding's mac valid for another.
        # surrogatepass: a token's `sub` is JSON text and may hold a lone surrogate.
        fields = (_DOMAIN, *(t.encode("utf-8", "surrogatepass") for t in (session_id, subject, function, str(expiry))))
        framed = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
        digest = hmac.new(self._secret, framed, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
