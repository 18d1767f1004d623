"""Logs for every piece of the kit: structured lines (text or JSON), per-session context, no secrets.

A leaf package: it imports nothing from the pieces, which all import it (docs/observability.md).
"""

from observability.context import LogContext, current_context, log_context, set_log_context
from observability.logs import (
    FORMATS,
    LEVELS,
    configure_logging,
)
from observability.redaction import REDACTED, RedactSecrets, redact

__all__ = [
    "FORMATS",
    "LEVELS",
    "REDACTED",
    "LogContext",
    "RedactSecrets",
    "configure_logging",
    "current_context",
    "log_context",
    "redact",
    "set_log_context",
]
