"""Keeps tokens out of aiohttp's own log lines.

aiohttp logs a malformed request at ERROR with a traceback whose message quotes the offending
line, e.g. a `Sec-WebSocket-Protocol` header with the user's token or a request line with
`?token=`. `RedactTokens` turns such a record into one INFO line naming only the kind of error,
and replaces anything shaped like a JWT in any other aiohttp record (message and traceback).
"""

from __future__ import annotations

import logging
import re
from typing import Final

from aiohttp.http_exceptions import HttpProcessingError

AIOHTTP_LOGGERS: Final = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket")

# Three base64url segments, the first a JSON header (`{"` encodes to `eyJ`), or a `token.` item.
_TOKEN: Final = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?|token\.[^\s,'\"]+")
REDACTED: Final = "<redacted>"


def redact(text: str) -> str:
    """`text` with every token-shaped part replaced."""
    return _TOKEN.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """A filter for aiohttp's loggers: parser errors become one INFO line, tokens are cut out."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite `record` in place; never drops it."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # A client's bad request is the client's problem, not the proxy's: no traceback.
            what = redact(record.getMessage())
            record.msg = "%s: malformed HTTP request (%s, HTTP %d)"
            record.args = (what, type(exc).__name__, exc.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
            return True
        message = record.getMessage()
        if _TOKEN.search(message):
            record.msg = redact(message)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install(loggers: tuple[str, ...] = AIOHTTP_LOGGERS) -> RedactTokens:
    """Add one `RedactTokens` to each of aiohttp's loggers; returns it for `uninstall`."""
    redaction = RedactTokens()
    for name in loggers:
        logging.getLogger(name).addFilter(redaction)
    return redaction


def uninstall(redaction: RedactTokens, loggers: tuple[str, ...] = AIOHTTP_LOGGERS) -> None:
    """Remove what `install` added."""
    for name in loggers:
        logging.getLogger(name).removeFilter(redaction)
