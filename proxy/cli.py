"""`stream-proxy`: run the proxy with settings from a file, the environment and flags.

On SIGTERM (or SIGINT) the proxy drains: `/readyz` fails and new sign-ins are closed with 1001
at once, open sessions may go on for `PROXY_DRAIN_SECONDS`, then they are closed with 1001 and
the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Mapping, Sequence

import uvloop
from aiohttp import web

from observability import configure_logging
from proxy.closecodes import CloseCode
from proxy.config import SETTINGS, ConfigError, ProxyConfig, Setting, load_config
from proxy.server import make_app, make_metrics_app, runner_options
from proxy.signin import end_all_sessions
from proxy.state import STATE

logger = logging.getLogger("proxy")

_PROG = "stream-proxy"


def _flag_help(setting: Setting) -> str:
    # `%` is argparse's format character; double it so help texts may contain one.
    return f"{setting.help} [env {setting.env}; default: {setting.shown_default}]".replace("%", "%%")


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; every setting of `proxy.config.SETTINGS` appears in its help.

    Secret settings are shown only as set or unset in `env`, never with their value.
    """
    env = os.environ if env is None else env
    env_only = "\n".join(
        textwrap.fill(
            f"{s.env}: {s.help} [now: {'set' if env.get(s.env) else 'unset'}]",
            initial_indent="  ",
            subsequent_indent="    ",
        )
        for s in SETTINGS
        if s.flag is None
    )
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=textwrap.fill(
            "Check browser tokens, authorize users for streaming functions and forward the "
            "/sign_in WebSocket to NVCF's streaming relay, adding the NVCF API key and the function "
            "id. Each flag overrides the environment variable named in its help, which overrides "
            "the config file (PROXY_CONFIG_FILE). SIGTERM drains: readiness fails, sessions get "
            "PROXY_DRAIN_SECONDS, then close with 1001."
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
    args = build_parser(env).parse_args(argv)
    overrides: dict[str, str | None] = vars(args)
    return load_config(env, overrides)


async def serve(config: ProxyConfig) -> None:
    """Run the proxy until SIGTERM/SIGINT, then drain and stop."""
    app = make_app(config)
    runner = web.AppRunner(app, shutdown_timeout=5.0, **runner_options(config))
    await runner.setup()
    site = web.TCPSite(runner, host=config.host, port=config.port)
    await site.start()
    runners = [runner]
    if config.metrics_port is not None:
        metrics_runner = web.AppRunner(make_metrics_app(app), access_log=None)
        await metrics_runner.setup()
        await web.TCPSite(metrics_runner, host=config.host, port=config.metrics_port).start()
        runners.insert(0, metrics_runner)
    state = app[STATE]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger.info(
        "listening on http://%s:%d, upstream %s, functions %s, web client %s",
        config.host,
        config.port,
        config.upstream_url,
        ", ".join(config.access_policy.functions),
        config.web_client_dir,
    )
    try:
        await stop.wait()
        state.draining.set()
        logger.info(
            "draining: %d session(s) open, closing them in at most %gs", len(state.sessions), config.drain_seconds
        )
        deadline = loop.time() + config.drain_seconds
        while state.sessions and loop.time() < deadline:
            await asyncio.sleep(min(0.1, deadline - loop.time()))
        await end_all_sessions(state, CloseCode.GOING_AWAY, "proxy shutting down")
    finally:
        for each in runners:
            await each.cleanup()
    logger.info("stopped")


def _secret_values(config: ProxyConfig) -> list[str]:
    values = (config.nvcf_api_key, config.jwt_secret, config.session_secret, config.redis_url)
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values if v]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stream-proxy` and `python -m proxy`; returns the exit status."""
    try:
        config = parse_config(argv, os.environ)
    except ConfigError as exc:
        # One line and status 2, like argparse's own usage errors; no traceback for a bad setting.
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    # observability: structured, redacted lines; the secrets the proxy holds are never written.
    configure_logging(
        "proxy",
        config.log_level,
        config.log_format,
        secrets=_secret_values(config),
    )
    if config.event_loop == "uvloop":
        uvloop.run(serve(config))
    else:
        asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
