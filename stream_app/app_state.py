"""What the control server and the streaming server share: the app, credentials and the session slot."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from stream_app.app import StreamApp
from stream_app.app_channel import AppOutbox, PageLink
from stream_app.config import StreamAppConfig
from stream_app.creds import Creds
from stream_app.metrics import StreamAppMetrics
from stream_app.session import SessionSlot


@dataclass
class StreamAppState:
    """State of one running stream app; built once (inside the event loop), handed to both app factories."""

    config: StreamAppConfig
    app: StreamApp
    slot: SessionSlot = field(default_factory=SessionSlot)
    creds: Creds | None = None
    started: bool = False
    metrics: StreamAppMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = StreamAppMetrics(self.slot, self.config.port_range)
        self.app.bind_page(PageLink(self._outbox))

    def _outbox(self) -> AppOutbox | None:
        session = self.slot.current
        return None if session is None or session.ended else session.app_outbox


STATE = web.AppKey("state", StreamAppState)
