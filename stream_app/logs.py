"""The stream app's logging: `LOG_LEVEL` for every logger, `LOG_LEVELS` for chosen ones, `LOG_FORMAT`.

`LOG_LEVELS=stream_app.input_receiver=DEBUG,aioice=WARNING` sets single loggers (and their
children) apart from the rest. The benchmarks use it to get the per-message input log line without
`LOG_LEVEL=DEBUG`, which would also make aiortc log every RTP packet and so slow the very event
loop being measured. `LOG_FORMAT=json` writes one JSON object per line (docs/observability.md).
All three are settings (`stream_app.config.SETTINGS`), so `--help` lists them.

Every line carries the function id NVCF gives the container (`NVCF_FUNCTION_ID`) and the
instance's id (`STREAM_APP_INSTANCE_ID`, else the host name: on NVCF, the pod's).
"""

from __future__ import annotations

from observability import configure_logging as configure_kit_logging
from observability import set_log_context
from stream_app.config import StreamAppConfig

PIECE = "stream-app"


def configure_logging(config: StreamAppConfig) -> None:
    """The kit's log lines at the configured levels and format, tagged with the function and instance ids."""
    configure_kit_logging(PIECE, config.log.level, config.log.format, dict(config.log.logger_levels))
    set_log_context(function_id=config.function_id or None, instance_id=config.instance_id)
