"""What the control server and the streaming server share: credentials and the session slot."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from stream_app.config import StreamAppConfig
from stream_app.creds import Creds
from stream_app.session import SessionSlot


@dataclass
class StreamAppState:
    """State of one running stream app; built once, handed to both app factories."""

    config: StreamAppConfig
    slot: SessionSlot = field(default_factory=SessionSlot)
    creds: Creds | None = None


STATE = web.AppKey("state", StreamAppState)
