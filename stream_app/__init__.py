"""The streaming function's container app: NVCF's control server and a WebRTC streaming server.

The app API (see docs/stream-app.md): subclass `StreamApp`, give it a video source (a
`FrameSource`, or an `EncodedSource` for H.264 it encodes itself), and run it with `stream-app --app module:factory`.
"""

from stream_app.app import SessionInfo, StreamApp
from stream_app.media import AudioSource, EncodedSource, FrameSource, MediaConfig

__all__ = ["AudioSource", "EncodedSource", "FrameSource", "MediaConfig", "SessionInfo", "StreamApp"]
