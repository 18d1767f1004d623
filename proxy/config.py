"""The proxy's settings: one frozen `ProxyConfig`, from a config file, the environment and flags.

`SETTINGS` declares every setting once (`settings.Setting`); `--help`, the config file, the
masking of secrets and docs/configuration.md follow from it. Precedence, lowest first: defaults,
the TOML config file (`PROXY_CONFIG_FILE`, keys are the environment names), the environment,
flags. Secret values (the NVCF API key, the token and session secrets, the Redis URL) come from
the environment or from a file, never from a flag or the config file, because a command line is
visible to every user of the machine and config files get copied around. `load_config` reads
every file a setting names (secrets, the public key, the policy); the config itself reads nothing.
"""

from __future__ import annotations

import dataclasses
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
from settings import (
    LogConfig,
    Setting,
    SettingsError,
    SettingsGroup,
    log_config,
    log_settings,
    masked_repr,
    parsers,
    read_secret_file,
    resolve,
)
from settings import read_config_file as read_settings_file

ConfigError = SettingsError
"""A setting is missing or unusable; the message is one line naming the setting."""

DEFAULT_NVCF_SERVER: Final = "wss://grpc.nvcf.nvidia.com"
DEFAULT_JWT_ISSUER: Final = "nvcf-stream-kit"
DEFAULT_JWT_AUDIENCE: Final = "stream-proxy"
MAX_UPSTREAM_TIMEOUT: Final = 300.0
DEFAULT_MAX_SESSIONS_PER_USER: Final = 2
"""Every session holds a GPU instance: a user may hold two (a second tab, a reload's overlap)."""
MAX_MESSAGE_BYTES_LIMIT: Final = 64 * 1024 * 1024
EVENT_LOOPS: Final = ("uvloop", "asyncio")


def default_web_client_dir() -> Path:
    """The directory of the installed `web_client` package (it holds only static files)."""
    import web_client  # Deferred: only needed when PROXY_WEB_CLIENT_DIR is not set.

    return Path(web_client.__file__).parent


def _header_safe(value: str) -> bool:
    """True for visible ASCII without spaces: safe in an HTTP header, and what NVCF ids are."""
    return bool(value) and all(0x21 <= ord(ch) <= 0x7E for ch in value)


def _header_text(text: str) -> str:
    value = text.strip()
    if not _header_safe(value):
        raise ValueError("must be visible ASCII without spaces")
    return value


def _function_name(text: str) -> str:
    if not FUNCTION_NAME.fullmatch(text.strip()):
        raise ValueError(f"{text!r} must be letters, digits, '-' and '_'")
    return text.strip()


def _secret(text: str) -> bytes:
    return text.strip().encode()


def _session_secret(text: str) -> bytes:
    secret = _secret(text)
    if len(secret) < MIN_SESSION_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SESSION_SECRET_BYTES} bytes, got {len(secret)}")
    return secret


def _upstream_base(text: str) -> str:
    url = URL(text.strip())
    if url.scheme not in ("ws", "wss") or not url.host:
        raise ValueError(f"must be a ws:// or wss:// URL, got {text!r}")
    if url.user or url.password or url.query_string or url.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    return text.strip()


def _upstream_path(text: str) -> str:
    if not text.startswith("/") or not _header_safe(text):
        raise ValueError(f"must start with '/' and have no spaces, got {text!r}")
    return text


def _jwks_url(text: str) -> str:
    url = URL(text.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL")
    return text.strip()


def _redis_url(text: str) -> str:
    # The reason never repeats the URL: it may carry a password.
    if URL(text.strip()).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text.strip()


def _origin(text: str) -> str:
    """An Origin as browsers send it: scheme://host[:port], lower case, no path."""
    if text.strip() == "*":
        return "*"
    url = URL(text.strip())
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/") or url.query_string:
        raise ValueError(f"{text!r} is not an origin like https://example.com")
    default_port = {"http": 80, "https": 443}[url.scheme]
    port = "" if url.port in (None, default_port) else f":{url.port}"
    return f"{url.scheme}://{url.host.lower()}{port}"


def _origins(text: str) -> tuple[str, ...]:
    return tuple(_origin(item) for item in parsers.text_list(text))


def _algorithms(text: str) -> tuple[str, ...]:
    algorithms = parsers.text_list(text)
    unknown = sorted(set(algorithms) - SUPPORTED_ALGORITHMS)
    if unknown:
        raise ValueError(f"unsupported {', '.join(unknown)} (never 'none')")
    return algorithms


@dataclass(frozen=True, repr=False)
class ProxyConfig:
    """Everything the proxy needs, as plain values (`load_config` builds it from the settings).

    Construction checks only what depends on several fields (one token key source, the keys
    against the algorithms) and computes `access_policy` and `token_policy`; it reads no file.
    """

    nvcf_api_key: str
    function_id: str | None = None
    jwt_secret: bytes | None = None
    function_version_id: str | None = None
    function_name: str = "default"
    policy: AccessPolicy | None = None
    """The policy file's content (PROXY_POLICY_FILE); None: the single function STREAMING_FUNCTION_ID."""
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
    event_loop: str = "uvloop"
    log: LogConfig = LogConfig()
    access_policy: AccessPolicy = dataclasses.field(init=False, compare=False)
    """The policy, or the single default function (computed)."""
    token_policy: TokenPolicy = dataclasses.field(init=False, compare=False)
    """What user tokens must satisfy (computed)."""

    def __post_init__(self) -> None:
        limit = self.max_sessions_per_user or None
        if self.policy is not None:
            policy = self.policy
            if policy.default_max_sessions is None and limit is not None:
                policy = dataclasses.replace(policy, default_max_sessions=limit)
        elif self.function_id is not None:
            policy = single_function_policy(
                self.function_id, self.function_version_id, name=self.function_name, max_sessions=limit
            )
        else:
            raise ConfigError("missing required setting(s): STREAMING_FUNCTION_ID (or PROXY_POLICY_FILE)")
        object.__setattr__(self, "access_policy", policy)
        sources = [s for s in (self.jwt_secret, self.jwt_public_key, self.jwks_url) if s is not None]
        if len(sources) != 1:
            raise ConfigError(
                "set exactly one token key source: PROXY_JWT_SECRET (or PROXY_JWT_SECRET_FILE), "
                "PROXY_JWT_PUBLIC_KEY_FILE or PROXY_JWKS_URL"
            )
        algorithms = self.jwt_algorithms or (("HS256",) if self.jwt_secret is not None else ("RS256", "ES256"))
        try:
            token_policy = TokenPolicy(
                issuer=self.jwt_issuer,
                audience=self.jwt_audience,
                algorithms=frozenset(algorithms),
                leeway_seconds=self.jwt_leeway,
                max_token_bytes=self.jwt_max_bytes,
                user_claim=self.user_claim,
                groups_claim=self.groups_claim,
            )
        except ValueError as exc:
            raise ConfigError(f"token settings (PROXY_JWT_*): {exc}") from None
        object.__setattr__(self, "token_policy", token_policy)
        try:
            if self.jwt_secret is not None:
                SecretKey(self.jwt_secret, token_policy.algorithms)
            elif self.jwt_public_key is not None:
                PublicKey(self.jwt_public_key, token_policy.algorithms)
        except KeyConfigError as exc:
            name = "PROXY_JWT_SECRET" if self.jwt_secret is not None else "PROXY_JWT_PUBLIC_KEY_FILE"
            raise ConfigError(f"{name}: {exc}") from None

    @property
    def upstream_url(self) -> str:
        """The URL the proxy opens for each session: NVCF_SERVER + PROXY_UPSTREAM_PATH."""
        return self.nvcf_server.rstrip("/") + self.upstream_path

    def __repr__(self) -> str:
        # Secrets are masked so that logging or printing a config never leaks them.
        return masked_repr(self, SETTINGS.secret_fields, hidden=("access_policy", "token_policy"))


SETTINGS: Final = SettingsGroup(
    prog="stream-proxy",
    description="Check browser tokens, authorize users for streaming functions and forward the /sign_in "
    "WebSocket to NVCF's streaming relay, adding the NVCF API key and the function id. SIGTERM drains: "
    "readiness fails, sessions get PROXY_DRAIN_SECONDS, then close with 1001.",
    config_file="config_file",
    defaults_from=ProxyConfig,
    settings=(
        Setting(
            "config_file",
            "PROXY_CONFIG_FILE",
            parsers.path,
            "TOML file of settings, keys named like these variables",
            flag="--config",
        ),
        Setting("host", "PROXY_HOST", parsers.text, "address to listen on"),
        Setting("port", "PROXY_PORT", parsers.port_or_any, "TCP port to listen on"),
        Setting(
            "nvcf_server",
            "NVCF_SERVER",
            _upstream_base,
            "upstream base URL (ws:// or wss://): NVCF's relay, or nvcf-local",
        ),
        Setting("upstream_path", "PROXY_UPSTREAM_PATH", _upstream_path, "path appended to NVCF_SERVER"),
        Setting(
            "nvcf_api_key",
            "NVCF_API_KEY",
            _header_text,
            "NVCF API key, sent upstream as 'Authorization: Bearer'; required unless NVCF_API_KEY_FILE",
            flag=None,
            secret=True,
        ),
        Setting("nvcf_api_key_file", "NVCF_API_KEY_FILE", parsers.path, "file holding the NVCF API key"),
        Setting(
            "function_id",
            "STREAMING_FUNCTION_ID",
            _header_text,
            "the streaming function id of the default function (required unless PROXY_POLICY_FILE)",
        ),
        Setting(
            "function_version_id",
            "STREAMING_FUNCTION_VERSION_ID",
            _header_text,
            "the function version id (optional; NVCF picks one when unset)",
        ),
        Setting("function_name", "PROXY_FUNCTION_NAME", _function_name, "name of the STREAMING_FUNCTION_ID function"),
        Setting(
            "policy_file",
            "PROXY_POLICY_FILE",
            parsers.path,
            "TOML access policy: functions, and which users and groups may open them (replaces STREAMING_FUNCTION_ID)",
        ),
        Setting(
            "max_sessions_per_user",
            "PROXY_MAX_SESSIONS_PER_USER",
            parsers.count,
            "concurrent sessions per user without a policy file, or the policy's default (each holds a GPU "
            "instance); 0 = no limit",
        ),
        Setting(
            "jwt_secret",
            "PROXY_JWT_SECRET",
            _secret,
            f"HMAC secret of user tokens, at least {MIN_SECRET_BYTES} bytes (simple setups)",
            flag=None,
            secret=True,
        ),
        Setting("jwt_secret_file", "PROXY_JWT_SECRET_FILE", parsers.path, "file holding PROXY_JWT_SECRET"),
        Setting(
            "jwt_public_key_file",
            "PROXY_JWT_PUBLIC_KEY_FILE",
            parsers.path,
            "PEM public key (RSA, EC or Ed25519) that signs user tokens",
        ),
        Setting(
            "jwks_url",
            "PROXY_JWKS_URL",
            _jwks_url,
            "URL of the identity provider's JWKS; exactly one of this, a public key file or a secret",
        ),
        Setting(
            "jwt_algorithms",
            "PROXY_JWT_ALGORITHMS",
            _algorithms,
            "comma-separated allowed token algorithms",
            default_text="HS256 with a secret, else RS256,ES256",
        ),
        Setting("jwt_issuer", "PROXY_JWT_ISSUER", parsers.text, "required 'iss' of user tokens (exact)"),
        Setting("jwt_audience", "PROXY_JWT_AUDIENCE", parsers.text, "required 'aud' of user tokens (exact)"),
        Setting(
            "jwt_leeway",
            "PROXY_JWT_LEEWAY",
            parsers.at_most(parsers.seconds, MAX_LEEWAY_SECONDS),
            f"seconds of clock skew allowed on exp/nbf/iat, 0-{MAX_LEEWAY_SECONDS:g}",
        ),
        Setting(
            "jwt_max_bytes",
            "PROXY_JWT_MAX_BYTES",
            parsers.int_range(64, MAX_TOKEN_BYTES_LIMIT),
            f"longest token accepted, 64-{MAX_TOKEN_BYTES_LIMIT}",
        ),
        Setting("user_claim", "PROXY_USER_CLAIM", parsers.text, "token claim naming the user"),
        Setting("groups_claim", "PROXY_GROUPS_CLAIM", parsers.text, "token claim listing the user's groups"),
        Setting(
            "jwks_ttl", "PROXY_JWKS_TTL", parsers.positive_seconds, "seconds a fetched JWKS is used before refetching"
        ),
        Setting(
            "jwks_cooldown",
            "PROXY_JWKS_COOLDOWN",
            parsers.seconds,
            "at most one JWKS fetch per this many seconds (unknown kid, failures)",
        ),
        Setting(
            "jwks_max_stale",
            "PROXY_JWKS_MAX_STALE",
            parsers.seconds,
            "seconds the last good JWKS is still used while the key server is down",
        ),
        Setting("jwks_timeout", "PROXY_JWKS_TIMEOUT", parsers.positive_seconds, "seconds a JWKS fetch may take"),
        Setting(
            "token_first_message",
            "PROXY_TOKEN_FIRST_MESSAGE",
            parsers.boolean,
            'accept the token as the first WebSocket message {"token": "<JWT>"} when no token item is offered',
        ),
        Setting(
            "token_query",
            "PROXY_TOKEN_QUERY",
            parsers.boolean,
            "also accept ?token=<JWT> on /sign_in (ends up in browser history; off unless needed)",
        ),
        Setting(
            "auth_timeout",
            "PROXY_AUTH_TIMEOUT",
            parsers.positive_seconds,
            "seconds from the upgrade until a first-message token must have arrived (pings do not extend it)",
        ),
        Setting(
            "max_unauthenticated",
            "PROXY_MAX_UNAUTHENTICATED",
            parsers.positive_int,
            "WebSockets waiting for a first-message token at once; more are refused with HTTP 503",
        ),
        Setting(
            "header_timeout",
            "PROXY_HEADER_TIMEOUT",
            parsers.positive_seconds,
            "seconds a connection has to send a complete request (after opening, or after the previous answer)",
        ),
        Setting(
            "trusted_proxies",
            "PROXY_TRUSTED_PROXIES",
            parsers.network_list,
            "comma-separated CIDRs of load balancers whose X-Forwarded-For / Forwarded name the client",
            default_text="none: the TCP peer is the client",
        ),
        Setting(
            "tls_terminated",
            "PROXY_TLS_TERMINATED",
            parsers.boolean,
            "a load balancer in front terminates TLS: the resume cookie is marked Secure",
        ),
        Setting(
            "metrics_port",
            "PROXY_METRICS_PORT",
            parsers.port_or_any,
            "serve /metrics on this port of PROXY_HOST only, not on the main listener",
            default_text="on the main listener",
        ),
        Setting(
            "max_session_seconds",
            "PROXY_MAX_SESSION_SECONDS",
            parsers.seconds,
            "close sessions (4408) after this long; 0 = only when the token expires",
        ),
        Setting(
            "allowed_origins",
            "PROXY_ALLOWED_ORIGINS",
            _origins,
            "comma-separated Origins allowed to open /sign_in; '*' allows any",
            default_text="the proxy's own origin only",
        ),
        Setting(
            "rate_per_address",
            "PROXY_RATE_PER_ADDRESS",
            parsers.non_negative,
            "handshakes (/sign_in, /functions) per minute per client address; 0 = no limit",
        ),
        Setting(
            "rate_per_user", "PROXY_RATE_PER_USER", parsers.non_negative, "sign-ins per minute per user; 0 = no limit"
        ),
        Setting(
            "redis_url",
            "PROXY_REDIS_URL",
            _redis_url,
            "redis:// URL of a Redis shared by every replica for session and rate limits (else per process)",
            flag=None,
            secret=True,
        ),
        Setting(
            "redis_lease_seconds",
            "PROXY_REDIS_LEASE_SECONDS",
            parsers.positive_seconds,
            "with PROXY_REDIS_URL: a dead replica's sessions stop counting after this long",
        ),
        Setting(
            "max_message_bytes",
            "PROXY_MAX_MESSAGE_BYTES",
            parsers.int_range(1024, MAX_MESSAGE_BYTES_LIMIT),
            "largest WebSocket message relayed; a larger one closes the session with 1009",
        ),
        Setting(
            "heartbeat_seconds",
            "PROXY_HEARTBEAT_SECONDS",
            parsers.seconds,
            "ping interval on both legs; 0 = off",
            flag="--heartbeat",
        ),
        Setting(
            "idle_timeout",
            "PROXY_IDLE_TIMEOUT",
            parsers.seconds,
            "close a session (4408) after this many seconds without a message either way; 0 = off",
        ),
        Setting(
            "resume_window",
            "PROXY_RESUME_WINDOW",
            parsers.seconds,
            "seconds after a session ends during which its page may resume it",
        ),
        Setting(
            "reload_grace",
            "PROXY_RELOAD_GRACE",
            parsers.seconds,
            "seconds a session whose page unloaded (close 4001) is kept for that tab's reload; then it ends",
        ),
        Setting(
            "session_secret",
            "PROXY_SESSION_SECRET",
            _session_secret,
            f"HMAC secret signing resume cookies, at least {MIN_SESSION_SECRET_BYTES} bytes; give every replica "
            "the same one so a page resumes its session after a restart or on another replica",
            default_text="random per process",
            flag=None,
            secret=True,
        ),
        Setting(
            "session_secret_file",
            "PROXY_SESSION_SECRET_FILE",
            parsers.path,
            "file holding PROXY_SESSION_SECRET",
        ),
        Setting(
            "drain_seconds",
            "PROXY_DRAIN_SECONDS",
            parsers.seconds,
            "on SIGTERM: how long open sessions may go on before they are closed with 1001",
        ),
        Setting(
            "upstream_timeout",
            "PROXY_UPSTREAM_TIMEOUT",
            parsers.at_most(parsers.positive_seconds, MAX_UPSTREAM_TIMEOUT),
            "seconds to wait for the upstream handshake (connect, TLS and upgrade)",
        ),
        Setting(
            "web_client_dir",
            "PROXY_WEB_CLIENT_DIR",
            parsers.path,
            "directory of the web client's static files",
            default_text="the installed web_client package's directory",
        ),
        *log_settings("PROXY_"),
        Setting(
            "event_loop",
            "PROXY_EVENT_LOOP",
            parsers.choice(*EVENT_LOOPS),
            "uvloop (libuv, faster message relay) or asyncio (the standard library's)",
        ),
    ),
)
"""Every proxy setting, declared once."""

# (secret, file) fields of each secret: a file named by a flag wins over a value from the environment.
_SECRET_FILES: Final = (
    ("nvcf_api_key", "nvcf_api_key_file"),
    ("jwt_secret", "jwt_secret_file"),
    ("session_secret", "session_secret_file"),
)
_FILES_ONLY: Final = frozenset(
    {"config_file", "policy_file", "jwt_public_key_file", "nvcf_api_key_file", "jwt_secret_file", "session_secret_file"}
)


def read_config_file(path: str | Path) -> dict[str, str]:
    """Settings from a TOML file whose keys are the environment names; values become text."""
    return read_settings_file(SETTINGS, path)


def load_config(env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> ProxyConfig:
    """Build the config from the config file, environment variables, then CLI values, and read
    every file the settings name.

    CLI values are keyed by environment name. Empty values count as unset (as `FOO=` in a compose
    file means). Raises `ConfigError` with one line naming what is missing or wrong; secret values
    never appear in it.
    """
    flags: dict[str, Any] = {}
    for name, value in (overrides or {}).items():
        try:
            flags[SETTINGS.setting(name).field] = value
        except KeyError:
            raise ValueError(f"unknown setting {name}") from None
    loaded = resolve(SETTINGS, flags, env)
    values = dict(loaded.values)
    secrets: dict[str, Any] = {}
    for secret_field, file_field in _SECRET_FILES:
        secret, path = values[secret_field], values[file_field]
        file_flag = loaded.sources[file_field] == SETTINGS.setting(file_field).flag
        if secret is not None and path is not None and not file_flag:
            raise ConfigError(
                f"set only one of {SETTINGS.setting(secret_field).env} and {SETTINGS.setting(file_field).env}"
            )
        if path is not None:
            text = read_secret_file(path, SETTINGS.setting(file_field).env).decode(errors="replace")
            secret = _parse_secret(secret_field, text)
        secrets[secret_field] = secret
    public_key_file = values["jwt_public_key_file"]
    public_key = read_secret_file(public_key_file, "PROXY_JWT_PUBLIC_KEY_FILE") if public_key_file else None
    missing = []
    if secrets["nvcf_api_key"] is None:
        missing.append("NVCF_API_KEY (or NVCF_API_KEY_FILE)")
    if values["function_id"] is None and values["policy_file"] is None:
        missing.append("STREAMING_FUNCTION_ID (or PROXY_POLICY_FILE)")
    if secrets["jwt_secret"] is None and public_key is None and values["jwks_url"] is None:
        missing.append("PROXY_JWT_SECRET (or PROXY_JWT_SECRET_FILE, PROXY_JWT_PUBLIC_KEY_FILE, PROXY_JWKS_URL)")
    if missing:
        raise ConfigError(f"missing required setting(s): {', '.join(missing)}")
    policy = None
    if values["policy_file"] is not None:
        try:
            policy = load_policy(values["policy_file"])
        except PolicyError as exc:
            raise ConfigError(f"PROXY_POLICY_FILE: {exc}") from None
    web_dir = values["web_client_dir"]
    if not web_dir.is_dir():
        raise ConfigError(f"PROXY_WEB_CLIENT_DIR is not a directory: {web_dir}")
    config_fields = {f.name for f in dataclasses.fields(ProxyConfig) if f.init}
    plain = {name: value for name, value in values.items() if name in config_fields and name not in _FILES_ONLY}
    return ProxyConfig(
        **{**plain, **secrets},
        policy=policy,
        jwt_public_key=public_key,
        log=log_config(loaded),
    )


def _parse_secret(field: str, text: str) -> Any:
    setting = SETTINGS.setting(field)
    try:
        return setting.parse(text)
    except ValueError as exc:
        # A file's content is never quoted back: say only what is wrong with it.
        reason = str(exc).replace(text.strip(), "***") if text.strip() else str(exc)
        raise ConfigError(f"{setting.env} (from {setting.env}_FILE): {reason}") from None
