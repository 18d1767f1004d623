"""`nvcf-local`: serve the control API and the sign-in relay until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from deploy.nvcf_local.app import make_app
from deploy.nvcf_local.config import SETTINGS, ConfigError, NvcfLocalConfig, load_config
from deploy.nvcf_local.definition import DefinitionError, load_definition
from deploy.nvcf_local.store import StateError, Store
from observability import configure_logging, set_log_context
from settings import secret_values

logger = logging.getLogger("deploy.nvcf_local")


class StartError(RuntimeError):
    """nvcf-local could not start serving (e.g. its port is taken)."""


async def serve(config: NvcfLocalConfig, store: Store, definition_body: dict[str, Any] | None) -> None:
    """Run until SIGINT/SIGTERM, then close sessions and stop every instance."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Bound before the app starts, so a taken port stops nvcf-local before any instance starts.
    try:
        sock = socket.create_server((config.host, config.port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StartError(f"cannot listen on {config.host}:{config.port}: {reason}") from None
    runner = web.AppRunner(make_app(config, store, definition_body), access_log=None)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        base = f"{config.host}:{config.port}"
        logger.info("control API on http://%s/v2/nvcf, relay on ws://%s/sign_in", base, base)
        await stop.wait()
        logger.info("stopping")
    finally:
        await runner.cleanup()
        sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nvcf-local` console script."""
    try:
        config = load_config(argv, os.environ)
    except ConfigError as exc:
        print(f"nvcf-local: {exc}", file=sys.stderr)
        return 2
    # observability: structured, redacted lines; the API key and TURN secrets are never written.
    configure_logging(
        "nvcf-local",
        config.log.level,
        config.log.format,
        secrets=secret_values(config, SETTINGS.secret_fields),
    )
    set_log_context(function_id=config.function_id if config.definition is not None else None)
    body: dict[str, Any] | None = None
    if config.definition is not None:
        try:
            definition = load_definition(config.definition)
        except DefinitionError as exc:
            print(f"nvcf-local: invalid function definition: {exc}", file=sys.stderr)
            return 2
        for field in definition.ignored_fields:
            logger.info("definition field %s is not used by nvcf-local", field)
        for warning in definition.warnings:
            logger.warning("definition: %s", warning)
        body = json.loads(config.definition.read_text(encoding="utf-8"))
        # Printed, not only logged, so a person or script starting nvcf-local can pick the ids up.
        print(
            f"nvcf-local: function {definition.name} id {config.function_id} version {config.version_id}",
            flush=True,
        )
    try:
        store = Store(config.state)
    except StateError as exc:
        print(f"nvcf-local: {exc}", file=sys.stderr)
        return 2
    if config.state is None:
        logger.info("state in memory only; pass --state FILE to keep functions and deployments across restarts")
    try:
        asyncio.run(serve(config, store, body))
    except StartError as exc:
        print(f"nvcf-local: {exc}", file=sys.stderr)
        return 1
    return 0
