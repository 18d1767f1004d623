"""The stream app's logging: `LOG_LEVEL` for every logger, `LOG_LEVELS` for chosen ones.

`LOG_LEVELS=stream_app.input_receiver=DEBUG,aioice=WARNING` sets single loggers (and their
children) apart from the rest. The benchmarks use it to get the per-message input log line without
`LOG_LEVEL=DEBUG`, which would also make aiortc log every RTP packet and so slow the very event
loop being measured. Both are settings (`stream_app.config.SETTINGS`), so `--help` lists them.
"""

from __future__ import annotations

import logging

from settings import LogConfig

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure_logging(config: LogConfig) -> None:
    """Root handler and level, then each single logger's level."""
    logging.basicConfig(level=config.level, format=FORMAT)
    for name, level in config.logger_levels:
        logging.getLogger(name).setLevel(level)
