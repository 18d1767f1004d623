"""The streaming function's container app: NVCF's control server and a WebRTC streaming server.

The app API (see docs/stream-app.md): subclass `StreamApp`, give it a video source (a
`FrameSource`), and run it with `stream-app --app module:factory`.
"""

from stream_app.app import SessionInfo, StreamApp
from stream_app.media_seam import AudioSource, FrameSource

__all__ = ["AudioSource", "FrameSource", "SessionInfo", "StreamApp"]
