"""Parsing of the stream app's log settings (the process-level behaviour is in
test_lifecycle_process.py)."""

from __future__ import annotations

import pytest

from stream_app.logs import LogConfigError, parse_level, parse_logger_levels


def test_logger_levels_parse_names_and_levels_in_any_case() -> None:
    assert parse_logger_levels("") == {}
    assert parse_logger_levels(" stream_app.input_receiver=debug , aioice=WARNING,") == {
        "stream_app.input_receiver": "DEBUG",
        "aioice": "WARNING",
    }


@pytest.mark.parametrize("text", ["aioice", "=DEBUG", "aioice=", "aioice=TRACE"])
def test_malformed_logger_levels_are_refused_with_the_item(text: str) -> None:
    with pytest.raises(LogConfigError, match="LOG_LEVELS"):
        parse_logger_levels(text)


def test_a_level_is_one_of_four() -> None:
    assert parse_level("warning", "LOG_LEVEL") == "WARNING"
    with pytest.raises(LogConfigError, match="LOG_LEVEL: 'NOTSET' is not one of DEBUG, INFO, WARNING, ERROR"):
        parse_level("NOTSET", "LOG_LEVEL")
