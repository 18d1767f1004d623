"""The textured scene: stamped like the test pattern, moving, and hard enough to need its bitrate."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from benchmarks.scene import TexturedScene, make_app
from stream_app import FrameSource, stamp
from stream_app.config import StreamAppConfig
from stream_app.media.pattern_source import StampedPattern


def _luma(frame: av.VideoFrame, height: int) -> np.ndarray:
    return frame.to_ndarray(format="yuv420p")[:height]


def test_every_frame_carries_its_capture_time_and_the_picture_moves() -> None:
    scene = TexturedScene(1280, 720)
    first, second = _luma(scene.draw(0, 1_764_000_000_123), 720), _luma(scene.draw(1, 1_764_000_000_140), 720)
    assert stamp.read(first) == 1_764_000_000_123
    assert stamp.read(second) == 1_764_000_000_140
    assert np.mean(first[16:] != second[16:]) > 0.5  # most of the picture changes from frame to frame


def test_a_frame_too_small_for_the_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="must be even and at least 768x160"):
        TexturedScene(640, 360)


def _mbit(render: object, frames: int = 60, rate: int = 20_000_000) -> float:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 1280, 720, "yuv420p"
    codec.time_base = fractions.Fraction(1, 60)
    codec.bit_rate = rate
    kbit = rate // 1000
    codec.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "x264-params": f"vbv-maxrate={kbit}:vbv-bufsize={kbit // 30}",
    }
    size = 0
    for index in range(frames):
        frame = render(index, 1_764_000_000_000 + index)  # type: ignore[operator]
        frame.pts = index
        size += sum(packet.size for packet in codec.encode(frame))
    return size * 8 * 60 / frames / 1e6


def test_x264_spends_most_of_20_mbit_on_the_scene_and_little_on_the_pattern() -> None:
    scene, pattern = _mbit(TexturedScene(1280, 720).draw), _mbit(StampedPattern(1280, 720).draw)
    assert scene > 12
    assert pattern < scene / 3


def test_the_app_factory_serves_the_scene_as_a_frame_source() -> None:
    app = make_app(StreamAppConfig(width=1280, height=720, fps=60))
    source = app.video()
    assert isinstance(source, FrameSource)
    assert source is app.video()  # one source for every peer connection, as StreamApp asks
