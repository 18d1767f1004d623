"""The frame stamp survives painting, colour conversion and a real video codec round trip."""

import fractions

import av
import numpy as np
import pytest

from stream_app import stamp
from stream_app.media.pattern_source import PatternTrack


def test_paint_then_read_returns_the_same_time() -> None:
    luma = np.zeros((32, 1280), dtype=np.uint8)
    stamp.paint(luma, 1_795_581_334_943)
    assert stamp.read(luma) == 1_795_581_334_943


def test_cell_i_is_white_exactly_when_bit_i_is_set() -> None:
    luma = np.zeros((16, stamp.STAMP_WIDTH), dtype=np.uint8)
    stamp.paint(luma, 0b101)
    assert luma[8, 8] == 255 and luma[8, 24] == 0 and luma[8, 40] == 255 and luma[8, 56] == 0


@pytest.mark.parametrize("value", [-1, 1 << 48])
def test_time_outside_48_bits_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="48 bits"):
        stamp.paint(np.zeros((16, stamp.STAMP_WIDTH), dtype=np.uint8), value)


def test_frame_narrower_than_the_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="768x16"):
        stamp.paint(np.zeros((16, 640), dtype=np.uint8), 1)


@pytest.mark.parametrize("codec", ["libvpx", "libx264"])
def test_stamp_survives_a_low_bitrate_encode_and_decode(codec: str) -> None:
    track = PatternTrack(1280, 720, 60)
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = 1280, 720, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 60)
    encoder.bit_rate = 300_000  # far below what 720p wants: blocky, yet the stamp must read back
    encoder.options = (
        {"deadline": "realtime", "cpu-used": "8"}
        if codec == "libvpx"
        else {"preset": "ultrafast", "tune": "zerolatency"}
    )
    decoder = av.CodecContext.create("vp8" if codec == "libvpx" else "h264", "r")
    times = [1_700_000_000_000 + 17 * i for i in range(10)]
    decoded = []
    for i, capture_ms in enumerate(times):
        frame = track._draw(i, capture_ms)
        frame.pts = i
        for packet in encoder.encode(frame):
            decoded += [f.to_ndarray(format="gray") for f in decoder.decode(packet)]
    for packet in encoder.encode(None):
        decoded += [f.to_ndarray(format="gray") for f in decoder.decode(packet)]
    assert [stamp.read(luma) for luma in decoded] == times
