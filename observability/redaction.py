"""Keeps secrets out of log lines: tokens, API keys, Authorization headers, passwords.

Secrets reach a log line in ways nobody wrote on purpose: aiohttp quotes a malformed request line
(`?token=...`) or a `Sec-WebSocket-Protocol` header (`authorization.<key>`), an exception's text
carries a request's headers, a JSON body echoed in an error holds a TURN `password`. `redact()`
cuts out everything shaped like a secret, and every value the piece knows to be one (its API key,
its signing secret); `RedactSecrets` applies it to every record a handler writes, traceback included.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

from aiohttp.http_exceptions import HttpProcessingError

REDACTED: Final = "<redacted>"

# Known secrets shorter than this are not cut out of lines: they would match ordinary words.
MIN_KNOWN_SECRET = 6

# Keys whose value is a secret, in `key=value`, `key: value`, `"key": "value"` and `'key': 'value'`.
_SECRET_KEY: Final = (
    r"(?:password|passwd|credential|secret|[a-z_-]*_secret|[a-z_-]*token|api[_-]?key|[a-z_]*_api_key"
    r"|authorization|proxy-authorization|cookie|set-cookie)"
)
_KEY_VALUE: Final = re.compile(
    rf"(?i)(?P<key>[\"']?\b{_SECRET_KEY}[\"']?\s*[:=]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|(?:(?:bearer|basic)\s+)?[^\s,;&}\]'\"]+)"
)
_PATTERNS: Final = (
    # A JWT: three base64url segments, the first a JSON header (`{"` encodes to `eyJ`).
    re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?"),
    # Sign-in subprotocol items that carry a secret: `token.<jwt>`, `authorization.<key>`.
    re.compile(r"(?i)(?<![A-Za-z0-9_])(?:token|authorization)\.[^\s,;'\"]+"),
    # NGC / NVCF API keys.
    re.compile(r"nvapi-[A-Za-z0-9_-]{8,}"),
    # A bearer or basic credential anywhere.
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    # Query parameters that carry credentials under names the key rule above does not cover.
    re.compile(r"(?i)(?<=[?&])(?:key|jwt|auth|sig|signature)=[^&\s'\"#]+"),
)


def _quote_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match['key']}{quote}{REDACTED}{quote}"


def redact(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every secret-shaped part and every `known` secret replaced by `<redacted>`."""
    for secret in known:
        if len(secret) >= MIN_KNOWN_SECRET:
            text = text.replace(secret, REDACTED)
    text = _KEY_VALUE.sub(_quote_value, text)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """A handler filter: rewrites each record's message, traceback and stack without secrets.

    A malformed HTTP request that aiohttp logs at ERROR with a traceback becomes one INFO line
    naming only the kind of error: a client's bad request is the client's problem, not ours.
    Never drops a record.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self.known: tuple[str, ...] = tuple(secret for secret in known if secret)

    def redact(self, text: str) -> str:
        """`text` without secrets (shapes and this filter's known values)."""
        return redact(text, self.known)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite `record` in place; always True."""
        exc = record.exc_info[1] if record.exc_info else None
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        if isinstance(exc, HttpProcessingError):
            record.msg = "%s: malformed HTTP request (%s, HTTP %d)"
            record.args = (self.redact(message), type(exc).__name__, exc.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
            return True
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True
