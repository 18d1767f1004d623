"""`nvcf-local`: serve the status API and the sign-in relay until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from aiohttp import web

from deploy.nvcf_local.app import make_app
from deploy.nvcf_local.config import ConfigError, NvcfLocalConfig, load_config
from deploy.nvcf_local.definition import (
    DefinitionError,
    FunctionDefinition,
    load_definition,
)

logger = logging.getLogger("deploy.nvcf_local")


class StartError(RuntimeError):
    """nvcf-local could not start serving (e.g. its port is taken)."""


async def serve(config: NvcfLocalConfig, definition: FunctionDefinition) -> None:
    """Run until SIGINT/SIGTERM, then close sessions and stop the instance."""
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
    runner = web.AppRunner(make_app(config, definition), access_log=None)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        base = f"{config.host}:{config.port}"
        logger.info(
            "relay on ws://%s/sign_in, status on http://%s/v2/nvcf/functions/%s/versions",
            base,
            base,
            config.function_id,
        )
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
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        definition = load_definition(config.definition)
    except DefinitionError as exc:
        print(f"nvcf-local: invalid function definition: {exc}", file=sys.stderr)
        return 2
    for field in definition.ignored_fields:
        logger.info("definition field %s is not used by nvcf-local", field)
    for warning in definition.warnings:
        logger.warning("definition: %s", warning)
    # Printed, not only logged, so a person or script starting nvcf-local can pick the ids up.
    print(
        f"nvcf-local: function {definition.name} id {config.function_id} version {config.version_id}",
        flush=True,
    )
    try:
        asyncio.run(serve(config, definition))
    except StartError as exc:
        print(f"nvcf-local: {exc}", file=sys.stderr)
        return 1
    return 0
