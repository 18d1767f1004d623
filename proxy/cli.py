"""`stream-proxy`: run the proxy with settings from the environment, overridden by flags."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence

from aiohttp import web

from proxy.config import SETTINGS, ConfigError, ProxyConfig, Setting, load_config
from proxy.server import ProxyAccessLogger, make_app

logger = logging.getLogger("proxy")

_PROG = "stream-proxy"


def _flag_help(setting: Setting) -> str:
    # `%` is argparse's format character; double it so help texts may contain one.
    return f"{setting.help} [env {setting.env}; default: {setting.shown_default}]".replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every setting of `proxy.config.SETTINGS` appears in its help."""
    env_only = "\n".join(
        textwrap.fill(f"{s.env}: {s.help}", initial_indent="  ", subsequent_indent="    ")
        for s in SETTINGS
        if s.flag is None
    )
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=textwrap.fill(
            "Check browser tokens and forward the /sign_in WebSocket to NVCF's streaming relay, "
            "adding the NVCF API key and the streaming function id. Each flag overrides the "
            "environment variable named in its help."
        ),
        epilog=textwrap.fill(
            "environment only (secret values are never taken from the command line, which other users can see):"
        )
        + "\n"
        + env_only,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for setting in SETTINGS:
        if setting.flag is None:
            continue
        parser.add_argument(
            setting.flag,
            dest=setting.env,
            metavar=setting.env,
            default=None,  # None: not given, so the environment (or the default) decides.
            help=_flag_help(setting),
        )
    return parser


def parse_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> ProxyConfig:
    """Parse flags and environment into a config; raises `ConfigError` (argparse exits itself)."""
    args = build_parser().parse_args(argv)
    overrides: dict[str, str | None] = vars(args)
    return load_config(env, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stream-proxy` and `python -m proxy`; returns the exit status."""
    try:
        config = parse_config(argv, os.environ)
    except ConfigError as exc:
        # One line and status 2, like argparse's own usage errors; no traceback for a bad setting.
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.info(
        "listening on http://%s:%d, upstream %s, function %s, web client %s",
        config.host,
        config.port,
        config.upstream_url,
        config.function_id,
        config.web_client_dir,
    )
    web.run_app(
        make_app(config),
        host=config.host,
        port=config.port,
        access_log_class=ProxyAccessLogger,
        # Cancel a session's handler when its browser disconnects; the bridge then closes the
        # upstream side with 1001 instead of waiting to notice.
        handler_cancellation=True,
        print=None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
