"""The stream app's log settings as its config reads them (the process-level behaviour is in
test_stream_app_process.py)."""

from __future__ import annotations

import pytest

from stream_app.config import ConfigError, load_config


def test_logger_levels_parse_names_and_levels_in_any_case() -> None:
    assert load_config([], {}).log.logger_levels == ()
    config = load_config([], {"LOG_LEVELS": " stream_app.input_receiver=debug , aioice=WARNING,"})
    assert config.log.logger_levels == (("stream_app.input_receiver", "DEBUG"), ("aioice", "WARNING"))


@pytest.mark.parametrize("text", ["aioice", "=DEBUG", "aioice=", "aioice=TRACE"])
def test_malformed_logger_levels_are_refused_with_the_item(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^LOG_LEVELS: "):
        load_config([], {"LOG_LEVELS": text})


def test_a_level_is_one_of_four() -> None:
    assert load_config([], {"LOG_LEVEL": "warning"}).log.level == "WARNING"
    with pytest.raises(ConfigError, match=r"^LOG_LEVEL: 'NOTSET' is not one of DEBUG, INFO, WARNING, ERROR$"):
        load_config([], {"LOG_LEVEL": "NOTSET"})


def test_the_log_format_is_text_or_json_and_a_flag_wins() -> None:
    assert load_config([], {}).log.format == "text"
    assert load_config(["--log-format", "json"], {"LOG_FORMAT": "text"}).log.format == "json"
    with pytest.raises(ConfigError, match=r"^--log-format: 'xml' is not one of text, json$"):
        load_config(["--log-format", "xml"], {})
