"""The proxy's settings: one frozen `ProxyConfig`, from a config file, the environment and flags.

`SETTINGS` lists every setting once (environment name, flag, default, help); `load_config` and
the CLI both read it, so `stream-proxy --help` and docs/proxy.md cannot drift from what is parsed.
Precedence, lowest first: defaults, the TOML config file (`PROXY_CONFIG_FILE`, keys are the
environment names), the environment, flags. Secret values (the NVCF API key, the token secret)
come from the environment or from a file, never from a flag or the config file, because a
command line is visible to every user of the machine and config files get copied around.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from yarl import URL

from proxy.client_address import IPNetwork
from proxy.policy import FUNCTION_NAME, AccessPolicy, PolicyError, load_policy, single_function_policy
from proxy.resume import MIN_SESSION_SECRET_BYTES
from proxy.signing_keys import KeyConfigError, PublicKey, SecretKey
from proxy.tokens import (
    DEFAULT_MAX_TOKEN_BYTES,
    MAX_LEEWAY_SECONDS,
    MAX_TOKEN_BYTES_LIMIT,
    MIN_SECRET_BYTES,
    SUPPORTED_ALGORITHMS,
    TokenPolicy,
)


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
    secret: bool = False
    """A secret value: --help says only whether it is set."""

    @property
    def shown_default(self) -> str:
        """The default as --help and the docs show it."""
        return self.default_text or self.default or "none"


DEFAULT_NVCF_SERVER: Final = "wss://grpc.nvcf.nvidia.com"
DEFAULT_JWT_ISSUER: Final = "nvcf-stream-kit"
DEFAULT_JWT_AUDIENCE: Final = "stream-proxy"
MAX_UPSTREAM_TIMEOUT: Final = 300.0
DEFAULT_MAX_SESSIONS_PER_USER: Final = 2
"""Every session holds a GPU instance: a user may hold two (a second tab, a reload's overlap)."""
MAX_MESSAGE_BYTES_LIMIT: Final = 64 * 1024 * 1024
EVENT_LOOPS: Final = ("uvloop", "asyncio")

SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("PROXY_CONFIG_FILE", "--config", None, "TOML file of settings, keys named like these variables"),
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
        secret=True,
    ),
    Setting("NVCF_API_KEY_FILE", "--nvcf-api-key-file", None, "file holding the NVCF API key"),
    Setting(
        "STREAMING_FUNCTION_ID",
        "--function-id",
        None,
        "the streaming function id of the default function (required unless PROXY_POLICY_FILE)",
    ),
    Setting(
        "STREAMING_FUNCTION_VERSION_ID",
        "--function-version-id",
        None,
        "the function version id (optional; NVCF picks one when unset)",
    ),
    Setting("PROXY_FUNCTION_NAME", "--function-name", "default", "name of the STREAMING_FUNCTION_ID function"),
    Setting(
        "PROXY_POLICY_FILE",
        "--policy-file",
        None,
        "TOML access policy: functions, and which users and groups may open them (replaces STREAMING_FUNCTION_ID)",
    ),
    Setting(
        "PROXY_MAX_SESSIONS_PER_USER",
        "--max-sessions-per-user",
        str(DEFAULT_MAX_SESSIONS_PER_USER),
        "concurrent sessions per user without a policy file, or the policy's default (each holds a GPU "
        "instance); 0 = no limit",
    ),
    Setting(
        "PROXY_JWT_SECRET",
        None,
        None,
        f"HMAC secret of user tokens, at least {MIN_SECRET_BYTES} bytes (simple setups)",
        secret=True,
    ),
    Setting("PROXY_JWT_SECRET_FILE", "--jwt-secret-file", None, "file holding PROXY_JWT_SECRET"),
    Setting(
        "PROXY_JWT_PUBLIC_KEY_FILE",
        "--jwt-public-key-file",
        None,
        "PEM public key (RSA, EC or Ed25519) that signs user tokens",
    ),
    Setting(
        "PROXY_JWKS_URL",
        "--jwks-url",
        None,
        "URL of the identity provider's JWKS; exactly one of this, a public key file or a secret",
    ),
    Setting(
        "PROXY_JWT_ALGORITHMS",
        "--jwt-algorithms",
        None,
        "comma-separated allowed token algorithms",
        default_text="HS256 with a secret, else RS256,ES256",
    ),
    Setting("PROXY_JWT_ISSUER", "--jwt-issuer", DEFAULT_JWT_ISSUER, "required 'iss' of user tokens (exact)"),
    Setting("PROXY_JWT_AUDIENCE", "--jwt-audience", DEFAULT_JWT_AUDIENCE, "required 'aud' of user tokens (exact)"),
    Setting(
        "PROXY_JWT_LEEWAY",
        "--jwt-leeway",
        "0",
        f"seconds of clock skew allowed on exp/nbf/iat, 0-{MAX_LEEWAY_SECONDS:g}",
    ),
    Setting(
        "PROXY_JWT_MAX_BYTES",
        "--jwt-max-bytes",
        str(DEFAULT_MAX_TOKEN_BYTES),
        f"longest token accepted, 64-{MAX_TOKEN_BYTES_LIMIT}",
    ),
    Setting("PROXY_USER_CLAIM", "--user-claim", "sub", "token claim naming the user"),
    Setting("PROXY_GROUPS_CLAIM", "--groups-claim", "groups", "token claim listing the user's groups"),
    Setting("PROXY_JWKS_TTL", "--jwks-ttl", "300", "seconds a fetched JWKS is used before refetching"),
    Setting(
        "PROXY_JWKS_COOLDOWN",
        "--jwks-cooldown",
        "30",
        "at most one JWKS fetch per this many seconds (unknown kid, failures)",
    ),
    Setting(
        "PROXY_JWKS_MAX_STALE",
        "--jwks-max-stale",
        "3600",
        "seconds the last good JWKS is still used while the key server is down",
    ),
    Setting("PROXY_JWKS_TIMEOUT", "--jwks-timeout", "5", "seconds a JWKS fetch may take"),
    Setting(
        "PROXY_TOKEN_FIRST_MESSAGE",
        "--token-first-message",
        "true",
        'accept the token as the first WebSocket message {"token": "<JWT>"} when no token item is offered',
    ),
    Setting(
        "PROXY_TOKEN_QUERY",
        "--token-query",
        "false",
        "also accept ?token=<JWT> on /sign_in (ends up in browser history; off unless needed)",
    ),
    Setting(
        "PROXY_AUTH_TIMEOUT",
        "--auth-timeout",
        "10",
        "seconds from the upgrade until a first-message token must have arrived (pings do not extend it)",
    ),
    Setting(
        "PROXY_MAX_UNAUTHENTICATED",
        "--max-unauthenticated",
        "256",
        "WebSockets waiting for a first-message token at once; more are refused with HTTP 503",
    ),
    Setting(
        "PROXY_HEADER_TIMEOUT",
        "--header-timeout",
        "10",
        "seconds a connection has to send a complete request (after opening, or after the previous answer)",
    ),
    Setting(
        "PROXY_TRUSTED_PROXIES",
        "--trusted-proxies",
        None,
        "comma-separated CIDRs of load balancers whose X-Forwarded-For / Forwarded name the client",
        default_text="none: the TCP peer is the client",
    ),
    Setting(
        "PROXY_TLS_TERMINATED",
        "--tls-terminated",
        "false",
        "a load balancer in front terminates TLS: the resume cookie is marked Secure",
    ),
    Setting(
        "PROXY_METRICS_PORT",
        "--metrics-port",
        None,
        "serve /metrics on this port of PROXY_HOST only, not on the main listener",
        default_text="on the main listener",
    ),
    Setting(
        "PROXY_MAX_SESSION_SECONDS",
        "--max-session-seconds",
        "0",
        "close sessions (4408) after this long; 0 = only when the token expires",
    ),
    Setting(
        "PROXY_ALLOWED_ORIGINS",
        "--allowed-origins",
        None,
        "comma-separated Origins allowed to open /sign_in; '*' allows any",
        default_text="the proxy's own origin only",
    ),
    Setting(
        "PROXY_RATE_PER_ADDRESS",
        "--rate-per-address",
        "120",
        "handshakes (/sign_in, /functions) per minute per client address; 0 = no limit",
    ),
    Setting("PROXY_RATE_PER_USER", "--rate-per-user", "30", "sign-ins per minute per user; 0 = no limit"),
    Setting(
        "PROXY_REDIS_URL",
        None,
        None,
        "redis:// URL of a Redis shared by every replica for session and rate limits (else per process)",
        secret=True,
    ),
    Setting(
        "PROXY_REDIS_LEASE_SECONDS",
        "--redis-lease-seconds",
        "15",
        "with PROXY_REDIS_URL: a dead replica's sessions stop counting after this long",
    ),
    Setting(
        "PROXY_MAX_MESSAGE_BYTES",
        "--max-message-bytes",
        str(1024 * 1024),
        "largest WebSocket message relayed; a larger one closes the session with 1009",
    ),
    Setting("PROXY_HEARTBEAT_SECONDS", "--heartbeat", "20", "ping interval on both legs; 0 = off"),
    Setting(
        "PROXY_IDLE_TIMEOUT",
        "--idle-timeout",
        "0",
        "close a session (4408) after this many seconds without a message either way; 0 = off",
    ),
    Setting(
        "PROXY_RESUME_WINDOW",
        "--resume-window",
        "300",
        "seconds after a session ends during which its page may resume it",
    ),
    Setting(
        "PROXY_RELOAD_GRACE",
        "--reload-grace",
        "5",
        "seconds a session whose page unloaded (close 4001) is kept for that tab's reload; then it ends",
    ),
    Setting(
        "PROXY_SESSION_SECRET",
        None,
        None,
        f"HMAC secret signing resume cookies, at least {MIN_SESSION_SECRET_BYTES} bytes; give every replica "
        "the same one so a page resumes its session after a restart or on another replica",
        default_text="random per process",
        secret=True,
    ),
    Setting("PROXY_SESSION_SECRET_FILE", "--session-secret-file", None, "file holding PROXY_SESSION_SECRET"),
    Setting(
        "PROXY_DRAIN_SECONDS",
        "--drain-seconds",
        "30",
        "on SIGTERM: how long open sessions may go on before they are closed with 1001",
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
    # observability: the log format, shared by every piece under one name.
    Setting("LOG_FORMAT", "--log-format", "text", "text (for a person) or json (one object per line)"),
    Setting(
        "PROXY_EVENT_LOOP",
        "--event-loop",
        "uvloop",
        "uvloop (libuv, faster message relay) or asyncio (the standard library's)",
    ),
)

_DEFAULTS: Final = {s.env: s.default for s in SETTINGS if s.default is not None}

# (value, file) environment names of each secret; a file given on the command line wins over a
# value from the environment.
_SECRET_PAIRS: Final = (
    ("NVCF_API_KEY", "NVCF_API_KEY_FILE"),
    ("PROXY_JWT_SECRET", "PROXY_JWT_SECRET_FILE"),
    ("PROXY_SESSION_SECRET", "PROXY_SESSION_SECRET_FILE"),
)
_SECRET_FIELDS: Final = frozenset({"nvcf_api_key", "jwt_secret", "session_secret", "redis_url"})
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS: Final = ("text", "json")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def default_web_client_dir() -> Path:
    """The directory of the installed `web_client` package (it holds only static files)."""
    import web_client  # Deferred: only needed when PROXY_WEB_CLIENT_DIR is not set.

    return Path(web_client.__file__).parent


def _header_safe(value: str) -> bool:
    """True for visible ASCII without spaces: safe in an HTTP header, and what NVCF ids are."""
    return bool(value) and all(0x21 <= ord(ch) <= 0x7E for ch in value)


def _origin(text: str) -> str:
    """An Origin as browsers send it: scheme://host[:port], lower case, no path."""
    url = URL(text.strip())
    if text.strip() == "*":
        return "*"
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/") or url.query_string:
        raise ConfigError(f"PROXY_ALLOWED_ORIGINS: {text!r} is not an origin like https://example.com")
    default_port = {"http": 80, "https": 443}[url.scheme]
    port = "" if url.port in (None, default_port) else f":{url.port}"
    return f"{url.scheme}://{url.host.lower()}{port}"


@dataclass(frozen=True, repr=False)
class ProxyConfig:
    """Everything the proxy needs; validated on construction (raises `ConfigError`)."""

    nvcf_api_key: str
    function_id: str | None = None
    jwt_secret: bytes | None = None
    function_version_id: str | None = None
    function_name: str = "default"
    policy_file: Path | None = None
    max_sessions_per_user: int = DEFAULT_MAX_SESSIONS_PER_USER
    jwt_public_key: bytes | None = None
    """PEM text of the public key (read from PROXY_JWT_PUBLIC_KEY_FILE)."""
    jwks_url: str | None = None
    jwt_algorithms: tuple[str, ...] = ()
    """Empty: HS256 with a secret, else RS256 and ES256."""
    host: str = "127.0.0.1"
    port: int = 8080
    nvcf_server: str = DEFAULT_NVCF_SERVER
    upstream_path: str = "/sign_in"
    jwt_issuer: str = DEFAULT_JWT_ISSUER
    jwt_audience: str = DEFAULT_JWT_AUDIENCE
    jwt_leeway: float = 0.0
    jwt_max_bytes: int = DEFAULT_MAX_TOKEN_BYTES
    user_claim: str = "sub"
    groups_claim: str = "groups"
    jwks_ttl: float = 300.0
    jwks_cooldown: float = 30.0
    jwks_max_stale: float = 3600.0
    jwks_timeout: float = 5.0
    token_first_message: bool = True
    token_query: bool = False
    auth_timeout: float = 10.0
    max_unauthenticated: int = 256
    header_timeout: float = 10.0
    trusted_proxies: tuple[IPNetwork, ...] = ()
    tls_terminated: bool = False
    metrics_port: int | None = None
    max_session_seconds: float = 0.0
    allowed_origins: tuple[str, ...] = ()
    rate_per_address: float = 120.0
    rate_per_user: float = 30.0
    redis_url: str | None = None
    redis_lease_seconds: float = 15.0
    max_message_bytes: int = 1024 * 1024
    heartbeat_seconds: float = 20.0
    idle_timeout: float = 0.0
    resume_window: float = 300.0
    reload_grace: float = 5.0
    session_secret: bytes | None = None
    """Signs resume cookies; None: a random secret per process (resume then survives no restart)."""
    drain_seconds: float = 30.0
    upstream_timeout: float = 10.0
    web_client_dir: Path = dataclasses.field(default_factory=default_web_client_dir)
    log_level: str = "INFO"
    log_format: str = "text"
    event_loop: str = "uvloop"
    access_policy: AccessPolicy = dataclasses.field(init=False, compare=False)
    """The policy file's content, or the single default function (computed)."""
    token_policy: TokenPolicy = dataclasses.field(init=False, compare=False)
    """What user tokens must satisfy (computed)."""

    def __post_init__(self) -> None:
        if not _header_safe(self.nvcf_api_key):
            raise ConfigError("NVCF_API_KEY must be visible ASCII without spaces")
        for name, value in (
            ("STREAMING_FUNCTION_ID", self.function_id),
            ("STREAMING_FUNCTION_VERSION_ID", self.function_version_id),
        ):
            if value is not None and not _header_safe(value):
                raise ConfigError(f"{name} must be visible ASCII without spaces")
        if not FUNCTION_NAME.fullmatch(self.function_name):
            raise ConfigError("PROXY_FUNCTION_NAME must be letters, digits, '-' and '_'")
        if self.max_sessions_per_user < 0:
            raise ConfigError("PROXY_MAX_SESSIONS_PER_USER must be >= 0")
        limit = self.max_sessions_per_user or None
        if self.policy_file is not None:
            try:
                policy = load_policy(self.policy_file)
            except PolicyError as exc:
                raise ConfigError(f"PROXY_POLICY_FILE: {exc}") from None
            if policy.default_max_sessions is None and limit is not None:
                policy = dataclasses.replace(policy, default_max_sessions=limit)
        elif self.function_id is not None:
            policy = single_function_policy(
                self.function_id, self.function_version_id, name=self.function_name, max_sessions=limit
            )
        else:
            raise ConfigError("missing required setting(s): STREAMING_FUNCTION_ID (or PROXY_POLICY_FILE)")
        object.__setattr__(self, "access_policy", policy)
        self._check_keys()
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
        if not 0 < self.upstream_timeout <= MAX_UPSTREAM_TIMEOUT:
            raise ConfigError(f"PROXY_UPSTREAM_TIMEOUT must be in (0, {MAX_UPSTREAM_TIMEOUT:g}]")
        positive: dict[str, float] = {
            "PROXY_JWKS_TTL": self.jwks_ttl,
            "PROXY_JWKS_TIMEOUT": self.jwks_timeout,
            "PROXY_AUTH_TIMEOUT": self.auth_timeout,
            "PROXY_HEADER_TIMEOUT": self.header_timeout,
            "PROXY_REDIS_LEASE_SECONDS": self.redis_lease_seconds,
        }
        for name, number in positive.items():
            if not number > 0:
                raise ConfigError(f"{name} must be > 0")
        non_negative: dict[str, float] = {
            "PROXY_JWKS_COOLDOWN": self.jwks_cooldown,
            "PROXY_JWKS_MAX_STALE": self.jwks_max_stale,
            "PROXY_MAX_SESSION_SECONDS": self.max_session_seconds,
            "PROXY_RATE_PER_ADDRESS": self.rate_per_address,
            "PROXY_RATE_PER_USER": self.rate_per_user,
            "PROXY_HEARTBEAT_SECONDS": self.heartbeat_seconds,
            "PROXY_IDLE_TIMEOUT": self.idle_timeout,
            "PROXY_RESUME_WINDOW": self.resume_window,
            "PROXY_RELOAD_GRACE": self.reload_grace,
            "PROXY_DRAIN_SECONDS": self.drain_seconds,
        }
        for name, number in non_negative.items():
            if not number >= 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.session_secret is not None and len(self.session_secret) < MIN_SESSION_SECRET_BYTES:
            raise ConfigError(
                f"PROXY_SESSION_SECRET must be at least {MIN_SESSION_SECRET_BYTES} bytes, "
                f"got {len(self.session_secret)}"
            )
        if self.redis_url is not None and URL(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("PROXY_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if self.max_unauthenticated < 1:
            raise ConfigError("PROXY_MAX_UNAUTHENTICATED must be >= 1")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"PROXY_METRICS_PORT must be 0-65535, got {self.metrics_port}")
        if not 1024 <= self.max_message_bytes <= MAX_MESSAGE_BYTES_LIMIT:
            raise ConfigError(f"PROXY_MAX_MESSAGE_BYTES must be 1024-{MAX_MESSAGE_BYTES_LIMIT}")
        for origin in self.allowed_origins:
            if origin != _origin(origin):
                raise ConfigError(f"PROXY_ALLOWED_ORIGINS: write {origin!r} as {_origin(origin)!r}")
        if not self.web_client_dir.is_dir():
            raise ConfigError(f"PROXY_WEB_CLIENT_DIR is not a directory: {self.web_client_dir}")
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"PROXY_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        if self.log_format not in _LOG_FORMATS:
            raise ConfigError(f"LOG_FORMAT must be one of {', '.join(_LOG_FORMATS)}, got {self.log_format!r}")
        if self.event_loop not in EVENT_LOOPS:
            raise ConfigError(f"PROXY_EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}")

    def _check_keys(self) -> None:
        if not 0 <= self.jwt_leeway <= MAX_LEEWAY_SECONDS:
            raise ConfigError(f"PROXY_JWT_LEEWAY must be 0-{MAX_LEEWAY_SECONDS:g}")
        if not 64 <= self.jwt_max_bytes <= MAX_TOKEN_BYTES_LIMIT:
            raise ConfigError(f"PROXY_JWT_MAX_BYTES must be 64-{MAX_TOKEN_BYTES_LIMIT}")
        sources = [s for s in (self.jwt_secret, self.jwt_public_key, self.jwks_url) if s is not None]
        if len(sources) != 1:
            raise ConfigError(
                "set exactly one token key source: PROXY_JWT_SECRET (or PROXY_JWT_SECRET_FILE), "
                "PROXY_JWT_PUBLIC_KEY_FILE or PROXY_JWKS_URL"
            )
        algorithms = self.jwt_algorithms or (("HS256",) if self.jwt_secret is not None else ("RS256", "ES256"))
        unknown = sorted(set(algorithms) - SUPPORTED_ALGORITHMS)
        if unknown:
            raise ConfigError(f"PROXY_JWT_ALGORITHMS: unsupported {', '.join(unknown)} (never 'none')")
        try:
            object.__setattr__(
                self,
                "token_policy",
                TokenPolicy(
                    issuer=self.jwt_issuer,
                    audience=self.jwt_audience,
                    algorithms=frozenset(algorithms),
                    leeway_seconds=self.jwt_leeway,
                    max_token_bytes=self.jwt_max_bytes,
                    user_claim=self.user_claim,
                    groups_claim=self.groups_claim,
                ),
            )
        except ValueError as exc:
            raise ConfigError(f"token settings (PROXY_JWT_*): {exc}") from None
        try:
            if self.jwt_secret is not None:
                SecretKey(self.jwt_secret, self.token_policy.algorithms)
            elif self.jwt_public_key is not None:
                PublicKey(self.jwt_public_key, self.token_policy.algorithms)
        except KeyConfigError as exc:
            name = "PROXY_JWT_SECRET" if self.jwt_secret is not None else "PROXY_JWT_PUBLIC_KEY_FILE"
            raise ConfigError(f"{name}: {exc}") from None
        if self.jwks_url is not None:
            url = URL(self.jwks_url)
            if url.scheme not in ("http", "https") or not url.host:
                raise ConfigError("PROXY_JWKS_URL must be an http:// or https:// URL")

    @property
    def upstream_url(self) -> str:
        """The URL the proxy opens for each session: NVCF_SERVER + PROXY_UPSTREAM_PATH."""
        return self.nvcf_server.rstrip("/") + self.upstream_path

    def __repr__(self) -> str:
        # Secrets are masked so that logging or printing a config never leaks them.
        parts = []
        for f in dataclasses.fields(self):
            if f.name in ("access_policy", "token_policy"):
                continue
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


def _integer(raw: Mapping[str, str], env: str) -> int:
    text = raw[env].strip()
    if not text.isdigit():
        raise ConfigError(f"{env} must be a non-negative integer, got {text!r}")
    return int(text)


def _flag(raw: Mapping[str, str], env: str) -> bool:
    text = raw[env].strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{env} must be true or false, got {raw[env]!r}")


def _networks(text: str | None) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _items(text))
    except ValueError as exc:
        raise ConfigError(f"PROXY_TRUSTED_PROXIES: {exc}") from None


def _items(text: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def read_config_file(path: str | Path) -> dict[str, str]:
    """Settings from a TOML file whose keys are the environment names; values become text."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"PROXY_CONFIG_FILE: cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"PROXY_CONFIG_FILE: {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"PROXY_CONFIG_FILE: {path} is not valid TOML: nested too deeply") from None
    known = {s.env: s for s in SETTINGS}
    settings: dict[str, str] = {}
    for name, value in data.items():
        setting = known.get(name)
        if setting is None or name == "PROXY_CONFIG_FILE":
            raise ConfigError(f"PROXY_CONFIG_FILE: unknown setting {name!r} in {path}")
        if setting.secret:
            raise ConfigError(f"PROXY_CONFIG_FILE: put {name} in a file and set {name}_FILE instead")
        settings[name] = _as_text(name, value)
    return settings


def _as_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ConfigError(f"PROXY_CONFIG_FILE: {name} must be text, a number, true/false or a list of text")


def load_config(env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> ProxyConfig:
    """Build the config from the config file, environment variables, then CLI values.

    CLI values are keyed by environment name. Empty values count as unset (as `FOO=` in a compose
    file means). Raises `ConfigError` with one line naming what is missing or wrong; secret values
    never appear in it.
    """
    known = {s.env for s in SETTINGS}
    raw = {name: value for name, value in env.items() if name in known and value != ""}
    given = {name: value for name, value in (overrides or {}).items() if value is not None and value != ""}
    for name in overrides or {}:
        if name not in known:
            raise ValueError(f"unknown setting {name}")
    config_file = given.get("PROXY_CONFIG_FILE") or raw.get("PROXY_CONFIG_FILE")
    from_file = read_config_file(config_file) if config_file else {}
    raw = {**from_file, **raw}
    for name, value in given.items():
        raw[name] = value
        for value_env, file_env in _SECRET_PAIRS:
            if name == file_env:
                raw.pop(value_env, None)
    raw = {**_DEFAULTS, **raw}

    api_key = _secret(raw, "NVCF_API_KEY", "NVCF_API_KEY_FILE")
    jwt_secret = _secret(raw, "PROXY_JWT_SECRET", "PROXY_JWT_SECRET_FILE")
    session_secret = _secret(raw, "PROXY_SESSION_SECRET", "PROXY_SESSION_SECRET_FILE")
    public_key_file = raw.get("PROXY_JWT_PUBLIC_KEY_FILE")
    public_key = read_secret_file(public_key_file, "PROXY_JWT_PUBLIC_KEY_FILE") if public_key_file else None
    missing = []
    if api_key is None:
        missing.append("NVCF_API_KEY (or NVCF_API_KEY_FILE)")
    if "STREAMING_FUNCTION_ID" not in raw and "PROXY_POLICY_FILE" not in raw:
        missing.append("STREAMING_FUNCTION_ID (or PROXY_POLICY_FILE)")
    if jwt_secret is None and public_key is None and "PROXY_JWKS_URL" not in raw:
        missing.append("PROXY_JWT_SECRET (or PROXY_JWT_SECRET_FILE, PROXY_JWT_PUBLIC_KEY_FILE, PROXY_JWKS_URL)")
    if missing:
        raise ConfigError(f"missing required setting(s): {', '.join(missing)}")
    assert api_key is not None
    try:
        api_key_text = api_key.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError("NVCF_API_KEY must be visible ASCII without spaces") from None

    metrics_port = raw.get("PROXY_METRICS_PORT")
    port_text = raw["PROXY_PORT"]
    if not port_text.isdigit():
        raise ConfigError(f"PROXY_PORT must be an integer 0-65535, got {port_text!r}")
    web_dir = raw.get("PROXY_WEB_CLIENT_DIR")
    policy_file = raw.get("PROXY_POLICY_FILE")
    return ProxyConfig(
        nvcf_api_key=api_key_text,
        function_id=raw.get("STREAMING_FUNCTION_ID"),
        function_version_id=raw.get("STREAMING_FUNCTION_VERSION_ID"),
        function_name=raw["PROXY_FUNCTION_NAME"],
        policy_file=Path(policy_file) if policy_file else None,
        max_sessions_per_user=_integer(raw, "PROXY_MAX_SESSIONS_PER_USER"),
        jwt_secret=jwt_secret,
        jwt_public_key=public_key,
        jwks_url=raw.get("PROXY_JWKS_URL"),
        jwt_algorithms=_items(raw.get("PROXY_JWT_ALGORITHMS")),
        host=raw["PROXY_HOST"],
        port=int(port_text),
        nvcf_server=raw["NVCF_SERVER"],
        upstream_path=raw["PROXY_UPSTREAM_PATH"],
        jwt_issuer=raw["PROXY_JWT_ISSUER"],
        jwt_audience=raw["PROXY_JWT_AUDIENCE"],
        jwt_leeway=_number(raw, "PROXY_JWT_LEEWAY"),
        jwt_max_bytes=_integer(raw, "PROXY_JWT_MAX_BYTES"),
        user_claim=raw["PROXY_USER_CLAIM"],
        groups_claim=raw["PROXY_GROUPS_CLAIM"],
        jwks_ttl=_number(raw, "PROXY_JWKS_TTL"),
        jwks_cooldown=_number(raw, "PROXY_JWKS_COOLDOWN"),
        jwks_max_stale=_number(raw, "PROXY_JWKS_MAX_STALE"),
        jwks_timeout=_number(raw, "PROXY_JWKS_TIMEOUT"),
        token_first_message=_flag(raw, "PROXY_TOKEN_FIRST_MESSAGE"),
        token_query=_flag(raw, "PROXY_TOKEN_QUERY"),
        auth_timeout=_number(raw, "PROXY_AUTH_TIMEOUT"),
        max_unauthenticated=_integer(raw, "PROXY_MAX_UNAUTHENTICATED"),
        header_timeout=_number(raw, "PROXY_HEADER_TIMEOUT"),
        trusted_proxies=_networks(raw.get("PROXY_TRUSTED_PROXIES")),
        tls_terminated=_flag(raw, "PROXY_TLS_TERMINATED"),
        metrics_port=_integer(raw, "PROXY_METRICS_PORT") if metrics_port is not None else None,
        max_session_seconds=_number(raw, "PROXY_MAX_SESSION_SECONDS"),
        allowed_origins=tuple(_origin(o) for o in _items(raw.get("PROXY_ALLOWED_ORIGINS"))),
        rate_per_address=_number(raw, "PROXY_RATE_PER_ADDRESS"),
        rate_per_user=_number(raw, "PROXY_RATE_PER_USER"),
        redis_url=raw.get("PROXY_REDIS_URL"),
        redis_lease_seconds=_number(raw, "PROXY_REDIS_LEASE_SECONDS"),
        max_message_bytes=_integer(raw, "PROXY_MAX_MESSAGE_BYTES"),
        heartbeat_seconds=_number(raw, "PROXY_HEARTBEAT_SECONDS"),
        idle_timeout=_number(raw, "PROXY_IDLE_TIMEOUT"),
        resume_window=_number(raw, "PROXY_RESUME_WINDOW"),
        reload_grace=_number(raw, "PROXY_RELOAD_GRACE"),
        session_secret=session_secret,
        drain_seconds=_number(raw, "PROXY_DRAIN_SECONDS"),
        upstream_timeout=_number(raw, "PROXY_UPSTREAM_TIMEOUT"),
        web_client_dir=Path(web_dir) if web_dir is not None else default_web_client_dir(),
        log_level=raw["PROXY_LOG_LEVEL"].upper(),
        log_format=raw["LOG_FORMAT"].strip().lower(),
        event_loop=raw["PROXY_EVENT_LOOP"].strip().lower(),
    )
