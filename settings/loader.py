"""From defaults, a TOML file, the environment and flags to values (lowest precedence first).

The loader does all the reading; the values it returns are plain, and a piece builds its frozen
config from them. Empty text counts as unset wherever it comes from (`FOO=` in a compose file).
"""

from __future__ import annotations

import argparse
import textwrap
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settings.declaration import Setting, SettingsError, SettingsGroup


@dataclass(frozen=True)
class Loaded:
    """Every setting's value, and where each came from (its default, the file, a variable or a flag)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    """field -> the env name, the flag, "<ENV> (file)" or "default"."""

    def __getitem__(self, field: str) -> Any:
        return self.values[field]

    def given(self, field: str) -> bool:
        """Whether a source other than the default set this field."""
        return self.sources[field] != "default"


def _help(setting: Setting) -> str:
    # `%` is argparse's format character; double it so help texts may contain one.
    return f"{setting.help} [env {setting.env}; default: {setting.shown_default}]".replace("%", "%%")


def add_flags(
    parser: argparse.ArgumentParser, group: SettingsGroup, *, section: str | None = None, skip: Collection[str] = ()
) -> None:
    """One flag per setting that has one (dest: the field; default None: not given).

    `section` puts the flags under their own heading in `--help`; fields in `skip` (settings the
    parser already has) are left out.
    """
    target: argparse._ActionsContainer = parser.add_argument_group(section) if section else parser
    for setting in group.settings:
        if setting.flag is None or setting.field in skip:
            continue
        if setting.switch:
            target.add_argument(
                setting.flag,
                dest=setting.field,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_help(setting),
            )
        else:
            target.add_argument(
                setting.flag,
                dest=setting.field,
                metavar=setting.metavar or setting.env,
                default=None,
                help=_help(setting),
            )


def env_only_epilog(group: SettingsGroup, env: Mapping[str, str], also: Sequence[SettingsGroup] = ()) -> str:
    """The settings without a flag, for the end of `--help`; secrets say only whether they are set."""
    lines = []
    listed: set[str] = set()
    for setting in (s for g in (group, *also) for s in g.settings):
        if setting.flag is not None or setting.env in listed:
            continue
        listed.add(setting.env)
        now = (
            f"now: {'set' if env.get(setting.env) else 'unset'}"
            if setting.secret
            else f"default: {setting.shown_default}"
        )
        lines.append(
            textwrap.fill(f"{setting.env}: {setting.help} [{now}]", initial_indent="  ", subsequent_indent="    ")
        )
    if not lines:
        return ""
    return "environment only (secrets are never taken from the command line, which other users can see):\n" + (
        "\n".join(lines)
    )


def build_parser(
    group: SettingsGroup, env: Mapping[str, str], also: Sequence[SettingsGroup] = ()
) -> argparse.ArgumentParser:
    """The piece's argument parser: every setting with its variable and default in `--help`.

    `also` are groups of another piece the command takes as well (as `stream-app doctor` takes the
    stream app's settings, to check them); their flags follow under a heading naming that piece,
    and a setting both declare is listed once. `resolve` each group with the parsed flags.
    """
    epilog = "\n\n".join(part for part in (textwrap.fill(group.epilog), env_only_epilog(group, env, also)) if part)
    parser = argparse.ArgumentParser(
        prog=group.prog,
        description=textwrap.fill(group.description),
        epilog=epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(parser, group)
    declared = {s.field: s for s in group.settings}
    for other in also:
        shared = {s.field for s in other.settings if s.field in declared}
        for setting in other.settings:
            if declared.setdefault(setting.field, setting) != setting:
                raise ValueError(f"{group.prog} and {other.prog} declare {setting.field!r} differently")
        add_flags(parser, other, section=f"settings of {other.prog}", skip=shared)
    return parser


def _parse(setting: Setting, text: str, source: str) -> Any:
    try:
        return setting.parse(text)
    except ValueError as exc:
        reason = str(exc)
        if setting.secret and text.strip():
            reason = reason.replace(text.strip(), "***")
        raise SettingsError(f"{source}: {reason}") from None


def resolve(group: SettingsGroup, flags: Mapping[str, Any], env: Mapping[str, str]) -> Loaded:
    """The values from defaults, the config file (if the group has one), `env`, then `flags`.

    `flags` maps fields to flag values as argparse left them (None: not given); other keys are
    ignored, so a piece may pass `vars(args)` of a parser with more arguments.
    """
    values: dict[str, Any] = {s.field: s.default for s in group.settings}
    sources: dict[str, str] = {s.field: "default" for s in group.settings}
    texts: dict[str, tuple[str, str]] = {}
    if group.config_file is not None:
        file_setting = group.setting(group.config_file)
        file_flag = flags.get(file_setting.field)
        path = file_flag if isinstance(file_flag, str) and file_flag else env.get(file_setting.env)
        if path:
            for env_name, value in read_config_file(group, path).items():
                texts[group.setting(env_name).field] = (value, f"{env_name} in {path}")
    for setting in group.settings:
        if env.get(setting.env, "").strip():
            texts[setting.field] = (env[setting.env], setting.env)
        flag = flags.get(setting.field) if setting.flag is not None else None
        if isinstance(flag, bool):
            values[setting.field], sources[setting.field] = flag, setting.flag or setting.env
            texts.pop(setting.field, None)
        elif isinstance(flag, str) and flag.strip():
            texts[setting.field] = (flag, setting.flag or setting.env)
    for field, (text, source) in texts.items():
        values[field] = _parse(group.setting(field), text, source)
        sources[field] = source
    return Loaded(values, sources)


def load(group: SettingsGroup, argv: Sequence[str] | None, env: Mapping[str, str]) -> Loaded:
    """Parse `argv` with the group's parser (argparse exits on `--help` and usage errors), then `resolve`."""
    args = build_parser(group, env).parse_args(argv)
    return resolve(group, vars(args), env)


def read_config_file(group: SettingsGroup, path: str | Path) -> dict[str, str]:
    """The settings in a TOML file whose keys are env names, as text; secrets are refused."""
    assert group.config_file is not None
    name = group.setting(group.config_file).env
    try:
        data = load_toml(Path(path))
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    known = {s.env: s for s in group.settings}
    found: dict[str, str] = {}
    for key, value in data.items():
        setting = known.get(key)
        if setting is None or setting.field == group.config_file:
            raise SettingsError(f"{name}: unknown setting {key!r} in {path}")
        if setting.secret:
            raise SettingsError(f"{name}: put {key} in a file and set {key}_FILE instead")
        found[key] = _as_text(name, key, value)
    return found


def _as_text(name: str, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise SettingsError(f"{name}: {key} must be text, a number, true/false or a list of text")


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables; `ValueError` naming the file and what is wrong with it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid TOML: nested too deeply") from None


def read_secret_file(path: str | Path, setting: str) -> bytes:
    """A secret from a file, without surrounding whitespace (files usually end in a newline).

    `setting` names the setting in error messages; the content never appears in them.
    """
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    if not secret:
        raise SettingsError(f"{setting}: {path} is empty")
    return secret
