"""What a setting is: one declaration a piece writes once, and the group a piece's settings form."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class SettingsError(ValueError):
    """A setting that is missing or cannot be used; one line naming the variable or flag, never a secret."""


@dataclass(frozen=True)
class Setting:
    """One setting as the outside world sets it.

    `parse` turns text (from the environment, a flag or the config file) into the value, raising
    `ValueError` with a reason that does not name the setting: the loader adds where the text
    came from. `default` is the value used when no source gives one; a setting whose field is a
    field of the group's config dataclass takes that field's default (written once, there), and
    `default_text` describes a default that is computed at load time. A secret has no flag (a
    command line is visible to every user of the machine), never comes from the config file and
    is never shown.
    """

    field: str
    env: str
    parse: Callable[[str], Any]
    help: str
    default: Any = None
    """None: no default, or the default of the field of the group's config dataclass."""
    flag: str | None = ""
    """"" (the default): `--` and the field with dashes; None: environment (and config file) only."""
    secret: bool = False
    default_text: str | None = None
    metavar: str | None = None
    switch: bool = False
    """A yes/no flag written `--x` / `--no-x` (no value); the environment still takes true/false."""

    def __post_init__(self) -> None:
        if self.secret and self.flag is not None:
            raise ValueError(f"{self.env}: a secret setting has no flag")
        if self.flag == "":
            object.__setattr__(self, "flag", "--" + self.field.replace("_", "-"))

    @property
    def shown_default(self) -> str:
        """The default as `--help` and the docs show it."""
        if self.default_text is not None:
            return self.default_text
        return show(self.default)


def show(value: Any) -> str:
    """A value as a person would type it: lists comma-separated, yes/no as true/false, None as none."""
    if value is None or value == "" or value == ():
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return ",".join(show(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class SettingsGroup:
    """Every setting of one piece, in the order `--help` and the docs list them."""

    prog: str
    """The command, as `--help` and the docs name the piece."""
    description: str
    settings: tuple[Setting, ...]
    config_file: str | None = None
    """The field of the setting that names a TOML file of settings (keys are env names), if any."""
    epilog: str = ""
    defaults_from: type | None = None
    """The config dataclass whose field defaults are the settings' defaults."""
    secret_fields: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.defaults_from is not None:
            object.__setattr__(self, "settings", with_defaults(self.settings, self.defaults_from))
        for kind, names in (("field", [s.field for s in self.settings]), ("env", [s.env for s in self.settings])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{self.prog}: {kind} declared twice: {', '.join(twice)}")
        if self.config_file is not None and self.config_file not in {s.field for s in self.settings}:
            raise ValueError(f"{self.prog}: config_file {self.config_file!r} is not a setting")
        object.__setattr__(self, "secret_fields", frozenset(s.field for s in self.settings if s.secret))

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.settings)

    def setting(self, name: str) -> Setting:
        """The setting with this field or env name."""
        for setting in self.settings:
            if name in (setting.field, setting.env):
                return setting
        raise KeyError(name)


def with_defaults(settings: tuple[Setting, ...], config: type) -> tuple[Setting, ...]:
    """`settings` with each default taken from the field of the same name of the dataclass `config`."""
    defaults = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    filled = []
    for setting in settings:
        if setting.field in defaults:
            if setting.default is not None and setting.default != defaults[setting.field]:
                raise ValueError(f"{setting.env}: default declared twice ({setting.default!r}, {config.__name__})")
            setting = dataclasses.replace(setting, default=defaults[setting.field])
        filled.append(setting)
    return tuple(filled)
