"""A `StreamApp` for tests: streams the test pattern and records every event it is given."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stream_app import SessionInfo, StreamApp
from stream_app.app import VideoSource
from stream_app.config import StreamAppConfig
from stream_app.input_protocol import InputEvent, Resize
from stream_app.media import pattern_source


class RecordingApp(StreamApp):
    """Records `(name, *args)` for every handler call; `fail_on_input` makes `on_input` raise."""

    def __init__(self, config: StreamAppConfig, *, fail_on_input: bool = False) -> None:
        self._source = pattern_source(config.width, config.height, config.fps)
        self.events: list[tuple[Any, ...]] = []
        self.fail_on_input = fail_on_input

    def video(self) -> VideoSource:
        return self._source

    def on_session_started(self, info: SessionInfo) -> None:
        self.events.append(("started", info))

    def on_input(self, event: InputEvent) -> None:
        self.events.append(("input", event))
        if self.fail_on_input:
            raise RuntimeError("a bug in the app")

    def on_message(self, message: Any) -> None:
        self.events.append(("message", message))

    def on_resize(self, event: Resize) -> None:
        self.events.append(("resize", event))

    async def on_client_lost(self, info: SessionInfo) -> None:  # async on purpose: both kinds work
        await asyncio.sleep(0)
        self.events.append(("lost", info))

    def on_client_resumed(self, info: SessionInfo) -> None:
        self.events.append(("resumed", info))

    def on_session_ended(self, info: SessionInfo, reason: str) -> None:
        self.events.append(("ended", info, reason))

    def names(self) -> list[str]:
        return [event[0] for event in self.events]

    def inputs(self) -> list[InputEvent]:
        return [event[1] for event in self.events if event[0] in ("input", "resize")]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until `name` has been recorded `count` times."""
        deadline = time.monotonic() + timeout
        while self.names().count(name) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} x{count} never came; events: {self.names()}")
            await asyncio.sleep(0.02)
