"""nvcf-local's settings: one frozen dataclass, from the environment, overridable by flags.

`SETTINGS` declares each setting once (`settings.Setting`). Precedence: command-line flag, then
environment variable, then default. Secrets (the API key, the TURN password and secret) come from
the environment, or the key from a file, never from a command line, which every local user can read.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from settings import (
    LogConfig,
    Setting,
    SettingsError,
    SettingsGroup,
    load,
    log_config,
    log_settings,
    masked_repr,
    parsers,
    read_secret_file,
    with_defaults,
)

DEFAULT_DEFINITION = Path(__file__).resolve().parent.parent / "functions" / "test-pattern.json"


ConfigError = SettingsError
"""A setting that is missing or cannot be used; the message names the flag or variable."""


@dataclass(frozen=True, repr=False)
class TurnServer:
    """The STUN/TURN server whose credentials are pushed to each instance.

    With `secret` set, each instance gets its own short-lived credentials in coturn's REST scheme
    (``--use-auth-secret --static-auth-secret``, see `deploy.nvcf_local.turn_credentials`);
    otherwise every instance gets the one long-term `user` and `password`.
    """

    host: str
    port: int
    user: str = ""
    password: str = ""
    secret: str | None = None
    credential_ttl: float = 3600.0

    def __repr__(self) -> str:
        # Its fields are nvcf-local's settings under the parent's name: `password` is `turn_password`.
        return masked_repr(self, {name.removeprefix("turn_") for name in SETTINGS.secret_fields})


@dataclass(frozen=True, repr=False)
class NvcfLocalConfig:
    """Everything nvcf-local needs to run one streaming function the way NVCF would."""

    api_key: str
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
    log: LogConfig = LogConfig()

    def __repr__(self) -> str:
        return masked_repr(self, SETTINGS.secret_fields)


_SETTINGS = (
    Setting(
        "definition",
        "NVCF_LOCAL_DEFINITION",
        parsers.path,
        "a function definition (create-function JSON body) to create and deploy at start "
        "(none: create and deploy functions with nvcf-deploy)",
        metavar="PATH",
    ),
    Setting(
        "state",
        "NVCF_LOCAL_STATE",
        parsers.path,
        "SQLite file keeping functions and deployments across restarts",
        default_text="in memory only",
        metavar="PATH",
    ),
    Setting("host", "NVCF_LOCAL_HOST", parsers.text, "address the API and relay listen on", metavar="ADDRESS"),
    Setting("port", "NVCF_LOCAL_PORT", parsers.port, "port the API and relay listen on", metavar="PORT"),
    Setting(
        "function_id",
        "NVCF_LOCAL_FUNCTION_ID",
        parsers.uuid,
        "function id",
        default_text="a fresh UUID",
        metavar="UUID",
    ),
    Setting(
        "version_id",
        "NVCF_LOCAL_VERSION_ID",
        parsers.uuid,
        "function version id",
        default_text="a fresh UUID",
        metavar="UUID",
    ),
    Setting(
        "instance_command",
        "NVCF_LOCAL_INSTANCE_COMMAND",
        parsers.command,
        "command that runs one instance (the container's entry point), split like a shell would",
        default_text="this Python -m stream_app",
        metavar="COMMAND",
    ),
    Setting(
        "health_poll_interval",
        "NVCF_LOCAL_HEALTH_POLL_INTERVAL",
        parsers.positive_seconds,
        "seconds between health checks while an instance starts",
        metavar="SECONDS",
    ),
    Setting(
        "start_timeout",
        "NVCF_LOCAL_START_TIMEOUT",
        parsers.positive_seconds,
        "seconds an instance has to become healthy before it is restarted",
        metavar="SECONDS",
    ),
    Setting(
        "min_instances",
        "NVCF_LOCAL_MIN_INSTANCES",
        parsers.count,
        "minInstances of the deployment of --definition",
        metavar="COUNT",
    ),
    Setting(
        "max_instances",
        "NVCF_LOCAL_MAX_INSTANCES",
        parsers.count,
        "maxInstances of the deployment of --definition",
        metavar="COUNT",
    ),
    Setting(
        "sign_in_wait",
        "NVCF_LOCAL_SIGN_IN_WAIT",
        parsers.positive_seconds,
        "seconds a sign-in waits for a new instance when all are busy (below maxInstances)",
        metavar="SECONDS",
    ),
    Setting(
        "reconnect_window",
        "NVCF_LOCAL_RECONNECT_WINDOW",
        parsers.positive_seconds,
        "seconds a dropped session may be resumed before the relay ends it with a graceful endsession "
        "(NVCF's default 300; a sign-in may ask for up to 1800 with X-NVCF-RECONNECT-WINDOW-SECS)",
        metavar="SECONDS",
    ),
    Setting(
        "end_session_poll_interval",
        "NVCF_LOCAL_END_SESSION_POLL_INTERVAL",
        parsers.positive_seconds,
        "longest pause between the relay's endsession calls while the instance awaits a resume",
        metavar="SECONDS",
    ),
)
_TURN_SETTINGS = with_defaults(
    (
        Setting(
            "turn",
            "NVCF_LOCAL_TURN",
            parsers.host_port,
            "STUN/TURN server pushed to the instance (required)",
            metavar="HOST:PORT",
        ),
        Setting(
            "turn_user",
            "NVCF_LOCAL_TURN_USER",
            parsers.text,
            "its long-term user name (with NVCF_LOCAL_TURN_PASSWORD; or use NVCF_LOCAL_TURN_SECRET)",
            metavar="USER",
            default="",
        ),
        Setting(
            "turn_password",
            "NVCF_LOCAL_TURN_PASSWORD",
            parsers.text,
            "its long-term password",
            flag=None,
            secret=True,
        ),
        Setting(
            "turn_secret",
            "NVCF_LOCAL_TURN_SECRET",
            parsers.text,
            "coturn's --static-auth-secret: push short-lived per-instance credentials instead of a user",
            flag=None,
            secret=True,
        ),
        Setting(
            "credential_ttl",
            "NVCF_LOCAL_TURN_CREDENTIAL_TTL",
            parsers.positive_seconds,
            "lifetime of per-instance TURN credentials; they are pushed again at half of it",
            flag="--turn-credential-ttl",
            metavar="SECONDS",
        ),
    ),
    TurnServer,
)

SETTINGS = SettingsGroup(
    prog="nvcf-local",
    description="A local stand-in for NVIDIA Cloud Functions: serves the control API nvcf-deploy uses, runs "
    "each deployed STREAMING function's instances as child processes, health-checks them, pushes "
    "STUN/TURN credentials to them and relays WebSocket sign-ins to them the way NVCF's relay does.",
    epilog="The API key is required: set NVCF_LOCAL_API_KEY, or NVCF_LOCAL_API_KEY_FILE / --api-key-file.",
    defaults_from=NvcfLocalConfig,
    settings=(
        *_SETTINGS,
        *_TURN_SETTINGS,
        Setting(
            "api_key",
            "NVCF_LOCAL_API_KEY",
            parsers.text,
            "the API key clients must present (or NVCF_LOCAL_API_KEY_FILE)",
            flag=None,
            secret=True,
        ),
        Setting(
            "api_key_file",
            "NVCF_LOCAL_API_KEY_FILE",
            parsers.path,
            "file holding the API key clients must present",
            metavar="PATH",
        ),
        *log_settings("NVCF_LOCAL_"),
    ),
)
"""Every nvcf-local setting, declared once."""

_TURN_FIELDS = ("turn", "turn_user", "turn_password", "turn_secret", "credential_ttl")


def _api_key(path: Path | None, from_env: str | None) -> str:
    if path is not None:
        key = read_secret_file(path, "NVCF_LOCAL_API_KEY_FILE").decode(errors="replace")
        source = f"API key file {path}"
    else:
        if not from_env:
            raise ConfigError("an API key is required: set NVCF_LOCAL_API_KEY or pass --api-key-file PATH")
        key, source = from_env, "NVCF_LOCAL_API_KEY"
    # The relay also takes the key as a subprotocol item, so it must be made of token characters.
    if any(c.isspace() or c in '()<>@,;:\\"/[]?={}' for c in key):
        raise ConfigError(f"{source}: the key may not contain spaces or HTTP separators")
    return key


def load_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> NvcfLocalConfig:
    """Build the config from defaults, then `env`, then `argv`; raise `ConfigError` on a bad value."""
    loaded = load(SETTINGS, argv, env)
    values = {s.field: loaded[s.field] for s in _SETTINGS if loaded.given(s.field)}
    turn, user, password, secret, ttl = (loaded[name] for name in _TURN_FIELDS)
    if turn is None or not (secret or (user and password)):
        raise ConfigError(
            "a STUN/TURN server is required, as NVCF always pushes one to the instance: pass --turn HOST:PORT and "
            "either --turn-user with NVCF_LOCAL_TURN_PASSWORD, or NVCF_LOCAL_TURN_SECRET (coturn's "
            "static-auth-secret) (or NVCF_LOCAL_TURN, NVCF_LOCAL_TURN_USER in the environment); "
            "`python -m deploy.demo` starts a coturn and does this for you"
        )
    if loaded["max_instances"] < 1 or loaded["min_instances"] > loaded["max_instances"]:
        raise ConfigError("--min-instances and --max-instances need 0 <= min <= max and max >= 1")
    return NvcfLocalConfig(
        api_key=_api_key(loaded["api_key_file"], loaded["api_key"]),
        turn=TurnServer(
            host=turn[0], port=turn[1], user=user, password=password or "", secret=secret, credential_ttl=ttl
        ),
        log=log_config(loaded),
        **values,
    )
