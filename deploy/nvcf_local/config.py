"""nvcf-local's settings: one frozen dataclass, from the environment, overridable by flags.

Precedence: command-line flag, then environment variable, then default. Secrets (the API key,
the TURN password) can come from the environment or a file so they need not appear on a command
line, which every local user can read.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DEFINITION = Path(__file__).resolve().parent.parent / "functions" / "test-pattern.json"


class ConfigError(ValueError):
    """A setting that is missing or cannot be used; the message names the flag and variable."""


@dataclass(frozen=True)
class TurnServer:
    """The STUN/TURN server whose credentials are pushed to each instance.

    With `secret` set, each instance gets its own short-lived credentials in coturn's REST scheme
    (``--use-auth-secret --static-auth-secret``, see `deploy.nvcf_local.turn_credentials`);
    otherwise every instance gets the one long-term `user` and `password`.
    """

    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)
    secret: str | None = field(default=None, repr=False)
    credential_ttl: float = 3600.0


@dataclass(frozen=True)
class NvcfLocalConfig:
    """Everything nvcf-local needs to run one streaming function the way NVCF would."""

    api_key: str = field(repr=False)
    turn: TurnServer
    definition: Path | None = None
    state: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8090
    function_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    instance_command: tuple[str, ...] = (sys.executable, "-m", "stream_app")
    health_poll_interval: float = 0.5
    start_timeout: float = 120.0
    min_instances: int = 1
    max_instances: int = 1
    sign_in_wait: float = 60.0
    reconnect_window: float = 300.0
    end_session_poll_interval: float = 2.0
    log_level: str = "INFO"
    log_format: str = "text"


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError(f"{value} is not a TCP port (1-65535)")
    return value


def _uuid(text: str) -> str:
    # NVCF ids are UUIDs; the relay compares them case-insensitively, so keep one spelling.
    return str(uuid.UUID(text))


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{text} must be a positive number of seconds")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{value} must be zero or more")
    return value


def _command(text: str) -> tuple[str, ...]:
    argv = tuple(shlex.split(text))
    if not argv:
        raise ValueError("the command is empty")
    return argv


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), _port(port)


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"{text!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return level


def _log_format(text: str) -> str:
    fmt = text.strip().lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"{text!r} is not one of text, json")
    return fmt


@dataclass(frozen=True)
class _Setting:
    flag: str
    env: str
    parse: Callable[[str], Any]
    help: str
    metavar: str


_SETTINGS = (
    _Setting(
        "definition",
        "NVCF_LOCAL_DEFINITION",
        Path,
        "a function definition (create-function JSON body) to create and deploy at start "
        "(default: none; create and deploy functions with nvcf-deploy)",
        "PATH",
    ),
    _Setting(
        "state",
        "NVCF_LOCAL_STATE",
        Path,
        "SQLite file keeping functions and deployments across restarts (default: in memory only)",
        "PATH",
    ),
    _Setting("host", "NVCF_LOCAL_HOST", str, "address the API and relay listen on", "ADDRESS"),
    _Setting("port", "NVCF_LOCAL_PORT", _port, "port the API and relay listen on", "PORT"),
    _Setting("function_id", "NVCF_LOCAL_FUNCTION_ID", _uuid, "function id (default: a fresh UUID)", "UUID"),
    _Setting("version_id", "NVCF_LOCAL_VERSION_ID", _uuid, "function version id (default: a fresh UUID)", "UUID"),
    _Setting(
        "instance_command",
        "NVCF_LOCAL_INSTANCE_COMMAND",
        _command,
        "command that runs one instance (the container's entry point), split like a shell would",
        "COMMAND",
    ),
    _Setting(
        "health_poll_interval",
        "NVCF_LOCAL_HEALTH_POLL_INTERVAL",
        _seconds,
        "seconds between health checks while an instance starts",
        "SECONDS",
    ),
    _Setting(
        "start_timeout",
        "NVCF_LOCAL_START_TIMEOUT",
        _seconds,
        "seconds an instance has to become healthy before it is restarted",
        "SECONDS",
    ),
    _Setting(
        "min_instances",
        "NVCF_LOCAL_MIN_INSTANCES",
        _count,
        "minInstances of the deployment of --definition",
        "COUNT",
    ),
    _Setting(
        "max_instances",
        "NVCF_LOCAL_MAX_INSTANCES",
        _count,
        "maxInstances of the deployment of --definition",
        "COUNT",
    ),
    _Setting(
        "sign_in_wait",
        "NVCF_LOCAL_SIGN_IN_WAIT",
        _seconds,
        "seconds a sign-in waits for a new instance when all are busy (below maxInstances)",
        "SECONDS",
    ),
    _Setting(
        "reconnect_window",
        "NVCF_LOCAL_RECONNECT_WINDOW",
        _seconds,
        "seconds a dropped session may be resumed before the relay ends it with a graceful endsession "
        "(NVCF's default 300; a sign-in may ask for up to 1800 with X-NVCF-RECONNECT-WINDOW-SECS)",
        "SECONDS",
    ),
    _Setting(
        "end_session_poll_interval",
        "NVCF_LOCAL_END_SESSION_POLL_INTERVAL",
        _seconds,
        "longest pause between the relay's endsession calls while the instance awaits a resume",
        "SECONDS",
    ),
    _Setting("log_level", "NVCF_LOCAL_LOG_LEVEL", _log_level, "DEBUG, INFO, WARNING or ERROR", "LEVEL"),
    # observability: one name for every piece, and passed on to the instances.
    _Setting("log_format", "LOG_FORMAT", _log_format, "text (for a person) or json (one object per line)", "FORMAT"),
)
_TURN = _Setting(
    "turn", "NVCF_LOCAL_TURN", _host_port, "STUN/TURN server pushed to the instance (required)", "HOST:PORT"
)
_TURN_USER = _Setting(
    "turn_user", "NVCF_LOCAL_TURN_USER", str, "its long-term user name (or use --turn-secret)", "USER"
)
_TURN_PASSWORD = _Setting(
    "turn_password",
    "NVCF_LOCAL_TURN_PASSWORD",
    str,
    "its long-term password (prefer the variable)",
    "PASSWORD",
)
_TURN_SECRET = _Setting(
    "turn_secret",
    "NVCF_LOCAL_TURN_SECRET",
    str,
    "coturn's --static-auth-secret: push short-lived per-instance credentials instead of a user (prefer the variable)",
    "SECRET",
)
_TURN_TTL = _Setting(
    "turn_credential_ttl",
    "NVCF_LOCAL_TURN_CREDENTIAL_TTL",
    _seconds,
    "lifetime of per-instance TURN credentials; they are pushed again at half of it (default 3600)",
    "SECONDS",
)
_TURN_SETTINGS = (_TURN, _TURN_USER, _TURN_PASSWORD, _TURN_SECRET, _TURN_TTL)


def _parse(setting: _Setting, text: str, source: str) -> Any:
    try:
        return setting.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _option(setting: _Setting) -> str:
    return "--" + setting.flag.replace("_", "-")


def make_parser() -> argparse.ArgumentParser:
    """The command-line parser; ``--help`` lists every setting with its variable and default."""
    defaults = NvcfLocalConfig(api_key="", turn=TurnServer("", 0, "", ""), function_id="", version_id="")
    parser = argparse.ArgumentParser(
        prog="nvcf-local",
        description=(
            "A local stand-in for NVIDIA Cloud Functions: serves the control API nvcf-deploy uses, runs "
            "each deployed STREAMING function's instances as child processes, health-checks them, pushes "
            "STUN/TURN credentials to them and relays WebSocket sign-ins to them the way NVCF's relay does."
        ),
        epilog=(
            "The API key is required: set NVCF_LOCAL_API_KEY, or NVCF_LOCAL_API_KEY_FILE / --api-key-file. "
            "Flags override variables."
        ),
    )
    for setting in (*_SETTINGS, *_TURN_SETTINGS):
        default = getattr(defaults, setting.flag) if setting in _SETTINGS else None
        if isinstance(default, tuple):
            default = shlex.join(default)
        shown = f"; default {default}" if default not in (None, "") else ""
        parser.add_argument(
            _option(setting),
            metavar=setting.metavar,
            default=None,
            help=f"{setting.help} [env {setting.env}{shown}]",
        )
    parser.add_argument(
        "--api-key-file",
        metavar="PATH",
        default=None,
        help="file holding the API key clients must present [env NVCF_LOCAL_API_KEY_FILE; or NVCF_LOCAL_API_KEY]",
    )
    return parser


def _api_key(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    path = args.api_key_file or env.get("NVCF_LOCAL_API_KEY_FILE")
    if path:
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"API key file {path}: {exc.strerror or exc}") from None
        source = f"API key file {path}"
    else:
        key = env.get("NVCF_LOCAL_API_KEY", "").strip()
        source = "NVCF_LOCAL_API_KEY"
        if not key:
            raise ConfigError("an API key is required: set NVCF_LOCAL_API_KEY or pass --api-key-file PATH")
    if not key:
        raise ConfigError(f"{source} is empty")
    # The relay also takes the key as a subprotocol item, so it must be made of token characters.
    if any(c.isspace() or c in '()<>@,;:\\"/[]?={}' for c in key):
        raise ConfigError(f"{source}: the key may not contain spaces or HTTP separators")
    return key


def load_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> NvcfLocalConfig:
    """Build the config from defaults, then `env`, then `argv`; raise `ConfigError` on a bad value."""
    args = make_parser().parse_args(argv)
    values: dict[str, Any] = {}
    for setting in (*_SETTINGS, *_TURN_SETTINGS):
        flag = getattr(args, setting.flag)
        if flag is not None:
            values[setting.flag] = _parse(setting, flag, _option(setting))
        elif env.get(setting.env):
            values[setting.flag] = _parse(setting, env[setting.env], setting.env)
    turn = values.pop("turn", None)
    user = values.pop("turn_user", None)
    password = values.pop("turn_password", None)
    secret = values.pop("turn_secret", None)
    ttl = values.pop("turn_credential_ttl", 3600.0)
    if turn is None or not (secret or (user and password)):
        raise ConfigError(
            "a STUN/TURN server is required, as NVCF always pushes one to the instance: pass --turn HOST:PORT and "
            "either --turn-secret (coturn's static-auth-secret) or --turn-user and --turn-password "
            "(or NVCF_LOCAL_TURN, NVCF_LOCAL_TURN_SECRET, NVCF_LOCAL_TURN_USER, NVCF_LOCAL_TURN_PASSWORD); "
            "`python -m deploy.demo` starts a coturn and does this for you"
        )
    if values.get("max_instances", 1) < 1 or values.get("min_instances", 1) > values.get("max_instances", 1):
        raise ConfigError("--min-instances and --max-instances need 0 <= min <= max and max >= 1")
    return NvcfLocalConfig(
        api_key=_api_key(args, env),
        turn=TurnServer(
            host=turn[0], port=turn[1], user=user or "", password=password or "", secret=secret, credential_ttl=ttl
        ),
        **values,
    )
