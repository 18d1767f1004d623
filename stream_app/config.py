"""The stream app's settings: one frozen dataclass, read from the environment, overridable by flags.

`SETTINGS` declares each setting once (`settings.Setting`), the media pipeline's and the log
settings included; `load_config` turns the environment and flags into a `StreamAppConfig`, and
`config_from` does the same for settings a larger command (`stream-app doctor`) has loaded.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from settings import Loaded, LogConfig, Setting, SettingsError, SettingsGroup, load, log_config, log_settings, parsers
from stream_app.media.config import MEDIA_SETTINGS, MediaConfig, MediaConfigError
from stream_app.ports import PortRange

ConfigError = SettingsError
"""A setting with a value that cannot be used; one line naming the variable or flag."""


@dataclass(frozen=True)
class StreamAppConfig:
    """Everything the stream app needs to know; NVCF's env names where NVCF defines them."""

    host: str = "0.0.0.0"
    control_port: int = 8011
    streaming_port: int = 49100
    start_endpoint: str = "/sign_in"
    port_range: PortRange = PortRange(47998, 48020)
    ice_addresses: tuple[str, ...] = ()
    width: int = 1280
    height: int = 720
    fps: int = 60
    app: str = ""
    resume_window: float = 30.0
    idle_timeout: float = 600.0
    exit_after_session: bool = False
    relay_only: bool = False
    input_rate: float = 2000.0
    input_burst: int = 4000
    message_rate: float = 100.0
    message_burst: int = 200
    function_id: str = ""
    """NVCF's id of the function this container runs (log lines carry it); empty off NVCF."""
    instance_id: str = ""
    """This instance's id in log lines; the loader fills in the host name (on NVCF, the pod's)."""
    media: MediaConfig = MediaConfig()
    log: LogConfig = LogConfig()


def _app_spec(text: str) -> str:
    module, sep, attribute = text.partition(":")
    if text and (not sep or not module or not attribute):
        raise ValueError(f"{text!r} must be of the form module:factory")
    return text


def in_container(env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")) -> bool:
    """Whether we seem to run in a container (Docker, Kubernetes, or on NVCF)."""
    return dockerenv.exists() or bool(env.get("KUBERNETES_SERVICE_HOST")) or bool(env.get("NVCF_FUNCTION_ID"))


def default_ice_addresses(host: str) -> tuple[str, ...]:
    """Where ICE host candidates are gathered unless ``ICE_HOST_ADDRESSES`` says: the servers' own
    address when they listen on one, else () for every non-loopback address (aioice's choice).

    NVCF gives the container no address of its node (``NVCF_WORKER_NODE_IP`` goes to its streaming
    sidecar only; NVIDIA/nvcf's workload environment has none): on NVCF the app listens on every
    address and the client reaches it through the STUN/TURN server NVCF pushes to
    ``/v1/streaming/creds``. A stream app told to listen on one address (nvcf-local runs instances
    on its own ``--host``) gathers there too, which is also how loopback (which aioice skips) is used.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ()
    return () if address.is_unspecified else (str(address),)


_APP_SETTINGS = (
    Setting("host", "STREAM_APP_HOST", parsers.text, "address both servers listen on"),
    Setting(
        "control_port",
        "CONTROL_SERVER_PORT",
        parsers.port_or_any,
        "control server port (/v1/streaming/ready, /creds)",
    ),
    Setting(
        "streaming_port", "STREAMING_SERVER_PORT", parsers.port_or_any, "streaming (WebSocket sign-in) server port"
    ),
    Setting("start_endpoint", "STREAMING_START_ENDPOINT", parsers.url_path, "WebSocket path of the sign-in"),
    Setting("port_range", "STREAMING_PORT_BINDING_RANGE", PortRange.parse, "UDP ports media may bind, FIRST-LAST"),
    Setting(
        "ice_addresses",
        "ICE_HOST_ADDRESSES",
        parsers.address_list,
        "comma-separated addresses to gather ICE host candidates on",
        default_text="STREAM_APP_HOST when it is one address, else every non-loopback address",
    ),
    Setting("width", "VIDEO_WIDTH", parsers.positive_int, "video width in pixels (the app may change it)"),
    Setting("height", "VIDEO_HEIGHT", parsers.positive_int, "video height in pixels (the app may change it)"),
    Setting("fps", "VIDEO_FPS", parsers.positive_int, "video frames per second"),
    Setting(
        "app",
        "STREAM_APP_FACTORY",
        _app_spec,
        "the app to serve, module:factory (factory(config) returns a stream_app.StreamApp)",
        default_text="none: the built-in test pattern",
    ),
    Setting(
        "resume_window",
        "STREAM_APP_RESUME_WINDOW",
        parsers.seconds,
        "seconds a session waits for its client to come back after losing it (0: end at once)",
    ),
    Setting(
        "idle_timeout",
        "STREAM_APP_IDLE_TIMEOUT",
        parsers.seconds,
        "end the session after this many seconds without an input message from the client (0: never)",
    ),
    Setting(
        "exit_after_session",
        "STREAM_APP_EXIT_AFTER_SESSION",
        parsers.boolean,
        "exit with status 0 when a session ends instead of becoming ready again",
        default_text="true in a container (/.dockerenv, KUBERNETES_SERVICE_HOST or NVCF_FUNCTION_ID), else false",
        switch=True,
    ),
    Setting(
        "relay_only",
        "STREAM_APP_RELAY_ONLY",
        parsers.boolean,
        "use only TURN relay candidates (the client is told to do the same)",
        switch=True,
    ),
    Setting(
        "input_rate",
        "STREAM_APP_INPUT_RATE",
        parsers.positive,
        "input messages a second allowed (both input channels together)",
    ),
    Setting("input_burst", "STREAM_APP_INPUT_BURST", parsers.positive_int, "input messages allowed in a burst"),
    Setting(
        "message_rate",
        "STREAM_APP_MESSAGE_RATE",
        parsers.positive,
        "app channel messages a second allowed, each way (page to app, app to page)",
    ),
    Setting(
        "message_burst",
        "STREAM_APP_MESSAGE_BURST",
        parsers.positive_int,
        "app channel messages allowed in a burst, each way",
    ),
    Setting(
        "function_id",
        "NVCF_FUNCTION_ID",
        parsers.text,
        "the function id, which NVCF sets; log lines carry it, and when set the app runs as in a container",
        flag=None,
    ),
    Setting(
        "instance_id",
        "STREAM_APP_INSTANCE_ID",
        parsers.text,
        "this instance's id in log lines (nvcf-local sets its own instance id)",
        default_text="the host name",
        flag=None,
    ),
)

SETTINGS = SettingsGroup(
    prog="stream-app",
    description="NVCF streaming function: control server and WebRTC streaming server, "
    "serving your app (--app) or a stamped test pattern. Media settings: docs/media.md.",
    settings=(*_APP_SETTINGS, *MEDIA_SETTINGS, *log_settings(per_logger=True)),
    defaults_from=StreamAppConfig,
)
"""Every stream app setting: its own, the media pipeline's (`MEDIA_*`) and the log settings."""


def load_config(
    argv: Sequence[str] | None, env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")
) -> StreamAppConfig:
    """Build the config from defaults, then the environment, then command-line flags."""
    return config_from(load(SETTINGS, argv, env), env, dockerenv)


def config_from(loaded: Loaded, env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")) -> StreamAppConfig:
    """The config of settings already loaded (by `load_config`, or by a command that also takes them)."""
    app_fields = {f.name for f in fields(StreamAppConfig)}
    values: dict[str, Any] = {name: value for name, value in loaded.values.items() if name in app_fields}
    if not loaded.given("exit_after_session"):
        values["exit_after_session"] = in_container(env, dockerenv)
    if not values["instance_id"]:
        values["instance_id"] = socket.gethostname()
    if not values["ice_addresses"]:
        values["ice_addresses"] = default_ice_addresses(values["host"])
    given = {s.field: loaded.sources[s.field] for s in MEDIA_SETTINGS if loaded.given(s.field)}
    try:
        values["media"] = MediaConfig().with_values({field: loaded[field] for field in given}, given)
    except MediaConfigError as exc:
        raise ConfigError(str(exc)) from None
    values["log"] = log_config(loaded)
    config = StreamAppConfig(**values)
    if config.fps > config.media.max_fps:
        raise ConfigError(f"VIDEO_FPS {config.fps} is above MEDIA_MAX_FPS {config.media.max_fps}")
    if config.width % 2 or config.height % 2:
        raise ConfigError(f"video size {config.width}x{config.height} must be even")
    return config
