"""The latency-tuned media pipeline: app video and audio in, our encoders, RTP to the browser.

See docs/media.md. The session calls `attach_media` between applying the client's offer and
creating the answer.
"""

from stream_app.media.attach import MediaNegotiationError, MediaSession, MediaStats, attach_media
from stream_app.media.audio_source import AudioSource
from stream_app.media.config import MEDIA_SETTINGS, MediaConfig, MediaConfigError
from stream_app.media.encoded_source import EncodedSource
from stream_app.media.encoders import EncoderStats, h264_nvenc_available
from stream_app.media.frames import PIXEL_FORMATS, PixelBuffer, frame_from_buffer, to_video_frame
from stream_app.media.pattern_source import pattern_source
from stream_app.media.video_source import FrameSource

__all__ = [
    "MEDIA_SETTINGS",
    "PIXEL_FORMATS",
    "AudioSource",
    "EncodedSource",
    "EncoderStats",
    "FrameSource",
    "MediaConfig",
    "MediaConfigError",
    "MediaNegotiationError",
    "MediaSession",
    "MediaStats",
    "PixelBuffer",
    "attach_media",
    "frame_from_buffer",
    "h264_nvenc_available",
    "pattern_source",
    "to_video_frame",
]
