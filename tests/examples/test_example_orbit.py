"""The orbit example: a moderngl scene over EGL that input turns, first on its own, then through the stream app."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest
from support.scripted_client import ScriptedSession, open_session
from support.stream_app_harness import running_stream_app

from examples.orbit import OrbitRenderer, OrbitStreamApp, make_app
from examples.orbit.camera import DISTANCE_RANGE, OrbitCamera
from examples.orbit.orbit import software_renderer
from examples.orbit.scene import SKY, create_context
from stream_app import input_protocol as ip
from stream_app import stamp
from stream_app.app import load_factory
from stream_app.config import StreamAppConfig
from stream_app.media import to_video_frame

Image = npt.NDArray[np.uint8]


def _egl_missing() -> str | None:
    try:
        create_context().release()
    except RuntimeError as exc:
        return str(exc)
    return None


pytestmark = pytest.mark.skipif(bool(reason := _egl_missing()), reason=f"EGL is unavailable: {reason}")


@pytest.fixture
def renderer() -> Iterator[OrbitRenderer]:
    orbit = OrbitRenderer(320, 180)
    yield orbit
    orbit.close()


def drag(orbit: OrbitRenderer | OrbitCamera, x0: float, x1: float, y: float = 0.5) -> None:
    orbit.handle(ip.MouseButton(0, 0, "down", 0, x0, y, 0))
    orbit.handle(ip.MouseMove(1, 0, x1, y, 1))
    orbit.handle(ip.MouseButton(2, 0, "up", 0, x1, y, 0))


def difference(a: Image, b: Image) -> float:
    return float(np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16)).mean())


def test_the_documented_factory_is_the_one_stream_app_loads() -> None:
    assert load_factory("examples.orbit:make_app") is make_app


def test_the_scene_is_drawn_top_row_first_with_sky_above_and_objects_below(renderer: OrbitRenderer) -> None:
    image = renderer.render()
    assert image.shape == (180, 320, 4)
    sky = tuple(round(c * 255) for c in SKY)
    assert np.abs(image[2, 160, :3].astype(int) - sky).max() <= 2  # the sky is at the top, not the bottom
    assert np.abs(image[-2, 160, :3].astype(int) - sky).max() > 30  # ground or a cube at the bottom
    colours = {tuple(pixel) for pixel in image[::4, ::4, :3].reshape(-1, 3)}
    assert len(colours) > 20  # lit faces, a textured ground: not a blank picture


def test_a_drag_turns_the_view(renderer: OrbitRenderer) -> None:
    before = renderer.render()
    assert difference(renderer.render(), before) == 0  # nothing moves by itself
    drag(renderer, 0.5, 0.7)
    assert difference(renderer.render(), before) > 10


def test_reset_brings_the_first_view_back(renderer: OrbitRenderer) -> None:
    before = renderer.render()
    drag(renderer, 0.2, 0.9)
    renderer.handle(ip.Wheel(0, 0, 0, -300, 0))
    assert difference(renderer.render(), before) > 10
    renderer.reset()
    assert difference(renderer.render(), before) == 0


def test_the_wheel_zooms_within_limits_and_pointer_lock_motion_turns() -> None:
    camera = OrbitCamera()
    distance = camera.distance
    camera.handle(ip.Wheel(0, 0, 0, -200, 0))
    assert camera.distance < distance
    for _ in range(50):
        camera.handle(ip.Wheel(0, 0, 0, 500, 0))
    assert camera.distance == DISTANCE_RANGE[1]
    yaw = camera.yaw
    camera.handle(ip.MouseMotion(0, 0, 100, 0, 0))
    assert camera.yaw == pytest.approx(yaw - 0.5)


def test_a_drag_across_the_picture_turns_half_a_circle_and_pitch_stays_above_the_ground() -> None:
    camera = OrbitCamera()
    yaw = camera.yaw
    drag(camera, 0.0, 1.0)
    assert camera.yaw == pytest.approx(yaw - math.pi)
    drag(camera, 0.5, 0.5, y=0.5)
    camera.handle(ip.MouseButton(0, 0, "down", 0, 0.5, 1.0, 0))
    camera.handle(ip.MouseMove(1, 0, 0.5, -5.0, 1))
    assert 0 < camera.pitch < math.pi / 2


def test_held_keys_move_the_target_where_the_camera_looks() -> None:
    camera = OrbitCamera(yaw=0.0)  # looking along -z
    camera.handle(ip.KeyEvent(0, 0, "down", "KeyW", "w", 0, False))
    camera.advance(0.5)
    assert camera.target == pytest.approx([0.0, -2.0])
    camera.handle(ip.KeyEvent(1, 0, "up", "KeyW", "w", 0, False))
    camera.handle(ip.KeyEvent(2, 0, "down", "ArrowRight", "ArrowRight", 0, False))
    camera.advance(0.5)
    assert camera.target == pytest.approx([2.0, -2.0])


def test_keys_move_the_view(renderer: OrbitRenderer) -> None:
    before = renderer.render()
    renderer.handle(ip.KeyEvent(0, 0, "down", "KeyA", "a", 0, False))
    time.sleep(0.1)
    assert difference(renderer.render(), before) > 3


def test_resize_changes_the_picture_size_within_limits(renderer: OrbitRenderer) -> None:
    renderer.resize(641, 363)
    assert renderer.render().shape == (360, 640, 4)  # even width, height a multiple of 4
    renderer.resize(10, 10)
    assert renderer.render().shape == (180, 320, 4)


def test_the_rgba_read_back_gives_the_encoder_the_same_picture_as_the_numpy_path() -> None:
    orbit = OrbitRenderer(320, 180, convert_on_gpu=False)
    try:
        numpy_path = to_video_frame(orbit.render(), "rgba").reformat(format="yuv420p").to_ndarray()
        frame = orbit.frame(time.time())  # the same view: nothing moved in between
    finally:
        orbit.close()
    assert frame.format.name == "rgba" and (frame.width, frame.height) == (320, 180)
    assert (frame.reformat(format="yuv420p").to_ndarray() == numpy_path).all()


def test_the_gpu_conversion_gives_the_picture_swscale_would() -> None:
    orbit = OrbitRenderer(320, 180, convert_on_gpu=True)
    try:
        swscale = to_video_frame(orbit.render(), "rgba").reformat(format="yuv420p").to_ndarray().astype(int)
        frame = orbit.frame(time.time())
    finally:
        orbit.close()
    assert frame.format.name == "yuv420p" and (frame.width, frame.height) == (320, 180)
    gpu = frame.to_ndarray().astype(int)
    luma, chroma = np.abs(gpu - swscale)[:180], np.abs(gpu - swscale)[180:]
    assert luma.max() <= 1  # rounding only
    assert chroma.mean() < 1 and chroma.max() <= 16  # 2x2 means against swscale's chroma filter, at edges


def test_the_conversion_stays_on_the_cpu_only_for_a_software_renderer(renderer: OrbitRenderer) -> None:
    assert software_renderer("llvmpipe (LLVM 15.0.6, 256 bits)") and software_renderer("softpipe")
    assert not software_renderer("NVIDIA L40S/PCIe/SSE2")
    assert renderer.convert_on_gpu is not software_renderer(renderer.gl_renderer)


@pytest.mark.parametrize("convert_on_gpu", [True, False])
def test_wide_frames_carry_the_capture_time_stamp(convert_on_gpu: bool) -> None:
    orbit = OrbitRenderer(768, 432, convert_on_gpu=convert_on_gpu)
    try:
        before = int(time.time() * 1000)
        frame = orbit.frame(time.time())
    finally:
        orbit.close()
    assert (frame.width, frame.height) == (768, 432)
    assert before <= stamp.read(frame.to_ndarray(format="rgb24")[:, :, 1]) <= int(time.time() * 1000)


async def _decoded(session: ScriptedSession, timeout: float = 10.0) -> AsyncIterator[Image]:
    track = await asyncio.wait_for(asyncio.shield(session.track), timeout)
    while True:
        yield (await asyncio.wait_for(track.recv(), timeout)).to_ndarray(format="rgb24")


@pytest.mark.parametrize("convert_on_gpu", [None, True], ids=["as-chosen-for-this-renderer", "yuv420p-from-a-shader"])
async def test_a_drag_turns_the_streamed_view(http: aiohttp.ClientSession, convert_on_gpu: bool | None) -> None:
    def on_the_gpu(config: StreamAppConfig) -> OrbitStreamApp:
        return OrbitStreamApp(config, convert_on_gpu=True)

    factory = make_app if convert_on_gpu is None else on_the_gpu
    async with running_stream_app(width=768, height=432, fps=30, app_factory=factory) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True)
        try:
            await session.channels_open()
            frames = _decoded(session)
            first = await anext(frames)
            assert first.shape == (432, 768, 3)
            assert len(np.unique(first[16::8, ::8].reshape(-1, 3), axis=0)) > 20  # a scene, not a blank picture
            assert 0 < time.time() * 1000 - stamp.read(first[:, :, 1]) < 2000
            settled = await anext(frames)
            session.send_input("mouse_button", action="down", button=0, x=0.5, y=0.5, mods=0)
            session.send_input("mouse_move", x=0.7, y=0.5, buttons=1)
            session.send_input("mouse_button", action="up", button=0, x=0.7, y=0.5, mods=0)
            deadline = time.monotonic() + 10
            while difference((frame := await anext(frames))[16:], settled[16:]) < 10:
                assert time.monotonic() < deadline, "no decoded frame showed the turned view"
            assert frame.shape == settled.shape
        finally:
            await session.close()


def test_a_pinch_zooms_from_the_distance_at_its_start_within_limits() -> None:
    camera = OrbitCamera()
    distance = camera.distance
    camera.handle(ip.Pinch(0, 0, "start", 1.0, 0.5, 0.5))
    camera.handle(ip.Pinch(1, 0, "move", 2.0, 0.5, 0.5))
    assert camera.distance == pytest.approx(distance / 2)  # fingers spread: nearer
    camera.handle(ip.Pinch(2, 0, "end", 2.0, 0.5, 0.5))
    camera.handle(ip.Pinch(3, 0, "start", 1.0, 0.5, 0.5))
    camera.handle(ip.Pinch(4, 0, "move", 0.01, 0.5, 0.5))
    assert camera.distance == DISTANCE_RANGE[1]


def test_a_pinch_changes_the_picture(renderer: OrbitRenderer) -> None:
    before = renderer.render()
    renderer.handle(ip.Pinch(0, 0, "start", 1.0, 0.5, 0.5))
    renderer.handle(ip.Pinch(1, 0, "move", 2.0, 0.5, 0.5))
    assert difference(renderer.render(), before) > 10
