"""`stream-app`: run the control server and the streaming server until SIGINT or SIGTERM
(or, with `--exit-after-session`, until the first session ends); `stream-app doctor` checks why a
container does not stream (`stream_app.doctor`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from stream_app.app import AppFactory, load_factory
from stream_app.app_state import StreamAppState
from stream_app.config import ConfigError, StreamAppConfig, load_config
from stream_app.control import make_control_app
from stream_app.doctor import command as doctor
from stream_app.logs import configure_logging
from stream_app.session import REASON_SHUTDOWN
from stream_app.streaming import make_streaming_app

logger = logging.getLogger("stream_app")


async def serve(config: StreamAppConfig, factory: AppFactory) -> None:
    """Start both servers, then wait for SIGINT/SIGTERM (or the session's end with
    `exit_after_session`), end the session politely and shut down."""
    state = StreamAppState(config, factory(config))
    control = web.AppRunner(make_control_app(state), access_log=None)
    streaming = web.AppRunner(make_streaming_app(state), access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await control.setup()
    await streaming.setup()
    try:
        await web.TCPSite(control, config.host, config.control_port).start()
        await web.TCPSite(streaming, config.host, config.streaming_port).start()
        logger.info(
            "control server on %s:%d, streaming server on %s:%d%s, media ports %s, ICE addresses %s",
            config.host,
            config.control_port,
            config.host,
            config.streaming_port,
            config.start_endpoint,
            config.port_range,
            ",".join(config.ice_addresses) or "all",
        )
        state.started = True
        waits = [asyncio.create_task(stop.wait())]
        if config.exit_after_session:
            waits.append(asyncio.create_task(state.slot.session_over.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        if stop.is_set():
            logger.info("stopping: signal received")
            await state.slot.end_current(REASON_SHUTDOWN)
        else:
            logger.info("stopping: the session is over (--exit-after-session)")
    finally:
        await streaming.cleanup()
        await control.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `stream-app` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["doctor"]:
        return doctor.main(args[1:], os.environ)
    # As `python -m` does, let `--app` name modules in the current directory (e.g. `examples.paint`).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        config = load_config(args, os.environ)
    except ConfigError as exc:
        print(f"stream-app: {exc}", file=sys.stderr)
        return 2
    configure_logging(config)
    try:
        factory = load_factory(config.app)
    except ConfigError as exc:
        print(f"stream-app: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config, factory))
    except OSError as exc:
        print(f"stream-app: {exc}", file=sys.stderr)
        return 1
    return 0
