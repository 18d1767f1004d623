"""`stream-app doctor`'s settings: one frozen `DoctorConfig`, and the stream app's settings it checks.

Doctor takes its own settings (`DOCTOR_*`, declared once in `SETTINGS`) and every stream-app
setting from the same command line and environment; `--help` lists both. Its log settings are the
stream app's (`LOG_LEVEL`, `LOG_FORMAT`, `LOG_LEVELS`): doctor runs with the container's environment.
The TURN password is a secret: `DOCTOR_TURN_PASSWORD` or the creds file, never a flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final

from settings import LogConfig, Setting, SettingsGroup, build_parser, log_config, masked_repr, parsers, resolve
from stream_app.config import SETTINGS as APP_SETTINGS
from stream_app.config import ConfigError, StreamAppConfig, config_from

_DESCRIPTION = (
    "Check why a stream app's container does not stream: the configuration against NVCF's contract, "
    "every UDP port of the media range, the STUN/TURN server (a binding and an allocation with the "
    "credentials given here), and a stream app already running with these settings. Takes every "
    "stream-app setting too, read from the same environment variables and flags. Exit status 0 when "
    "nothing failed (warnings allowed), 1 otherwise."
)


@dataclass(frozen=True, repr=False)
class DoctorConfig:
    """What doctor is told of its own: how to report, how long to wait, which STUN/TURN server to ask."""

    json: bool = False
    timeout: float = 2.0
    creds: str = ""
    """A file with the body NVCF posts to /v1/streaming/creds; "-" is stdin."""
    stun_ip: str = ""
    stun_port: int | None = None
    username: str = ""
    turn_password: str = ""
    nvenc: bool = False
    servers: bool = True
    log: LogConfig = LogConfig()

    def __repr__(self) -> str:
        return masked_repr(self, SETTINGS.secret_fields)


_LOG_FIELDS: Final = ("log_level", "log_format", "logger_levels")

SETTINGS: Final = SettingsGroup(
    prog="stream-app doctor",
    description=_DESCRIPTION,
    defaults_from=DoctorConfig,
    settings=(
        Setting("json", "DOCTOR_JSON", parsers.boolean, "print the findings as JSON", switch=True),
        Setting(
            "timeout",
            "DOCTOR_TIMEOUT",
            parsers.positive_seconds,
            "seconds to wait for each answer",
            metavar="SECONDS",
        ),
        Setting(
            "creds",
            "DOCTOR_CREDS",
            parsers.text,
            "JSON file with the body NVCF posts to /v1/streaming/creds "
            '({"stunIp", "stunPort", "username", "password"}); - reads stdin',
            metavar="FILE",
        ),
        Setting("stun_ip", "DOCTOR_STUN_IP", parsers.text, "STUN/TURN server address or name (wins over --creds)"),
        Setting("stun_port", "DOCTOR_STUN_PORT", parsers.port, "STUN/TURN server port (wins over --creds)"),
        Setting(
            "username",
            "DOCTOR_TURN_USERNAME",
            parsers.text,
            "long-term credential user name (wins over --creds)",
        ),
        Setting(
            "turn_password",
            "DOCTOR_TURN_PASSWORD",
            parsers.text,
            "long-term credential password (wins over --creds)",
            flag=None,
            secret=True,
        ),
        Setting(
            "nvenc",
            "DOCTOR_NVENC",
            parsers.boolean,
            "the app encodes with NVENC: check that an NVENC encoder opens",
            switch=True,
        ),
        Setting(
            "servers",
            "DOCTOR_SERVERS",
            parsers.boolean,
            "ask a stream app running with these settings (its control server and sign-in path)",
            switch=True,
        ),
        *(APP_SETTINGS.setting(field) for field in _LOG_FIELDS),
    ),
)
"""Doctor's own settings, and the stream app's log settings, which doctor logs by too."""


def load_doctor_config(
    argv: Sequence[str] | None, env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")
) -> tuple[DoctorConfig, StreamAppConfig | ConfigError]:
    """Doctor's config, and the stream app's config it checks, or why there is none (its first finding).

    Raises `SettingsError` for a setting of doctor's own; argparse exits on `--help` and usage errors.
    """
    flags = vars(build_parser(SETTINGS, env, also=(APP_SETTINGS,)).parse_args(argv))
    loaded = resolve(SETTINGS, flags, env)
    own = {f.name: loaded[f.name] for f in fields(DoctorConfig) if f.name in loaded.values}
    config = DoctorConfig(**own, log=log_config(loaded))
    try:
        app: StreamAppConfig | ConfigError = config_from(resolve(APP_SETTINGS, flags, env), env, dockerenv)
    except ConfigError as exc:
        app = exc
    return config, app
