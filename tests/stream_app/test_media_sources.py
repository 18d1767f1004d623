"""The app-facing sources, without a network: newest-wins frames, conversion, passthrough and audio."""

import asyncio
import fractions
import threading
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from stream_app import stamp
from stream_app.media import (
    AudioSource,
    EncodedSource,
    FrameSource,
    frame_from_buffer,
    pattern_source,
    to_video_frame,
)


def rgb(width: int = 64, height: int = 48, value: int = 0) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


# --- numpy -> VideoFrame ---------------------------------------------------------------------


def test_rgb_array_becomes_a_frame_of_the_same_size_and_colour() -> None:
    image = rgb(64, 48)
    image[..., 0] = 200
    frame = to_video_frame(image)
    assert (frame.width, frame.height, frame.format.name) == (64, 48, "rgb24")
    assert frame.to_ndarray()[0, 0].tolist() == [200, 0, 0]


@pytest.mark.parametrize(
    ("pixel_format", "pixel", "expected_rgb"),
    [("rgba", [10, 20, 30, 255], [10, 20, 30]), ("bgra", [10, 20, 30, 255], [30, 20, 10])],
)
def test_four_channel_arrays_use_the_declared_order(
    pixel_format: str, pixel: list[int], expected_rgb: list[int]
) -> None:
    image = np.tile(np.array(pixel, dtype=np.uint8), (16, 16, 1))
    frame = to_video_frame(image, pixel_format)
    assert frame.reformat(format="rgb24").to_ndarray()[3, 3].tolist() == expected_rgb


def test_the_app_may_reuse_its_buffer_after_push() -> None:
    image = rgb(value=1)
    frame = to_video_frame(image)
    image[:] = 99
    assert frame.to_ndarray()[0, 0, 0] == 1


@pytest.mark.parametrize(
    ("image", "pixel_format", "message"),
    [
        (np.zeros((47, 64, 3), np.uint8), "rgb24", "64x47 must be even"),
        (np.zeros((48, 63, 3), np.uint8), "rgb24", "63x48 must be even"),
        (np.zeros((48, 64, 4), np.uint8), "rgb24", r"rgb24 frame must be HxWx3, got shape \(48, 64, 4\)"),
        (np.zeros((48, 64, 3), np.uint8), "rgba", "HxWx4"),
        (np.zeros((48, 64), np.uint8), "rgb24", "HxWx3"),
        (np.zeros((48, 64, 3), np.float32), "rgb24", "must be uint8, got float32"),
        (np.zeros((48, 64, 3), np.uint8), "yuv444p", "pixel format 'yuv444p' is not one of"),
    ],
)
def test_frames_that_cannot_be_encoded_are_refused_with_the_reason(
    image: np.ndarray, pixel_format: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        to_video_frame(image, pixel_format)


def test_odd_sized_pyav_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="must be even"):
        to_video_frame(av.VideoFrame(65, 48, "yuv420p"))


# --- FrameSource, push mode --------------------------------------------------------------------


# --- read-back pixel buffers -> VideoFrame ------------------------------------------------------


def noise(width: int, height: int, channels: int = 4) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (height, width, channels), dtype=np.uint8)


def yuv_planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """The picture as the encoder gets it: converted to yuv420p, the three planes stacked without row padding."""
    return [frame.reformat(format="yuv420p").to_ndarray()]


@pytest.mark.parametrize("pixel_format", ["rgba", "bgra"])
@pytest.mark.parametrize("width", [64, 98])  # 98 * 4 bytes is not a multiple of PyAV's row alignment
def test_a_read_back_buffer_gives_the_encoder_the_same_picture_as_an_array(pixel_format: str, width: int) -> None:
    image = noise(width, 48)
    expected = yuv_planes(to_video_frame(image, pixel_format))
    for data in (image.tobytes(), bytearray(image.tobytes()), memoryview(image.tobytes()), image):
        frame = frame_from_buffer(data, width, 48, pixel_format)
        assert (frame.width, frame.height, frame.format.name) == (width, 48, pixel_format)
        assert all((a == b).all() for a, b in zip(yuv_planes(frame), expected, strict=True))


@pytest.mark.parametrize("width", [64, 98])
def test_a_bottom_up_buffer_is_flipped_into_the_same_picture(width: int) -> None:
    image = noise(width, 48)
    gl_order = image[::-1].tobytes()  # OpenGL's read-back: the bottom row first
    frame = frame_from_buffer(gl_order, width, 48, "rgba", bottom_up=True)
    assert (frame.to_ndarray() == image).all()
    assert all(
        (a == b).all() for a, b in zip(yuv_planes(frame), yuv_planes(to_video_frame(image, "rgba")), strict=True)
    )


@pytest.mark.parametrize("width", [64, 98])
def test_yuv420p_planes_converted_on_a_gpu_are_taken_as_the_encoder_wants_them(width: int) -> None:
    planes = noise(width, 72, 1)[:, :, 0]  # a packed I420 frame of width x 48: Y, then U, then V
    frame = frame_from_buffer(planes.tobytes(), width, 48, "yuv420p")
    assert (frame.width, frame.height, frame.format.name) == (width, 48, "yuv420p")
    assert (frame.to_ndarray() == planes).all()
    assert (frame.reformat(format="yuv420p").to_ndarray() == planes).all()  # nothing left to convert


def test_a_top_down_buffer_is_shared_and_a_bottom_up_one_copied() -> None:
    image = noise(64, 48)
    shared = frame_from_buffer(image, 64, 48)
    copied = frame_from_buffer(image, 64, 48, bottom_up=True)
    image[0, 0] = image[-1, 0] = (1, 2, 3, 4)
    assert shared.to_ndarray()[0, 0].tolist() == [1, 2, 3, 4]  # no copy: the frame sees the buffer
    assert copied.to_ndarray()[-1, 0].tolist() != [1, 2, 3, 4]  # its own pixels: the buffer is free again


def test_yuv420p_buffers_cannot_be_flipped() -> None:
    with pytest.raises(ValueError, match="write yuv420p planes top-down"):
        frame_from_buffer(bytes(64 * 72), 64, 48, "yuv420p", bottom_up=True)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((bytes(64 * 48 * 4 - 1), 64, 48, "rgba"), "must hold 12288 bytes"),
        ((bytes(64 * 48 * 3), 64, 48, "rgba"), "must hold 12288 bytes"),
        ((bytes(63 * 48 * 4), 63, 48, "rgba"), "must be even"),
        ((bytes(64 * 48 * 4), 64, 48, "argb"), "not one of"),
        ((np.zeros((48, 128, 4), np.uint8)[:, ::2], 64, 48, "rgba"), "must be contiguous"),
        ((bytes(64 * 48), 64, 48, "yuv420p"), r"must hold 4608 bytes \(64\*48\*3/2"),
    ],
)
def test_buffers_that_do_not_fit_are_refused_with_the_reason(args: tuple[object, int, int, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        frame_from_buffer(*args)


async def test_a_pull_source_takes_read_back_frames_as_they_are() -> None:
    image = noise(64, 48)
    source = FrameSource(30, render=lambda t: frame_from_buffer(image.tobytes(), 64, 48))
    track = source.track()
    frame = await asyncio.wait_for(track.recv(), 2)
    assert frame.format.name == "rgba" and (frame.to_ndarray() == image).all()
    track.stop()


async def test_push_keeps_only_the_newest_frame_and_counts_the_dropped() -> None:
    source = FrameSource(60)
    track = source.track()
    for value in range(5):
        source.push(rgb(value=value * 10))
    frame = await asyncio.wait_for(track.recv(), 2)
    assert frame.to_ndarray()[0, 0, 0] == 40
    assert (source.dropped, source.delivered) == (4, 1)
    assert (track.dropped, track.delivered) == (4, 1)  # type: ignore[attr-defined]
    track.stop()


async def test_recv_waits_for_a_push_from_another_thread() -> None:
    source = FrameSource(30)
    track = source.track()
    waiter = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    pusher = threading.Thread(target=source.push, args=(rgb(value=7),))
    pusher.start()
    frame = await asyncio.wait_for(waiter, 2)
    pusher.join()
    assert frame.to_ndarray()[0, 0, 0] == 7 and source.dropped == 0
    track.stop()


async def test_pts_increase_in_90khz_even_for_frames_pushed_at_once() -> None:
    source = FrameSource(60)
    track = source.track()
    stamps = []
    for _ in range(3):
        source.push(rgb())
        frame = await track.recv()
        stamps.append(frame.pts)
        assert frame.time_base == fractions.Fraction(1, 90_000)
    assert stamps == sorted(set(stamps))
    track.stop()


async def test_every_live_track_gets_every_frame_and_stopped_tracks_none() -> None:
    source = FrameSource(60)
    first, second = source.track(), source.track()
    source.push(rgb(value=5))
    a, b = await first.recv(), await second.recv()
    assert a is not b and a.to_ndarray()[0, 0, 0] == b.to_ndarray()[0, 0, 0] == 5
    first.stop()
    source.push(rgb(value=6))
    assert (await second.recv()).to_ndarray()[0, 0, 0] == 6
    second.stop()


async def test_a_stopped_track_ends_a_waiting_recv() -> None:
    source = FrameSource(60)
    track = source.track()
    waiter = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.01)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiter, 2)


async def test_push_refuses_a_bad_frame_at_the_caller() -> None:
    source = FrameSource(60)
    with pytest.raises(ValueError, match="even"):
        source.push(np.zeros((3, 4, 3), np.uint8))


def test_bad_source_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="frame rate 0"):
        FrameSource(0)
    with pytest.raises(ValueError, match="pixel format"):
        FrameSource(30, pixel_format="nv12")


# --- FrameSource, pull mode (the test pattern) -------------------------------------------------


async def test_the_pattern_source_renders_stamped_frames_on_demand() -> None:
    source = pattern_source(1280, 720, 30)
    with pytest.raises(RuntimeError, match="pull mode"):
        source.push(rgb())
    track = source.track()
    before = time.time() * 1000
    frame = await track.recv()
    after = time.time() * 1000
    assert (frame.width, frame.height) == (1280, 720)
    assert before - 1 <= stamp.read(frame.to_ndarray(format="gray")) <= after + 1
    track.stop()


async def test_a_late_reader_skips_frame_slots_and_counts_them() -> None:
    source = pattern_source(800, 200, 50)
    track = source.track()
    await track.recv()
    await asyncio.sleep(0.2)  # ten slots at 50 fps
    asked = time.time() * 1000
    late = await track.recv()
    answered = time.time() * 1000
    assert source.dropped >= 5
    assert source.delivered == 2
    # The late frame is made now, not replayed from the missed slots (their stamps are 20-200 ms
    # older than the request). Bounded by the clock around the call, so a slow machine cannot fail it.
    assert asked - 2 <= stamp.read(late.to_ndarray(format="gray")) <= answered + 2
    track.stop()


async def test_pull_mode_paces_at_the_source_frame_rate() -> None:
    source = pattern_source(800, 200, 20)
    track = source.track()
    started = time.monotonic()
    for _ in range(6):
        await track.recv()
    assert time.monotonic() - started >= 5 / 20 - 0.02
    track.stop()


# --- EncodedSource ---------------------------------------------------------------------------------

KEY = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x65\x88"
DELTA = b"\x00\x00\x00\x01\x41\x9a"


async def test_a_new_track_asks_for_a_keyframe_and_skips_until_one_arrives() -> None:
    requests = []
    source = EncodedSource(on_keyframe_request=lambda: requests.append(1))
    track = source.track()
    assert requests == [1]
    source.push(DELTA, keyframe=False)
    source.push(KEY, keyframe=True, timestamp=10.0)
    source.push(DELTA, keyframe=False, timestamp=10.5)
    first, second = await track.recv(), await track.recv()
    assert bytes(first) == KEY and first.is_keyframe
    assert bytes(second) == DELTA and not second.is_keyframe
    assert (first.pts, second.pts) == (0, 45_000)
    assert (source.dropped, source.delivered) == (1, 2)
    track.stop()


async def test_a_stuck_sender_drops_the_queue_and_asks_for_a_keyframe() -> None:
    requests = []
    source = EncodedSource(on_keyframe_request=lambda: requests.append(1))
    track = source.track()
    source.push(KEY, keyframe=True)
    for _ in range(40):
        source.push(DELTA, keyframe=False)
    await asyncio.sleep(0)  # the request is made on the loop
    assert len(requests) == 2
    assert source.dropped >= 31
    source.push(KEY, keyframe=True)
    assert (await track.recv()).is_keyframe
    track.stop()


def test_access_units_must_be_annex_b() -> None:
    source = EncodedSource()
    with pytest.raises(ValueError, match="Annex B"):
        source.push(b"\x65\x88\x00", keyframe=True)


def test_a_failing_keyframe_callback_does_not_escape() -> None:
    def broken() -> None:
        raise RuntimeError("producer bug")

    source = EncodedSource(on_keyframe_request=broken)
    source.request_keyframe()
    assert source.keyframe_requests == 1


# --- AudioSource -----------------------------------------------------------------------------------


async def test_audio_comes_out_in_20ms_frames_with_the_pushed_samples() -> None:
    source = AudioSource(48000, 2)
    track = source.track()
    samples = np.arange(960 * 2, dtype=np.int16).reshape(960, 2)
    source.push(samples)
    frame = await track.recv()
    assert (frame.samples, frame.sample_rate, frame.layout.name) == (960, 48000, "stereo")
    assert np.array_equal(frame.to_ndarray().reshape(960, 2), samples)
    silent = await track.recv()
    assert not silent.to_ndarray().any() and source.silent_frames == 1
    track.stop()


async def test_audio_buffer_is_bounded_and_drops_the_oldest() -> None:
    source = AudioSource(48000, 1)
    track = source.track()
    source.push(np.full(48000, 1, np.int16))  # one second: only the newest 200 ms are kept
    source.push(np.full(480, 2, np.int16))
    assert source.dropped_samples == 48000 + 480 - 9600
    frames = [await track.recv() for _ in range(10)]
    assert frames[-1].to_ndarray().reshape(-1)[-1] == 2
    track.stop()


def test_audio_samples_must_be_int16_with_the_channel_count() -> None:
    source = AudioSource(48000, 2)
    with pytest.raises(ValueError, match="int16"):
        source.push(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        source.push(np.zeros((10, 3), np.int16))
    with pytest.raises(ValueError, match="sample rate"):
        AudioSource(22050)
