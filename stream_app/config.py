"""The stream app's settings: one frozen dataclass, read from the environment, overridable by flags."""

from __future__ import annotations

import argparse
import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from stream_app.media.config import MEDIA_SETTINGS, MediaConfig, MediaConfigError
from stream_app.ports import PortRange, PortRangeError


class ConfigError(ValueError):
    """A setting with a value that cannot be used."""


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
    media: MediaConfig = MediaConfig()


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a TCP port")
    return value


def _endpoint(text: str) -> str:
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} must be a path starting with '/'")
    return text


def _addresses(text: str) -> tuple[str, ...]:
    items = tuple(a.strip() for a in text.split(",") if a.strip())
    for item in items:
        ipaddress.ip_address(item)
    return items


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"{value} must be positive")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text} must be a number of seconds >= 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text} must be a positive number")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(text: str) -> bool:
    if text.strip().lower() in _TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise ValueError(f"{text!r} is not one of {'/'.join(_TRUE + _FALSE)}")


def _app_spec(text: str) -> str:
    module, sep, attribute = text.partition(":")
    if text and (not sep or not module or not attribute):
        raise ValueError(f"{text!r} must be of the form module:factory")
    return text


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


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


@dataclass(frozen=True)
class _Setting:
    field: str
    env: str
    parse: Callable[[str], Any]
    help: str


_SETTINGS = (
    _Setting("host", "STREAM_APP_HOST", str, "address both servers listen on"),
    _Setting("control_port", "CONTROL_SERVER_PORT", _port, "control server port (/v1/streaming/ready, /creds)"),
    _Setting("streaming_port", "STREAMING_SERVER_PORT", _port, "streaming (WebSocket sign-in) server port"),
    _Setting("start_endpoint", "STREAMING_START_ENDPOINT", _endpoint, "WebSocket path of the sign-in"),
    _Setting("port_range", "STREAMING_PORT_BINDING_RANGE", PortRange.parse, "UDP ports media may bind, FIRST-LAST"),
    _Setting(
        "ice_addresses",
        "ICE_HOST_ADDRESSES",
        _addresses,
        "comma-separated addresses to gather ICE host candidates on "
        "(default: STREAM_APP_HOST when it is one address, else every non-loopback address)",
    ),
    _Setting("width", "VIDEO_WIDTH", _positive, "video width in pixels (the app may change it)"),
    _Setting("height", "VIDEO_HEIGHT", _positive, "video height in pixels (the app may change it)"),
    _Setting("fps", "VIDEO_FPS", _positive, "video frames per second"),
    _Setting(
        "app",
        "STREAM_APP_FACTORY",
        _app_spec,
        "the app to serve, module:factory (factory(config) returns a stream_app.StreamApp); "
        "empty: the built-in test pattern",
    ),
    _Setting(
        "resume_window",
        "STREAM_APP_RESUME_WINDOW",
        _seconds,
        "seconds a session waits for its client to come back after losing it (0: end at once)",
    ),
    _Setting(
        "idle_timeout",
        "STREAM_APP_IDLE_TIMEOUT",
        _seconds,
        "end the session after this many seconds without an input message from the client (0: never)",
    ),
    _Setting(
        "exit_after_session",
        "STREAM_APP_EXIT_AFTER_SESSION",
        _bool,
        "exit with status 0 when a session ends instead of becoming ready again "
        "(default: on in a container: /.dockerenv, KUBERNETES_SERVICE_HOST or NVCF_FUNCTION_ID)",
    ),
    _Setting(
        "relay_only",
        "STREAM_APP_RELAY_ONLY",
        _bool,
        "use only TURN relay candidates (the client is told to do the same)",
    ),
    _Setting(
        "input_rate",
        "STREAM_APP_INPUT_RATE",
        _positive_float,
        "input messages a second allowed (both input channels together)",
    ),
    _Setting("input_burst", "STREAM_APP_INPUT_BURST", _positive, "input messages allowed in a burst"),
)


def _parse(parse: Callable[[str], Any], text: str, source: str) -> Any:
    try:
        return parse(text)
    except (ValueError, PortRangeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(
    argv: Sequence[str] | None, env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")
) -> StreamAppConfig:
    """Build the config from defaults, then the environment, then command-line flags."""
    defaults = StreamAppConfig()
    values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in fields(StreamAppConfig)}
    values["exit_after_session"] = in_container(env, dockerenv)
    for setting in _SETTINGS:
        if env.get(setting.env):
            values[setting.field] = _parse(setting.parse, env[setting.env], setting.env)
    try:
        media = MediaConfig.from_env(env)
    except MediaConfigError as exc:
        raise ConfigError(str(exc)) from None
    parser = argparse.ArgumentParser(
        prog="stream-app",
        description="NVCF streaming function: control server and WebRTC streaming server, "
        "serving your app (--app) or a stamped test pattern.",
    )
    for setting in _SETTINGS:
        default = values[setting.field]
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        if setting.parse is _bool:
            # --x / --no-x, since "--x false" reads badly.
            parser.add_argument(
                "--" + setting.field.replace("_", "-"),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{setting.help} [env {setting.env}; now: {shown}]",
            )
            continue
        parser.add_argument(
            "--" + setting.field.replace("_", "-"),
            metavar=setting.env,
            default=None,
            help=f"{setting.help} [env {setting.env}; now: {shown or 'unset'}]",
        )
    media_flags = parser.add_argument_group("media (docs/media.md)")
    for media_setting in MEDIA_SETTINGS:
        media_flags.add_argument(
            "--" + media_setting.field.replace("_", "-"),
            metavar=media_setting.env,
            default=None,
            help=f"{media_setting.help} [env {media_setting.env}; now: {_shown(getattr(media, media_setting.field))}]",
        )
    args = parser.parse_args(argv)
    flags = {
        s.field: (getattr(args, s.field), "--" + s.field.replace("_", "-"))
        for s in MEDIA_SETTINGS
        if getattr(args, s.field) is not None
    }
    try:
        media = media.with_settings(flags)
    except MediaConfigError as exc:
        raise ConfigError(str(exc)) from None
    values["media"] = media
    for setting in _SETTINGS:
        flag = getattr(args, setting.field)
        if isinstance(flag, bool):
            values[setting.field] = flag
        elif flag is not None:
            values[setting.field] = _parse(setting.parse, flag, "--" + setting.field.replace("_", "-"))
    if not values["ice_addresses"]:
        values["ice_addresses"] = default_ice_addresses(values["host"])
    config = StreamAppConfig(**values)
    if config.fps > config.media.max_fps:
        raise ConfigError(f"VIDEO_FPS {config.fps} is above MEDIA_MAX_FPS {config.media.max_fps}")
    if config.width % 2 or config.height % 2:
        raise ConfigError(f"video size {config.width}x{config.height} must be even")
    return config
