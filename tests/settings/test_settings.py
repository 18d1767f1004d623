"""settings/: one declaration per setting, and everything that follows from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from settings import (
    Loaded,
    Setting,
    SettingsError,
    SettingsGroup,
    build_parser,
    load,
    masked_repr,
    parsers,
    read_config_file,
    resolve,
)
from settings.docs import configured_groups, render

REPO = Path(__file__).resolve().parents[2]
GROUPS = configured_groups(REPO / "pyproject.toml")


def _group(tmp_config: bool = False) -> SettingsGroup:
    return SettingsGroup(
        prog="demo-piece",
        description="a piece for the tests",
        config_file="config_file" if tmp_config else None,
        settings=(
            Setting("config_file", "T_CONFIG_FILE", parsers.path, "settings file", flag="--config"),
            Setting("port", "T_PORT", parsers.port, "port", default=8000),
            Setting("wait", "T_WAIT", parsers.seconds, "seconds to wait", default=1.0),
            Setting("quick", "T_QUICK", parsers.boolean, "be quick", default=False, switch=True),
            Setting("token", "T_TOKEN", parsers.int_range(1, 9), "a secret number", flag=None, secret=True),
        ),
    )


# --- the shared parsers ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["ture", "", "2", "enabled"])
def test_a_yes_no_setting_refuses_anything_but_the_eight_words(text: str) -> None:
    with pytest.raises(ValueError, match="is not one of true/1/yes/on/false/0/no/off"):
        parsers.boolean(text)


@pytest.mark.parametrize(("text", "value"), [("TRUE", True), (" on ", True), ("0", False), ("No", False)])
def test_a_yes_no_setting_takes_any_case(text: str, value: bool) -> None:
    assert parsers.boolean(text) is value


def test_seconds_take_zero_and_positive_seconds_do_not() -> None:
    assert parsers.seconds("0") == 0.0
    with pytest.raises(ValueError, match="> 0"):
        parsers.positive_seconds("0")
    for parse in (parsers.seconds, parsers.positive_seconds):
        for bad in ("-1", "nan", "inf", "soon"):
            with pytest.raises(ValueError):
                parse(bad)


def test_ports_and_ranges() -> None:
    assert parsers.port("443") == 443 and parsers.port_or_any("0") == 0
    for bad in ("0", "65536", "http"):
        with pytest.raises(ValueError):
            parsers.port(bad)
    assert parsers.port_range("49160-49200") == (49160, 49200)
    with pytest.raises(ValueError, match="empty range"):
        parsers.port_range("49200-49160")


def test_lists_of_addresses_and_networks_name_the_bad_item() -> None:
    assert parsers.address_list(" 127.0.0.1, ::1,") == ("127.0.0.1", "::1")
    with pytest.raises(ValueError, match=r"'example\.com' is not an IP address"):
        parsers.address_list("127.0.0.1,example.com")
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        parsers.network_list("10.0.0.0/8,10.0.0.0/33")


def test_a_choice_folds_case_and_lists_the_options() -> None:
    assert parsers.choice("text", "json")("JSON") == "json"
    with pytest.raises(ValueError, match="'xml' is not one of text, json"):
        parsers.choice("text", "json")("xml")


# --- loading -----------------------------------------------------------------------------------


def test_precedence_is_default_file_env_flag(tmp_path: Path) -> None:
    group = _group(tmp_config=True)
    config = tmp_path / "piece.toml"
    config.write_text("T_PORT = 8100\nT_WAIT = 2\n")
    env = {"T_CONFIG_FILE": str(config), "T_WAIT": "3"}
    loaded = load(group, ["--port", "8200"], env)
    assert (loaded["port"], loaded["wait"], loaded["quick"]) == (8200, 3.0, False)
    assert loaded.sources["port"] == "--port" and loaded.sources["wait"] == "T_WAIT"
    assert load(group, [], env)["port"] == 8100
    assert load(group, [], {})["port"] == 8000 and not load(group, [], {}).given("port")


def test_an_empty_variable_counts_as_unset() -> None:
    assert load(_group(), [], {"T_PORT": "", "T_WAIT": " "})["port"] == 8000


def test_a_switch_is_a_flag_pair_and_a_word_in_the_environment() -> None:
    assert load(_group(), ["--quick"], {})["quick"] is True
    assert load(_group(), ["--no-quick"], {"T_QUICK": "yes"})["quick"] is False
    assert load(_group(), [], {"T_QUICK": "on"})["quick"] is True


def test_a_refusal_is_one_line_naming_the_variable_or_flag() -> None:
    with pytest.raises(SettingsError, match=r"^T_PORT: 70000 is not a port \(1-65535\)$"):
        load(_group(), [], {"T_PORT": "70000"})
    with pytest.raises(SettingsError, match=r"^--port: 'http' is not a whole number$"):
        load(_group(), ["--port", "http"], {})
    with pytest.raises(SettingsError, match=r"^T_QUICK: 'ture' is not one of"):
        load(_group(), [], {"T_QUICK": "ture"})


def test_a_secret_has_no_flag_and_its_text_never_appears() -> None:
    with pytest.raises(ValueError, match="has no flag"):
        Setting("key", "T_KEY", parsers.text, "a key", secret=True)
    with pytest.raises(SettingsError) as caught:
        load(_group(), [], {"T_TOKEN": "12345"})
    assert str(caught.value).startswith("T_TOKEN: ") and "12345" not in str(caught.value)


def test_the_config_file_refuses_secrets_unknown_keys_and_itself(tmp_path: Path) -> None:
    group = _group(tmp_config=True)
    path = tmp_path / "piece.toml"
    for text, message in [
        ('T_TOKEN = "7"\n', "put T_TOKEN in a file and set T_TOKEN_FILE instead"),
        ("T_NOPE = 1\n", "unknown setting 'T_NOPE'"),
        ('T_CONFIG_FILE = "x"\n', "unknown setting 'T_CONFIG_FILE'"),
        ("T_PORT = [1, 2]\n", "T_PORT must be text, a number, true/false or a list of text"),
        ("T_PORT = \n", "not valid TOML"),
    ]:
        path.write_text(text)
        with pytest.raises(SettingsError, match=f"^T_CONFIG_FILE: .*{re.escape(message)}"):
            read_config_file(group, path)
    path.write_text('T_PORT = "x"\n')
    with pytest.raises(SettingsError, match=f"^T_PORT in {re.escape(str(path))}: 'x' is not a whole number$"):
        load(group, ["--config", str(path)], {})


def test_help_shows_env_names_and_defaults_and_only_whether_a_secret_is_set() -> None:
    text = " ".join(build_parser(_group(), {"T_TOKEN": "4"}).format_help().split())
    assert "--port T_PORT port [env T_PORT; default: 8000]" in text
    assert "--quick, --no-quick" in text
    assert "T_TOKEN: a secret number [now: set]" in text and "4]" not in text


def test_a_command_may_take_another_pieces_settings_under_their_own_heading() -> None:
    group = _group()
    other = SettingsGroup("other-piece", "d", (Setting("depth", "O_DEPTH", parsers.count, "depth", default=3),))
    parser = build_parser(group, {}, also=(other,))
    text = " ".join(parser.format_help().split())
    assert "settings of other-piece: --depth O_DEPTH depth [env O_DEPTH; default: 3]" in text
    flags = vars(parser.parse_args(["--depth", "5", "--port", "8001"]))
    assert resolve(other, flags, {})["depth"] == 5 and resolve(group, flags, {})["port"] == 8001
    clash = SettingsGroup("clash", "d", (Setting("port", "T_PORT", parsers.port, "another port", default=1),))
    with pytest.raises(ValueError, match="demo-piece and clash declare 'port' differently"):
        build_parser(group, {}, also=(clash,))


def test_masked_repr_hides_set_secrets_only() -> None:
    loaded = Loaded({"a": 1}, {"a": "default"})
    assert masked_repr(loaded, {"values"}) == "Loaded(values='***', sources={'a': 'default'})"
    assert masked_repr(Loaded({}, {}), {"values"}, hidden=("sources",)) == "Loaded(values={})"  # unset: shown


def test_a_field_or_variable_declared_twice_is_refused() -> None:
    twice = Setting("port", "T_PORT", parsers.port, "port")
    with pytest.raises(ValueError, match="env declared twice: T_PORT"):
        SettingsGroup("p", "d", (twice, Setting("other", "T_PORT", parsers.port, "port")))
    with pytest.raises(ValueError, match="field declared twice: port"):
        SettingsGroup("p", "d", (twice, Setting("port", "T_OTHER", parsers.port, "port")))


def test_a_default_comes_from_the_config_dataclass_and_is_written_there_only() -> None:
    @dataclass(frozen=True)
    class Config:
        port: int = 8000

    group = SettingsGroup("p", "d", (Setting("port", "T_PORT", parsers.port, "port"),), defaults_from=Config)
    assert group.setting("T_PORT").default == 8000 and load(group, [], {})["port"] == 8000
    with pytest.raises(ValueError, match="T_PORT: default declared twice"):
        SettingsGroup("p", "d", (Setting("port", "T_PORT", parsers.port, "port", default=9000),), defaults_from=Config)


# --- every piece -------------------------------------------------------------------------------


@pytest.mark.parametrize("group", GROUPS, ids=[g.prog for g in GROUPS])
def test_every_piece_help_lists_every_setting(group: SettingsGroup) -> None:
    text = " ".join(build_parser(group, {}).format_help().split())
    for setting in group:
        assert setting.env in text, setting.env
        if setting.flag is not None:
            assert setting.flag in text, setting.flag


@pytest.mark.parametrize("group", GROUPS, ids=[g.prog for g in GROUPS])
def test_every_piece_declares_the_log_settings_or_logs_nothing(group: SettingsGroup) -> None:
    names = {s.field for s in group}
    assert {"log_level", "log_format"} <= names or group.prog == "python -m benchmarks"
    assert group.prog == "python -m benchmarks" or group.setting("log_format").env == "LOG_FORMAT"


def test_docs_configuration_md_is_what_the_declarations_say() -> None:
    written = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == render(GROUPS), "docs/configuration.md is stale: run python -m settings.docs"


def test_doc_pages_that_name_settings_name_declared_ones() -> None:
    """A page may mention a setting (and link to the reference), but not one that does not exist."""
    declared = {s.env for g in GROUPS for s in g}
    prefixes = ("PROXY_", "NVCF_LOCAL_", "MEDIA_", "STREAM_APP_", "BENCH_", "DEMO_", "NVCF_DEPLOY_", "DOCTOR_")
    for page in ("proxy.md", "stream-app.md", "local-nvcf.md", "media.md", "benchmarks.md", "demo.md"):
        text = (REPO / "docs" / page).read_text(encoding="utf-8")
        assert "configuration.md" in text, page
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", text):
            # benchmarks.md also names Python constants of the suite (PROXY_TOKEN_MODE, ...).
            if name.startswith(prefixes) and not name.endswith("_SETTINGS") and page != "benchmarks.md":
                assert name in declared, f"docs/{page} names {name}, which no piece declares"


# --- written once --------------------------------------------------------------------------------

# Where settings are declared and read: each piece's config module, command line and entry point.
_SOURCES = [
    p
    for p in REPO.rglob("*.py")
    if not {".venv", "node_modules", ".git", "settings", "tests"} & set(p.relative_to(REPO).parts)
    and p.name in ("config.py", "cli.py", "__main__.py", "demo.py", "logs.py")
]


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        (r"^class \w*Setting\b", "a second kind of setting declaration"),
        (r"^def _(bool|truthy|flag|on_off|seconds|positive\w*|port|count|int|integer|number|log_level)\(", "a parser"),
        (r"\[env \{", "a help text built by hand"),
        (r"add_argument\(\s*\"--[a-z-]+\",\s*metavar=\"[A-Z]+_[A-Z_]+\"", "a flag named for a variable"),
        (r"\benv(iron)?\.get\(\"(LOG_|[A-Z]+_LOG_)", "a log setting read outside the config"),
    ],
)
def test_settings_code_is_written_only_in_settings(pattern: str, what: str) -> None:
    found = []
    assert len(_SOURCES) >= 10
    for path in _SOURCES:
        text = path.read_text(encoding="utf-8")
        if re.search(pattern, text, re.M):
            found.append(str(path.relative_to(REPO)))
    assert found == [], f"{what} outside settings/: {found}"
