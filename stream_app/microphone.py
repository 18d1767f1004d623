"""The client's microphone: Opus the page sends (off by default, its `mic=1` option), decoded by
aiortc and handed to the app frame by frame (`StreamApp.on_microphone`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

logger = logging.getLogger(__name__)


async def receive_microphone(session_id: str, track: MediaStreamTrack, deliver: Callable[[AudioFrame], None]) -> None:
    """Pass every frame of `track` to `deliver` until the track ends (its peer connection closed).

    The track is read even when the app takes no sound: aiortc queues received frames without
    bound until someone reads them.
    """
    logger.info("session %s: the client sends its microphone", session_id)
    frames = 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            break
        if isinstance(frame, AudioFrame):
            frames += 1
            deliver(frame)
    logger.info("session %s: the client's microphone ended after %d frames", session_id, frames)
