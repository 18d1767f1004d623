"""Runs a real stream app (control + streaming servers) in the test's event loop, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from stream_app.app import AppFactory, PatternApp
from stream_app.app_state import StreamAppState
from stream_app.config import StreamAppConfig
from stream_app.control import make_control_app
from stream_app.ports import PortRange
from stream_app.streaming import make_streaming_app

NVCF_RANGE = PortRange(47998, 48020)


@dataclass
class RunningStreamApp:
    state: StreamAppState
    control_url: str
    sign_in_url: str


def _bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])


@asynccontextmanager
async def running_stream_app(
    port_range: PortRange = NVCF_RANGE,
    *,
    width: int = 960,
    height: int = 540,
    fps: int = 30,
    app_factory: AppFactory = PatternApp,
    **settings: Any,
) -> AsyncIterator[RunningStreamApp]:
    """Both servers on OS-chosen loopback ports, gathering ICE on 127.0.0.1 inside `port_range`.

    `settings` override any other `StreamAppConfig` field (e.g. `resume_window=1.0`).
    """
    config = StreamAppConfig(
        host="127.0.0.1",
        control_port=0,
        streaming_port=0,
        port_range=port_range,
        ice_addresses=("127.0.0.1",),
        width=width,
        height=height,
        fps=fps,
        **settings,
    )
    state = StreamAppState(config, app_factory(config))
    control = web.AppRunner(make_control_app(state))
    streaming = web.AppRunner(make_streaming_app(state))
    await control.setup()
    await streaming.setup()
    try:
        await web.TCPSite(control, "127.0.0.1", 0).start()
        await web.TCPSite(streaming, "127.0.0.1", 0).start()
        state.started = True
        yield RunningStreamApp(
            state=state,
            control_url=f"http://127.0.0.1:{_bound_port(control)}",
            sign_in_url=f"ws://127.0.0.1:{_bound_port(streaming)}{config.start_endpoint}",
        )
    finally:
        await streaming.cleanup()
        await control.cleanup()
