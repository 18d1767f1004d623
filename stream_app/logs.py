"""The stream app's logging: `LOG_LEVEL` for every logger, `LOG_LEVELS` for chosen ones.

`LOG_LEVELS=stream_app.input_receiver=DEBUG,aioice=WARNING` sets single loggers (and their
children) apart from the rest. The benchmarks use it to get the per-message input log line without
`LOG_LEVEL=DEBUG`, which would also make aiortc log every RTP packet and so slow the very event
loop being measured.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class LogConfigError(ValueError):
    """A log setting the app cannot use; the message names it and says why."""


def parse_level(text: str, setting: str) -> str:
    level = text.strip().upper()
    if level not in LEVELS:
        raise LogConfigError(f"{setting}: {text!r} is not one of {', '.join(LEVELS)}")
    return level


def parse_logger_levels(text: str) -> dict[str, str]:
    """`name=LEVEL` items, comma-separated, as a dict; empty text gives an empty dict."""
    levels: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, level = item.partition("=")
        if not sep or not name.strip():
            raise LogConfigError(f"LOG_LEVELS: {item!r} is not logger=LEVEL (e.g. stream_app.input_receiver=DEBUG)")
        levels[name.strip()] = parse_level(level, f"LOG_LEVELS ({name.strip()})")
    return levels


def configure_logging(env: Mapping[str, str]) -> None:
    """Root handler and level from `LOG_LEVEL` (default INFO), then each `LOG_LEVELS` entry."""
    root = parse_level(env.get("LOG_LEVEL") or "INFO", "LOG_LEVEL")
    chosen = parse_logger_levels(env.get("LOG_LEVELS", ""))
    logging.basicConfig(level=root, format=FORMAT)
    for name, level in chosen.items():
        logging.getLogger(name).setLevel(level)
