"""The proxy's settings: one frozen `ProxyConfig`, read from the environment and CLI flags.

`SETTINGS` lists every setting once (environment name, flag, default, help); `load_config` and
the CLI both read it, so `stream-proxy --help` and docs/proxy.md cannot drift from what is parsed.
Secret values (the NVCF API key, the token secret) come from the environment or from a file,
never from a flag, because a command line is visible to every user of the machine.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from yarl import URL

from proxy.tokens import MAX_LEEWAY_SECONDS, MIN_SECRET_BYTES


class ConfigError(Exception):
    """A setting is missing or unusable; the message is one line naming the setting."""


@dataclass(frozen=True)
class Setting:
    """One setting as the user sees it: its environment name, CLI flag, default and help."""

    env: str
    flag: str | None
    """None for secret values, which may only come from the environment."""
    default: str | None
    """The default value as text; None when there is none (required, optional or computed)."""
    help: str
    default_text: str | None = None
    """How to describe a computed default in --help."""

    @property
    def shown_default(self) -> str:
        """The default as --help and the docs show it."""
        return self.default_text or self.default or "none"


DEFAULT_NVCF_SERVER: Final = "wss://grpc.nvcf.nvidia.com"
DEFAULT_JWT_ISSUER: Final = "nvcf-stream-kit"
DEFAULT_JWT_AUDIENCE: Final = "stream-proxy"
MAX_UPSTREAM_TIMEOUT: Final = 300.0

SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("PROXY_HOST", "--host", "127.0.0.1", "address to listen on"),
    Setting("PROXY_PORT", "--port", "8080", "TCP port to listen on"),
    Setting(
        "NVCF_SERVER",
        "--nvcf-server",
        DEFAULT_NVCF_SERVER,
        "upstream base URL (ws:// or wss://): NVCF's relay, or nvcf-local",
    ),
    Setting("PROXY_UPSTREAM_PATH", "--upstream-path", "/sign_in", "path appended to NVCF_SERVER"),
    Setting(
        "NVCF_API_KEY",
        None,
        None,
        "NVCF API key, sent upstream as 'Authorization: Bearer'; required unless NVCF_API_KEY_FILE",
    ),
    Setting("NVCF_API_KEY_FILE", "--nvcf-api-key-file", None, "file holding the NVCF API key"),
    Setting("STREAMING_FUNCTION_ID", "--function-id", None, "the streaming function id (required)"),
    Setting(
        "STREAMING_FUNCTION_VERSION_ID",
        "--function-version-id",
        None,
        "the function version id (optional; NVCF picks one when unset)",
    ),
    Setting(
        "PROXY_JWT_SECRET",
        None,
        None,
        f"HS256 secret of user tokens, at least {MIN_SECRET_BYTES} bytes; required unless PROXY_JWT_SECRET_FILE",
    ),
    Setting("PROXY_JWT_SECRET_FILE", "--jwt-secret-file", None, "file holding PROXY_JWT_SECRET"),
    Setting("PROXY_JWT_ISSUER", "--jwt-issuer", DEFAULT_JWT_ISSUER, "required 'iss' of user tokens"),
    Setting(
        "PROXY_JWT_AUDIENCE",
        "--jwt-audience",
        DEFAULT_JWT_AUDIENCE,
        "required 'aud' of user tokens",
    ),
    Setting(
        "PROXY_JWT_LEEWAY",
        "--jwt-leeway",
        "0",
        f"seconds of clock skew allowed on exp/nbf/iat, 0-{MAX_LEEWAY_SECONDS:g}",
    ),
    Setting(
        "PROXY_UPSTREAM_TIMEOUT",
        "--upstream-timeout",
        "10",
        "seconds to wait for the upstream handshake (connect, TLS and upgrade)",
    ),
    Setting(
        "PROXY_WEB_CLIENT_DIR",
        "--web-client-dir",
        None,
        "directory of the web client's static files",
        default_text="the installed web_client package's directory",
    ),
    Setting("PROXY_LOG_LEVEL", "--log-level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
)

_DEFAULTS: Final = {s.env: s.default for s in SETTINGS if s.default is not None}

# (value, file) environment names of each secret; a file given on the command line wins over a
# value from the environment.
_SECRET_PAIRS: Final = (
    ("NVCF_API_KEY", "NVCF_API_KEY_FILE"),
    ("PROXY_JWT_SECRET", "PROXY_JWT_SECRET_FILE"),
)
_SECRET_FIELDS: Final = frozenset({"nvcf_api_key", "jwt_secret"})
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


def default_web_client_dir() -> Path:
    """The directory of the installed `web_client` package (it holds only static files)."""
    import web_client  # Deferred: only needed when PROXY_WEB_CLIENT_DIR is not set.

    return Path(web_client.__file__).parent


def _header_safe(value: str) -> bool:
    """True for visible ASCII without spaces: safe in an HTTP header, and what NVCF ids are."""
    return bool(value) and all(0x21 <= ord(ch) <= 0x7E for ch in value)


@dataclass(frozen=True, repr=False)
class ProxyConfig:
    """Everything the proxy needs; validated on construction (raises `ConfigError`)."""

    nvcf_api_key: str
    function_id: str
    jwt_secret: bytes
    function_version_id: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    nvcf_server: str = DEFAULT_NVCF_SERVER
    upstream_path: str = "/sign_in"
    jwt_issuer: str = DEFAULT_JWT_ISSUER
    jwt_audience: str = DEFAULT_JWT_AUDIENCE
    jwt_leeway: float = 0.0
    upstream_timeout: float = 10.0
    web_client_dir: Path = dataclasses.field(default_factory=default_web_client_dir)
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not _header_safe(self.nvcf_api_key):
            raise ConfigError("NVCF_API_KEY must be visible ASCII without spaces")
        if not _header_safe(self.function_id):
            raise ConfigError("STREAMING_FUNCTION_ID must be visible ASCII without spaces")
        if self.function_version_id is not None and not _header_safe(self.function_version_id):
            raise ConfigError("STREAMING_FUNCTION_VERSION_ID must be visible ASCII without spaces")
        if len(self.jwt_secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"PROXY_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {len(self.jwt_secret)})"
            )
        if not self.host:
            raise ConfigError("PROXY_HOST must not be empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"PROXY_PORT must be 0-65535, got {self.port}")
        url = URL(self.nvcf_server)
        if url.scheme not in ("ws", "wss") or not url.host:
            raise ConfigError(f"NVCF_SERVER must be a ws:// or wss:// URL, got {self.nvcf_server!r}")
        if url.user or url.password or url.query_string or url.fragment:
            raise ConfigError("NVCF_SERVER must not carry credentials, a query or a fragment")
        if not self.upstream_path.startswith("/") or not _header_safe(self.upstream_path):
            raise ConfigError(f"PROXY_UPSTREAM_PATH must start with '/', got {self.upstream_path!r}")
        if not self.jwt_issuer or not self.jwt_audience:
            raise ConfigError("PROXY_JWT_ISSUER and PROXY_JWT_AUDIENCE must not be empty")
        if not 0 <= self.jwt_leeway <= MAX_LEEWAY_SECONDS:
            raise ConfigError(f"PROXY_JWT_LEEWAY must be 0-{MAX_LEEWAY_SECONDS:g}")
        if not 0 < self.upstream_timeout <= MAX_UPSTREAM_TIMEOUT:
            raise ConfigError(f"PROXY_UPSTREAM_TIMEOUT must be in (0, {MAX_UPSTREAM_TIMEOUT:g}]")
        if not self.web_client_dir.is_dir():
            raise ConfigError(f"PROXY_WEB_CLIENT_DIR is not a directory: {self.web_client_dir}")
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"PROXY_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")

    @property
    def upstream_url(self) -> str:
        """The URL the proxy opens for each session: NVCF_SERVER + PROXY_UPSTREAM_PATH."""
        return self.nvcf_server.rstrip("/") + self.upstream_path

    def __repr__(self) -> str:
        # Secrets are masked so that logging or printing a config never leaks them.
        parts = []
        for f in dataclasses.fields(self):
            value = "'***'" if f.name in _SECRET_FIELDS else repr(getattr(self, f.name))
            parts.append(f"{f.name}={value}")
        return f"ProxyConfig({', '.join(parts)})"


def read_secret_file(path: str | Path, setting: str) -> bytes:
    """Read a secret from a file, without surrounding whitespace (files usually end in a newline).

    `setting` names the setting in error messages; the content never appears in them.
    """
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    if not secret:
        raise ConfigError(f"{setting}: {path} is empty")
    return secret


def _secret(raw: Mapping[str, str], value_env: str, file_env: str) -> bytes | None:
    value, path = raw.get(value_env), raw.get(file_env)
    if value is not None and path is not None:
        raise ConfigError(f"set only one of {value_env} and {file_env}")
    if path is not None:
        return read_secret_file(path, file_env)
    return value.strip().encode() if value is not None else None


def _number(raw: Mapping[str, str], env: str) -> float:
    text = raw[env]
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{env} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{env} must be a finite number, got {text!r}")
    return value


def load_config(env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> ProxyConfig:
    """Build the config from environment variables, then CLI values keyed by environment name.

    Empty values count as unset (as `FOO=` in a compose file means). Raises `ConfigError` with
    one line naming what is missing or wrong; secret values never appear in it.
    """
    known = {s.env for s in SETTINGS}
    raw = {name: value for name, value in env.items() if name in known and value != ""}
    for name, value in (overrides or {}).items():
        if name not in known:
            raise ValueError(f"unknown setting {name}")
        if value is None or value == "":
            continue
        raw[name] = value
        for value_env, file_env in _SECRET_PAIRS:
            if name == file_env:
                raw.pop(value_env, None)
    raw = {**_DEFAULTS, **raw}

    api_key = _secret(raw, "NVCF_API_KEY", "NVCF_API_KEY_FILE")
    jwt_secret = _secret(raw, "PROXY_JWT_SECRET", "PROXY_JWT_SECRET_FILE")
    missing = []
    if api_key is None:
        missing.append("NVCF_API_KEY (or NVCF_API_KEY_FILE)")
    if "STREAMING_FUNCTION_ID" not in raw:
        missing.append("STREAMING_FUNCTION_ID")
    if jwt_secret is None:
        missing.append("PROXY_JWT_SECRET (or PROXY_JWT_SECRET_FILE)")
    if missing:
        raise ConfigError(f"missing required setting(s): {', '.join(missing)}")
    assert api_key is not None and jwt_secret is not None
    try:
        api_key_text = api_key.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError("NVCF_API_KEY must be visible ASCII without spaces") from None

    port_text = raw["PROXY_PORT"]
    if not port_text.isdigit():
        raise ConfigError(f"PROXY_PORT must be an integer 0-65535, got {port_text!r}")
    web_dir = raw.get("PROXY_WEB_CLIENT_DIR")
    return ProxyConfig(
        nvcf_api_key=api_key_text,
        function_id=raw["STREAMING_FUNCTION_ID"],
        function_version_id=raw.get("STREAMING_FUNCTION_VERSION_ID"),
        jwt_secret=jwt_secret,
        host=raw["PROXY_HOST"],
        port=int(port_text),
        nvcf_server=raw["NVCF_SERVER"],
        upstream_path=raw["PROXY_UPSTREAM_PATH"],
        jwt_issuer=raw["PROXY_JWT_ISSUER"],
        jwt_audience=raw["PROXY_JWT_AUDIENCE"],
        jwt_leeway=_number(raw, "PROXY_JWT_LEEWAY"),
        upstream_timeout=_number(raw, "PROXY_UPSTREAM_TIMEOUT"),
        web_client_dir=Path(web_dir) if web_dir is not None else default_web_client_dir(),
        log_level=raw["PROXY_LOG_LEVEL"].upper(),
    )
