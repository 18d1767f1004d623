"""The stream app's settings: one frozen dataclass, read from the environment, overridable by flags."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

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
        "(default: NVCF_WORKER_NODE_IP if set, else every non-loopback address)",
    ),
    _Setting("width", "VIDEO_WIDTH", _positive, "test pattern width in pixels"),
    _Setting("height", "VIDEO_HEIGHT", _positive, "test pattern height in pixels"),
    _Setting("fps", "VIDEO_FPS", _positive, "test pattern frames per second"),
)


def _parse(parse: Callable[[str], Any], text: str, source: str) -> Any:
    try:
        return parse(text)
    except (ValueError, PortRangeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> StreamAppConfig:
    """Build the config from defaults, then the environment, then command-line flags."""
    defaults = StreamAppConfig()
    values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in fields(StreamAppConfig)}
    if env.get("NVCF_WORKER_NODE_IP"):
        values["ice_addresses"] = _parse(_addresses, env["NVCF_WORKER_NODE_IP"], "NVCF_WORKER_NODE_IP")
    for setting in _SETTINGS:
        if env.get(setting.env):
            values[setting.field] = _parse(setting.parse, env[setting.env], setting.env)
    parser = argparse.ArgumentParser(
        prog="stream-app",
        description="NVCF streaming function: control server and WebRTC streaming server, "
        "serving a stamped test pattern.",
    )
    for setting in _SETTINGS:
        default = values[setting.field]
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        parser.add_argument(
            "--" + setting.field.replace("_", "-"),
            metavar=setting.env,
            default=None,
            help=f"{setting.help} [env {setting.env}; now: {shown or 'unset'}]",
        )
    args = parser.parse_args(argv)
    for setting in _SETTINGS:
        flag = getattr(args, setting.field)
        if flag is not None:
            values[setting.field] = _parse(setting.parse, flag, "--" + setting.field.replace("_", "-"))
    config = StreamAppConfig(**values)
    if config.width % 2 or config.height % 2:
        raise ConfigError(f"video size {config.width}x{config.height} must be even")
    return config
