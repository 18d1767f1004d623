"""Keeps tokens out of aiohttp's own log lines while the proxy app runs, whoever set up logging.

`observability.configure_logging` redacts every line its handler writes; the proxy app also puts
the same filter (`observability.RedactSecrets`) on aiohttp's loggers for as long as it runs, so an
app embedded elsewhere (tests, another process's logging) never writes a token aiohttp quoted
from a malformed request line or a `Sec-WebSocket-Protocol` header.
"""

from __future__ import annotations

import logging
from typing import Final

from observability import REDACTED, RedactSecrets, redact

__all__ = ["AIOHTTP_LOGGERS", "REDACTED", "install", "redact", "uninstall"]

AIOHTTP_LOGGERS: Final = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket")


def install(loggers: tuple[str, ...] = AIOHTTP_LOGGERS) -> RedactSecrets:
    """Add one `RedactSecrets` to each of aiohttp's loggers; returns it for `uninstall`."""
    redaction = RedactSecrets()
    for name in loggers:
        logging.getLogger(name).addFilter(redaction)
    return redaction


def uninstall(redaction: RedactSecrets, loggers: tuple[str, ...] = AIOHTTP_LOGGERS) -> None:
    """Remove what `install` added."""
    for name in loggers:
        logging.getLogger(name).removeFilter(redaction)
