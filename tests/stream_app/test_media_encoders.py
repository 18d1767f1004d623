"""Our encoders on their own: keyframes on request, GOP, bitrate clamp and following, size changes."""

import fractions
from collections.abc import Callable

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.codecs.vpx import VpxPayloadDescriptor

from benchmarks.scene import TexturedScene
from stream_app.media import MediaConfig
from stream_app.media import encoders as encoders_module
from stream_app.media.encoders import LowLatencyH264Encoder, LowLatencyVp8Encoder, make_video_encoder
from stream_app.media.pattern_source import StampedPattern

TIME_BASE = fractions.Fraction(1, 90_000)
IDR = 5


def pattern_frames(
    count: int, width: int = 1280, height: int = 720, fps: int = 60, start: int = 0
) -> list[av.VideoFrame]:
    pattern = StampedPattern(width, height, fps)
    frames = []
    for i in range(start, start + count):
        frame = pattern.draw(i, 1_700_000_000_000 + i)
        frame.pts = i * 90_000 // fps
        frame.time_base = TIME_BASE
        frames.append(frame)
    return frames


def h264_nal_types(payloads: list[bytes]) -> set[int]:
    """NAL unit types in RTP payloads (single NAL, STAP-A or the first FU-A fragment)."""
    types = set()
    for payload in payloads:
        _, data = H264PayloadDescriptor.parse(payload)
        for unit in data.split(b"\x00\x00\x00\x01")[1:]:
            types.add(unit[0] & 0x1F)
    return types


def vp8_is_keyframe(payloads: list[bytes]) -> bool:
    _, data = VpxPayloadDescriptor.parse(payloads[0])
    return not data[0] & 1  # VP8 frame tag: bit 0 is 0 for a key frame


def encode_all(
    encoder: LowLatencyH264Encoder | LowLatencyVp8Encoder,
    frames: list[av.VideoFrame],
    keyframe_at: set[int] = frozenset(),
) -> list[list[bytes]]:
    return [encoder.encode(frame, i in keyframe_at)[0] for i, frame in enumerate(frames)]


def is_key(encoder: LowLatencyH264Encoder | LowLatencyVp8Encoder, payloads: list[bytes]) -> bool:
    return IDR in h264_nal_types(payloads) if encoder.codec_name == "H264" else vp8_is_keyframe(payloads)


@pytest.fixture(autouse=True)
def no_keyframe_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Frames are encoded faster than real time here, so the PLI rate limit would hide requests.
    monkeypatch.setattr(encoders_module, "KEYFRAME_MIN_INTERVAL", 0.0)


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_only_the_first_frame_is_a_keyframe_with_gop_0(codec: str) -> None:
    encoder = make_video_encoder(codec, MediaConfig(gop=0), 60)
    keys = [is_key(encoder, p) for p in encode_all(encoder, pattern_frames(40, 800, 360))]
    assert keys[0] and not any(keys[1:])


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_a_requested_keyframe_is_the_next_frame(codec: str) -> None:
    encoder = make_video_encoder(codec, MediaConfig(), 60)
    payloads = encode_all(encoder, pattern_frames(20, 800, 360), keyframe_at={7, 15})
    keys = [i for i, p in enumerate(payloads) if is_key(encoder, p)]
    assert keys == [0, 7, 15]
    assert encoder.stats.keyframe_requests == 2 and encoder.stats.keyframes == 3


def test_keyframe_requests_inside_the_min_interval_are_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders_module, "KEYFRAME_MIN_INTERVAL", 60.0)
    encoder = LowLatencyH264Encoder(MediaConfig(), 60)
    payloads = encode_all(encoder, pattern_frames(10, 800, 360), keyframe_at={3, 4, 5, 6})
    assert [i for i, p in enumerate(payloads) if IDR in h264_nal_types(p)] == [0]
    assert encoder.stats.keyframe_requests == 4


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_gop_puts_a_keyframe_every_gop_frames(codec: str) -> None:
    encoder = make_video_encoder(codec, MediaConfig(gop=10), 60)
    payloads = encode_all(encoder, pattern_frames(35, 800, 360))
    assert [i for i, p in enumerate(payloads) if is_key(encoder, p)] == [0, 10, 20, 30]


def test_h264_stream_is_constrained_baseline_with_sps_and_pps_before_each_idr() -> None:
    encoder = LowLatencyH264Encoder(MediaConfig(), 60)
    first = encoder.encode(pattern_frames(1, 800, 360)[0])[0]
    _, data = H264PayloadDescriptor.parse(first[0])
    units = [u for u in data.split(b"\x00\x00\x00\x01") if u]
    sps = next(u for u in units if u[0] & 0x1F == 7)
    assert sps[1] == 66  # profile_idc 66: Baseline, what the browsers' 42e01f / 42001f accept
    assert {7, 8, IDR} <= h264_nal_types(first)


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_target_bitrate_is_clamped_to_the_configured_range(codec: str) -> None:
    config = MediaConfig(bitrate_min=2_000_000, bitrate_start=8_000_000, bitrate_max=60_000_000)
    encoder = make_video_encoder(codec, config, 60)
    assert encoder.target_bitrate == 8_000_000
    encoder.target_bitrate = 100_000
    assert encoder.target_bitrate == 2_000_000
    encoder.target_bitrate = 55_000_000  # far above aiortc's 3 Mbps ceiling
    assert encoder.target_bitrate == 55_000_000
    encoder.target_bitrate = 10**9
    assert encoder.target_bitrate == 60_000_000


def noisy_frames(count: int, width: int = 1280, height: int = 720) -> list[av.VideoFrame]:
    """Content that needs more bits than the low target, so the rate controller is visible."""
    rng = np.random.default_rng(3)
    frames = []
    for frame in pattern_frames(count, width, height):
        planes = frame.to_ndarray()
        planes[100:400, 100:600] = rng.integers(0, 255, (300, 500), dtype=np.uint8)
        noisy = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        noisy.pts, noisy.time_base = frame.pts, frame.time_base
        frames.append(noisy)
    return frames


def test_h264_follows_the_target_down_and_up_without_a_keyframe() -> None:
    encoder = LowLatencyH264Encoder(MediaConfig(bitrate_start=6_000_000), 60)
    frames = noisy_frames(180, 800, 360)
    phases = []
    for target, chunk in zip(
        (6_000_000, 1_500_000, 6_000_000), (frames[:60], frames[60:120], frames[120:]), strict=True
    ):
        encoder.target_bitrate = target
        payloads = encode_all(encoder, chunk)
        assert not any(IDR in h264_nal_types(p) for p in payloads[1 if not phases else 0 :])
        phases.append(sum(len(p) for frame in payloads[20:] for p in frame) * 8 * 60 // 40)
    high, low, high_again = phases
    assert low < 2_500_000 < 4_000_000 < min(high, high_again), phases
    assert encoder.stats.reopens == 1


def test_vp8_reopens_for_a_new_target_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = LowLatencyVp8Encoder(MediaConfig(bitrate_start=8_000_000), 60)
    frames = noisy_frames(20, 800, 360)
    encode_all(encoder, frames[:5])
    encoder.target_bitrate = 2_000_000
    encode_all(encoder, frames[5:10])
    assert encoder.stats.reopens == 1  # inside VP8_REOPEN_MIN_INTERVAL: not yet
    monkeypatch.setattr(encoders_module, "VP8_REOPEN_MIN_INTERVAL", 0.0)
    payloads = encode_all(encoder, frames[10:15])
    assert encoder.stats.reopens == 2 and vp8_is_keyframe(payloads[0])
    encoder.target_bitrate = 2_100_000  # under VP8_REOPEN_MIN_CHANGE: no reopen, no keyframe
    encode_all(encoder, frames[15:20])
    assert encoder.stats.reopens == 2


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_a_new_frame_size_reopens_the_encoder_with_a_keyframe(codec: str) -> None:
    encoder = make_video_encoder(codec, MediaConfig(), 60)
    small = encode_all(encoder, pattern_frames(5, 800, 200))
    large = encode_all(encoder, pattern_frames(5, 1280, 720, start=5))
    assert is_key(encoder, large[0]) and not any(is_key(encoder, p) for p in small[1:] + large[1:])
    assert (encoder.stats.width, encoder.stats.height, encoder.stats.reopens) == (1280, 720, 2)
    decoder = av.CodecContext.create("h264" if codec == "H264" else "vp8", "r")
    depayload = H264PayloadDescriptor if codec == "H264" else VpxPayloadDescriptor
    data = b"".join(depayload.parse(p)[1] for p in large[0])
    (decoded,) = decoder.decode(av.Packet(data))
    assert (decoded.width, decoded.height) == (1280, 720)


def test_rgb_frames_are_converted_and_repeated_timestamps_still_encode() -> None:
    encoder = LowLatencyH264Encoder(MediaConfig(), 30)
    timestamps = []
    for _ in range(3):
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        frame.pts, frame.time_base = 1000, TIME_BASE
        _payloads, timestamp = encoder.encode(frame)
        timestamps.append(timestamp)
    assert timestamps == [1000, 1001, 1002]
    assert encoder.stats.frames_encoded == 3 and encoder.stats.mean_encode_ms > 0


def test_h264_pack_forwards_an_access_unit_unchanged() -> None:
    producer = av.CodecContext.create("libx264", "w")
    producer.width, producer.height, producer.pix_fmt = 800, 360, "yuv420p"
    producer.time_base = TIME_BASE
    producer.options = {"preset": "ultrafast", "tune": "zerolatency"}
    (packet,) = producer.encode(pattern_frames(1, 800, 360)[0])
    encoder = LowLatencyH264Encoder(MediaConfig(), 60)
    payloads, _timestamp = encoder.pack(packet)
    rebuilt = b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads)
    assert rebuilt.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01") == bytes(packet).replace(
        b"\x00\x00\x00\x01", b"\x00\x00\x01"
    )
    assert all(len(p) <= 1300 for p in payloads) and len(payloads) > 1


def test_the_h264_encoder_reports_how_hard_it_squeezes_easy_and_hard_pictures() -> None:
    encoder_class = LowLatencyH264Encoder

    def quantizer(picture: Callable[[int], np.ndarray]) -> float:
        encoder = encoder_class(MediaConfig(bitrate_start=1_000_000), 60)
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(picture(index), format="yuv420p")
            frame.pts, frame.time_base = index * 1500, fractions.Fraction(1, 90_000)
            encoder.encode(frame)
        assert encoder.stats.qp is not None
        return float(encoder.stats.qp)

    rng = np.random.default_rng(7)
    flat = quantizer(lambda i: np.full((1080, 1280), 100 + i, dtype=np.uint8))
    noise = quantizer(lambda i: rng.integers(0, 255, (1080, 1280), dtype=np.uint8))
    assert flat < 30 < noise


def scene_frames(count: int) -> list[av.VideoFrame]:
    scene = TexturedScene(1280, 720, 60)
    frames = []
    for i in range(count):
        frame = scene.draw(i, 1_700_000_000_000 + i)
        frame.pts, frame.time_base = i * 90_000 // 60, TIME_BASE
        frames.append(frame)
    return frames


def test_h264_spends_a_high_target_on_a_textured_scene() -> None:
    # With a VBV buffer of two frames at 10 Mbit/s, a 17 Mbit/s target came out at 10 Mbit/s: a link
    # restored to 20 Mbit/s after a drop then carried half of what it could.
    encoder = LowLatencyH264Encoder(MediaConfig(bitrate_min=1_000_000, bitrate_max=50_000_000), 60)
    encoder.target_bitrate = 17_000_000
    sizes = [sum(map(len, payloads)) for payloads in encode_all(encoder, scene_frames(180))]
    assert sum(sizes[60:]) * 8 / 2.0 >= 13_500_000  # the last 2 s


@pytest.mark.parametrize("target", [1_500_000, 4_000_000])
def test_h264_keyframes_at_a_low_target_stay_small(target: int) -> None:
    # A keyframe leaves as one burst: on a 5 Mbit/s link 40 kB is 64 ms. The first one too: after a
    # black primer frame it was as large as the VBV buffer allows (77 kB at 1.5 Mbit/s).
    encoder = LowLatencyH264Encoder(MediaConfig(bitrate_min=1_000_000, bitrate_max=50_000_000), 60)
    encoder.target_bitrate = target
    payloads = encode_all(encoder, scene_frames(90), keyframe_at={30, 60})
    keyframes = [sum(map(len, p)) for p in payloads if is_key(encoder, p)]
    assert len(keyframes) == 3 and max(keyframes) <= 40_000, keyframes
