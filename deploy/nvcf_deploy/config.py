"""nvcf-deploy's settings: one frozen dataclass, from the environment, overridable by flags."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BASE_URL = "https://api.nvcf.nvidia.com"


class ConfigError(ValueError):
    """A setting that is missing or unusable; the message names the flag and variable."""


@dataclass(frozen=True)
class DeployConfig:
    """Where the control API is, the key to use, and how long to wait for a deployment."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 900.0
    poll_interval: float = 5.0
    request_timeout: float = 60.0
    retries: int = 4
    dry_run: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The global flags (each also an environment variable)."""
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=(
            "control API base URL, e.g. http://127.0.0.1:8090 for nvcf-local "
            f"[env NVCF_API_BASE; default {DEFAULT_BASE_URL}]"
        ),
    )
    parser.add_argument(
        "--api-key-file",
        metavar="PATH",
        help="file holding the API key [env NVCF_API_KEY_FILE; or the key itself in NVCF_API_KEY or NGC_API_KEY]",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        help="how long status --wait (and up) wait for ACTIVE or ERROR [env NVCF_DEPLOY_TIMEOUT; default 900]",
    )
    parser.add_argument(
        "--poll-interval",
        metavar="SECONDS",
        type=float,
        help="time between status polls [env NVCF_DEPLOY_POLL_INTERVAL; default 5]",
    )
    parser.add_argument(
        "--retries",
        metavar="COUNT",
        type=int,
        help="tries again after a transient failure (429, 5xx, no answer), honouring Retry-After "
        "[env NVCF_DEPLOY_RETRIES; default 4]",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the requests that would be sent, send nothing (no API key needed)",
    )


def _seconds(text: str | float, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{source}: {text!r} is not a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"{source}: must be more than 0 seconds")
    return value


def _api_key(args: argparse.Namespace, env: Mapping[str, str], needed: bool) -> str:
    path = args.api_key_file or env.get("NVCF_API_KEY_FILE")
    if path:
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"API key file {path}: {exc.strerror or exc}") from None
        if not key:
            raise ConfigError(f"API key file {path} is empty")
        return key
    key = (env.get("NVCF_API_KEY") or env.get("NGC_API_KEY") or "").strip()
    if not key and needed:
        raise ConfigError("an API key is required: set NVCF_API_KEY (or NGC_API_KEY), or pass --api-key-file PATH")
    return key


def load_config(args: argparse.Namespace, env: Mapping[str, str]) -> DeployConfig:
    """Build the config from `args` (flags win), then `env`, then defaults."""
    base = (args.base_url or env.get("NVCF_API_BASE") or DEFAULT_BASE_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url / NVCF_API_BASE: {base!r} must start with http:// or https://")
    timeout = args.timeout if args.timeout is not None else env.get("NVCF_DEPLOY_TIMEOUT", 900.0)
    poll = args.poll_interval if args.poll_interval is not None else env.get("NVCF_DEPLOY_POLL_INTERVAL", 5.0)
    retries = args.retries if args.retries is not None else env.get("NVCF_DEPLOY_RETRIES", 4)
    return DeployConfig(
        api_key=_api_key(args, env, needed=not args.dry_run),
        base_url=base,
        timeout=_seconds(timeout, "--timeout / NVCF_DEPLOY_TIMEOUT"),
        poll_interval=_seconds(poll, "--poll-interval / NVCF_DEPLOY_POLL_INTERVAL"),
        retries=_count(retries, "--retries / NVCF_DEPLOY_RETRIES"),
        dry_run=bool(args.dry_run),
    )


def _count(text: str | int, source: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{source}: {text!r} is not a whole number") from None
    if value < 0:
        raise ConfigError(f"{source}: must be 0 or more")
    return value
