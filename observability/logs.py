"""One log set-up for every piece: `configure_logging(piece, level, fmt)`.

Each line names the piece, the logger, and the session, function and instance it is about
(`observability.context`) where known. `fmt="json"` writes one JSON object per line for a log
collector; `fmt="text"` writes the same fields for a person. Every line goes through
`RedactSecrets` first, so no format can leak a token or a key.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final, TextIO

from observability.context import FIELDS, current_context
from observability.redaction import RedactSecrets

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
"""The levels a piece may log at (its log-level setting offers these)."""
FORMATS: Final = ("text", "json")
"""What `configure_logging` can write (the LOG_FORMAT setting offers these)."""

# Everything a LogRecord carries of its own; any other attribute came in through `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


class _Tag(logging.Filter):
    """Stamps each record with the context of the code that logged it (before any other thread formats it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().fields().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _RECORD_ATTRIBUTES and name not in FIELDS and not name.startswith("_")
    }


def _timestamp(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, piece, message, the context ids, extras, exception."""

    def __init__(self, piece: str, redaction: RedactSecrets) -> None:
        super().__init__()
        self.piece = piece
        self.redaction = redaction

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "piece": self.piece,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = str(value)
        for name, value in _extras(record).items():
            if name not in line:
                line[name] = (
                    value
                    if isinstance(value, int | float | bool) or value is None
                    else self.redaction.redact(str(value))
                )
        if record.exc_info or record.exc_text:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL piece logger: message [session_id=... function_id=... key=value]` for a person."""

    def __init__(self, piece: str, redaction: RedactSecrets) -> None:
        super().__init__("%(asctime)s %(levelname)s " + piece + " %(name)s: %(message)s")
        self.redaction = redaction

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = {name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None}
        tags.update(_extras(record))
        if not tags:
            return text
        suffix = " ".join(f"{name}={self.redaction.redact(str(value))}" for name, value in tags.items())
        first, newline, rest = text.partition("\n")  # the tags stay on the message's line, above a traceback
        return f"{first} [{suffix}]{newline}{rest}"


def _level(text: str) -> str:
    """A level the settings already checked; another is a programming error."""
    level = text.strip().upper()
    if level not in LEVELS:
        raise ValueError(f"log level {text!r} is not one of {', '.join(LEVELS)}")
    return level


class _KitHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs; recognised (and replaced) when called again."""


def configure_logging(
    piece: str,
    level: str = "INFO",
    fmt: str = "text",
    logger_levels: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Send every logger's lines, tagged with `piece` and the context, redacted, to `stream` (stderr).

    `level` is the root level, `logger_levels` sets single loggers (and their children) apart,
    `fmt` is "text" or "json", `secrets` are values this piece holds that must never be written.
    Calling it again replaces the handler it installed before.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    redaction = RedactSecrets(secrets)
    handler = _KitHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(_Tag())
    handler.addFilter(redaction)
    formatter = JsonFormatter(piece, redaction) if fmt == "json" else TextFormatter(piece, redaction)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _KitHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name, chosen in (logger_levels or {}).items():
        logging.getLogger(name).setLevel(_level(chosen))
