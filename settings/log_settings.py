"""The log settings every piece declares: `LOG_LEVEL`, `LOG_FORMAT` and (where wanted) `LOG_LEVELS`."""

from __future__ import annotations

from dataclasses import dataclass

from observability.logs import FORMATS, LEVELS
from settings import parsers
from settings.declaration import Setting
from settings.loader import Loaded

level = parsers.choice(*LEVELS, upper=True)


def logger_levels(value: str) -> tuple[tuple[str, str], ...]:
    """`name=LEVEL` items, comma-separated (e.g. `stream_app.input_receiver=DEBUG,aioice=WARNING`)."""
    levels: dict[str, str] = {}
    for item in parsers.text_list(value):
        name, sep, wanted = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{item!r} is not logger=LEVEL (e.g. stream_app.input_receiver=DEBUG)")
        try:
            levels[name.strip()] = level(wanted)
        except ValueError as exc:
            raise ValueError(f"{name.strip()}: {exc}") from None
    return tuple(levels.items())


@dataclass(frozen=True)
class LogConfig:
    """How a piece logs: the root level, text or JSON lines, and levels of single loggers."""

    level: str = "INFO"
    format: str = "text"
    logger_levels: tuple[tuple[str, str], ...] = ()
    """(logger name, level) pairs, applied after `level`."""


_FIELDS = {"log_level": "level", "log_format": "format", "logger_levels": "logger_levels"}


def log_settings(
    prefix: str = "", *, per_logger: bool = False, level_default: str | None = None
) -> tuple[Setting, ...]:
    """`log_level` (its variable under `prefix`), `log_format` (`LOG_FORMAT` in every piece, so one
    variable switches a whole stack to JSON) and, with `per_logger`, `logger_levels`."""
    defaults = LogConfig()
    declared = [
        Setting(
            "log_level",
            f"{prefix}LOG_LEVEL",
            level,
            f"log level: {', '.join(LEVELS)}",
            default=level_default or defaults.level,
        ),
        Setting(
            "log_format",
            "LOG_FORMAT",
            parsers.choice(*FORMATS),
            "log lines as text (for a person) or json (one object a line, for a log collector; docs/observability.md)",
            default=defaults.format,
        ),
    ]
    if per_logger:
        declared.append(
            Setting(
                "logger_levels",
                f"{prefix}LOG_LEVELS",
                logger_levels,
                f"levels of single loggers (and their children) apart from {prefix}LOG_LEVEL, "
                "name=LEVEL comma-separated",
                default=defaults.logger_levels,
                flag="--log-levels",
                metavar=f"{prefix}LOG_LEVELS",
            )
        )
    return tuple(declared)


def log_config(loaded: Loaded) -> LogConfig:
    """The `LogConfig` of a group's loaded values (fields it does not declare keep their defaults)."""
    return LogConfig(**{attribute: loaded[f] for f, attribute in _FIELDS.items() if f in loaded.values})


LOG_LEVEL, LOG_FORMAT, LOG_LEVELS = log_settings(per_logger=True)
"""The shared declarations under their plain names (`LOG_LEVEL`, `LOG_FORMAT`, `LOG_LEVELS`)."""
