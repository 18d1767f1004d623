"""nvcf-deploy's settings: one frozen dataclass, from the environment, overridable by flags.

`SETTINGS` declares the global settings once (`settings.Setting`); the CLI adds their flags to its
parser, which also holds the subcommands.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from settings import (
    LogConfig,
    Setting,
    SettingsError,
    SettingsGroup,
    add_flags,
    log_config,
    log_settings,
    masked_repr,
    parsers,
    read_secret_file,
    resolve,
)

DEFAULT_BASE_URL: Final = "https://api.nvcf.nvidia.com"

ConfigError = SettingsError
"""A setting that is missing or unusable; the message names the flag or variable."""


@dataclass(frozen=True, repr=False)
class DeployConfig:
    """Where the control API is, the key to use, and how long to wait for a deployment."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 900.0
    poll_interval: float = 5.0
    request_timeout: float = 60.0
    retries: int = 4
    dry_run: bool = False

    def __repr__(self) -> str:
        return masked_repr(self, SETTINGS.secret_fields)


def _base_url(text: str) -> str:
    base = text.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"{base!r} must start with http:// or https://")
    return base


SETTINGS: Final = SettingsGroup(
    prog="nvcf-deploy",
    description="Create, deploy, watch, list and delete NVCF STREAMING functions (or nvcf-local's).",
    epilog="Exit status: 0 ok, 1 failed (API error, ERROR status, broken definition), 2 usage, 3 timeout.",
    defaults_from=DeployConfig,
    settings=(
        Setting(
            "base_url",
            "NVCF_API_BASE",
            _base_url,
            "control API base URL, e.g. http://127.0.0.1:8090 for nvcf-local",
            metavar="URL",
        ),
        Setting("api_key", "NVCF_API_KEY", parsers.text, "the API key (or NGC_API_KEY)", flag=None, secret=True),
        Setting(
            "ngc_api_key",
            "NGC_API_KEY",
            parsers.text,
            "the API key, when NVCF_API_KEY is unset",
            flag=None,
            secret=True,
        ),
        Setting(
            "api_key_file",
            "NVCF_API_KEY_FILE",
            parsers.path,
            "file holding the API key (instead of NVCF_API_KEY)",
            metavar="PATH",
        ),
        Setting(
            "timeout",
            "NVCF_DEPLOY_TIMEOUT",
            parsers.positive_seconds,
            "how long status --wait (and up) wait for ACTIVE or ERROR",
            metavar="SECONDS",
        ),
        Setting(
            "poll_interval",
            "NVCF_DEPLOY_POLL_INTERVAL",
            parsers.positive_seconds,
            "time between status polls",
            metavar="SECONDS",
        ),
        Setting(
            "retries",
            "NVCF_DEPLOY_RETRIES",
            parsers.count,
            "tries again after a transient failure (429, 5xx, no answer), honouring Retry-After",
            metavar="COUNT",
        ),
        Setting(
            "dry_run",
            "NVCF_DEPLOY_DRY_RUN",
            parsers.boolean,
            "print the requests that would be sent, send nothing (no API key needed)",
            switch=True,
        ),
        # WARNING: the commands' own output is printed, not logged; these are library lines.
        *log_settings(level_default="WARNING"),
    ),
)
"""nvcf-deploy's global settings, declared once."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The global flags (each also an environment variable)."""
    add_flags(parser, SETTINGS)


def load_log_config(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[LogConfig, list[str]]:
    """How to log, and the secret values no log line may show (known before any command runs)."""
    loaded = resolve(SETTINGS, vars(args), env)
    return log_config(loaded), [str(loaded[name]) for name in sorted(SETTINGS.secret_fields) if loaded[name]]


def load_config(args: argparse.Namespace, env: Mapping[str, str]) -> DeployConfig:
    """Build the config from `args` (flags win), then `env`, then defaults; read the key file."""
    loaded = resolve(SETTINGS, vars(args), env)
    if loaded["api_key_file"] is not None:
        key = read_secret_file(loaded["api_key_file"], "NVCF_API_KEY_FILE").decode(errors="replace")
    else:
        key = loaded["api_key"] or loaded["ngc_api_key"] or ""
    if not key and not loaded["dry_run"]:
        raise ConfigError("an API key is required: set NVCF_API_KEY (or NGC_API_KEY), or pass --api-key-file PATH")
    return DeployConfig(
        api_key=key,
        base_url=loaded["base_url"],
        timeout=loaded["timeout"],
        poll_interval=loaded["poll_interval"],
        retries=loaded["retries"],
        dry_run=loaded["dry_run"],
    )
