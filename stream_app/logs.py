"""The stream app's logging: `LOG_LEVEL` for every logger, `LOG_LEVELS` for chosen ones, `LOG_FORMAT`.

`LOG_LEVELS=stream_app.input_receiver=DEBUG,aioice=WARNING` sets single loggers (and their
children) apart from the rest. The benchmarks use it to get the per-message input log line without
`LOG_LEVEL=DEBUG`, which would also make aiortc log every RTP packet and so slow the very event
loop being measured. `LOG_FORMAT=json` writes one JSON object per line (docs/observability.md).

Every line carries the function id NVCF gives the container (`NVCF_FUNCTION_ID`) and the
instance's id: `STREAM_APP_INSTANCE_ID` when set (nvcf-local sets it to its own instance id),
else the host name (on NVCF, the pod's).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from observability import LogSettingError, parse_format, parse_level, parse_logger_levels, set_log_context
from observability import configure_logging as configure_kit_logging

LogConfigError = LogSettingError

__all__ = ["LogConfigError", "configure_logging", "parse_level", "parse_logger_levels"]

PIECE = "stream-app"


def configure_logging(env: Mapping[str, str]) -> None:
    """Root handler and level from `LOG_LEVEL` (default INFO), each `LOG_LEVELS` entry, `LOG_FORMAT`
    (text or json, default text); tags every line with the function and instance ids."""
    root = parse_level(env.get("LOG_LEVEL") or "INFO", "LOG_LEVEL")
    chosen = parse_logger_levels(env.get("LOG_LEVELS", ""))
    fmt = parse_format(env.get("LOG_FORMAT") or "text", "LOG_FORMAT")  # observability: LOG_FORMAT
    configure_kit_logging(PIECE, root, fmt, chosen)
    set_log_context(
        function_id=env.get("NVCF_FUNCTION_ID") or None,
        instance_id=env.get("STREAM_APP_INSTANCE_ID") or socket.gethostname(),
    )
