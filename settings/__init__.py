"""Settings declared once: from one `Setting` come the env variable, the flag, `--help`, the TOML
config file, secret masking and the generated reference `docs/configuration.md`.

A piece lists its settings in a `SettingsGroup`; `load` (or `add_flags` + `resolve` when the piece
owns a larger argparse parser) turns defaults, a config file, the environment and flags into plain
values; the piece's own loader builds its frozen config dataclass from them and reads whatever
files they name. Nothing here imports a piece.

Our own small module rather than pydantic-settings: pydantic-settings reads env, TOML and (since
2.3) a CLI, and masks `SecretStr`, but its CLI is its own (`--field.sub` names, no env names and
defaults in `--help`), it has no markdown reference generator, "a secret never comes from a flag
or the config file" would have to be written around it, and it would make every config a pydantic
model (a new dependency and a new type system next to the frozen dataclasses the pieces use). What
we need is ~400 lines over argparse and tomllib.
"""

from settings.declaration import Setting, SettingsError, SettingsGroup, with_defaults
from settings.loader import (
    Loaded,
    add_flags,
    build_parser,
    load,
    load_toml,
    read_config_file,
    read_secret_file,
    resolve,
)
from settings.log_settings import LOG_FORMAT, LOG_LEVEL, LOG_LEVELS, LogConfig, log_config, log_settings
from settings.masking import masked_repr, secret_values

__all__ = [
    "LOG_FORMAT",
    "LOG_LEVEL",
    "LOG_LEVELS",
    "Loaded",
    "LogConfig",
    "Setting",
    "SettingsError",
    "SettingsGroup",
    "add_flags",
    "build_parser",
    "load",
    "load_toml",
    "log_config",
    "log_settings",
    "masked_repr",
    "read_config_file",
    "read_secret_file",
    "resolve",
    "secret_values",
    "with_defaults",
]
