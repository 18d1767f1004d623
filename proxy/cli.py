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
from collections.abc import Mapping, Sequence

import uvloop
from aiohttp import web

import settings
from observability import configure_logging
from proxy.closecodes import CloseCode
from proxy.config import SETTINGS, ConfigError, ProxyConfig, load_config
from proxy.server import make_app, make_metrics_app, runner_options
from proxy.signin import end_all_sessions
from proxy.state import STATE

logger = logging.getLogger("proxy")

_PROG = SETTINGS.prog


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; every setting of `proxy.config.SETTINGS` appears in its help.

    Secret settings are shown only as set or unset in `env`, never with their value.
    """
    return settings.build_parser(SETTINGS, os.environ if env is None else env)


def parse_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> ProxyConfig:
    """Parse flags and environment into a config; raises `ConfigError` (argparse exits itself)."""
    args = build_parser(env).parse_args(argv)
    return load_config(env, {SETTINGS.setting(field).env: value for field, value in vars(args).items()})


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
        config.log.level,
        config.log.format,
        secrets=settings.secret_values(config, SETTINGS.secret_fields),
    )
    if config.event_loop == "uvloop":
        uvloop.run(serve(config))
    else:
        asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
