"""Orbit as a stream app: the moderngl scene, turned by input, streamed through the kit.

Each frame: draw on the GPU (or llvmpipe), read the picture back into a fresh buffer, stamp the
capture time into the top rows, and hand the buffer to the encoder as a frame without copying it
(`frame_from_buffer`). The projection is mirrored vertically so that the read-back rows are
already top-down (OpenGL stores the bottom row first), which saves flipping the pixels.

On a GPU the picture is converted to yuv420p by a shader before it is read back (1.5 bytes a pixel
instead of 4, and no conversion left for the CPU). On a software rasteriser the shader runs on the
CPU too and costs more than swscale (benchmarks/render_cost.py), so there RGBA is read back and
the encoder converts it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np

from examples.orbit.camera import OrbitCamera
from examples.orbit.scene import Image, Scene, create_context
from stream_app import FrameSource, SessionInfo, StreamApp, stamp
from stream_app.config import StreamAppConfig
from stream_app.input_protocol import InputEvent, Resize
from stream_app.media import frame_from_buffer

logger = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = (320, 180), (1920, 1080)  # heights are made multiples of 4 (yuv420p read-back)
MAX_STEP_S = 0.1  # held keys move at most this much time's worth per frame (after a stall)


def _clamp(value: int, low: int, high: int, multiple: int) -> int:
    return max(low, min(high, value)) // multiple * multiple


def software_renderer(name: str) -> bool:
    """Whether the GL_RENDERER `name` rasterises on the CPU (Mesa's llvmpipe/softpipe, SwiftShader)."""
    return any(word in name.lower() for word in ("llvmpipe", "softpipe", "swiftshader", "software"))


class OrbitRenderer:
    """The scene, its camera and the one thread that owns the OpenGL context.

    `handle` and `resize` may be called from any thread (the event loop); `render` and `frame`
    block until the GL thread has drawn and read back the picture. `convert_on_gpu` chooses how
    `frame` reads back: yuv420p converted by a shader, or RGBA for the encoder to convert; None
    (the default) converts on the GPU unless the renderer is a software one.
    """

    def __init__(self, width: int, height: int, *, convert_on_gpu: bool | None = None) -> None:
        self.camera = OrbitCamera()
        self._camera_lock = threading.Lock()
        self.width, self.height = self._clamp(width, height)
        self._gl = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orbit-gl")
        self._scene: Scene | None = None
        self._last_draw: float | None = None
        # Made in the GL thread, where it is used; a creation error surfaces here, not at the first frame.
        renderer = self._gl.submit(self._open).result()
        self.gl_renderer = renderer  # GL_RENDERER: "llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA L40S/PCIe/SSE2"
        self.convert_on_gpu = not software_renderer(renderer) if convert_on_gpu is None else convert_on_gpu
        logger.info(
            "orbit: rendering with %s, yuv420p conversion on the %s", renderer, "GPU" if self.convert_on_gpu else "CPU"
        )

    @staticmethod
    def _clamp(width: int, height: int) -> tuple[int, int]:
        return _clamp(width, MIN_SIZE[0], MAX_SIZE[0], 2), _clamp(height, MIN_SIZE[1], MAX_SIZE[1], 4)

    def handle(self, event: InputEvent) -> None:
        """Apply an input event to the camera."""
        with self._camera_lock:
            self.camera.handle(event)

    def reset(self) -> None:
        """Put the camera back where it started (keys no longer held, no drag)."""
        with self._camera_lock:
            self.camera = OrbitCamera()

    def resize(self, width: int, height: int) -> None:
        """Draw at this size from the next frame (clamped to 320x180 - 1920x1080; width even, height
        a multiple of 4)."""
        self.width, self.height = self._clamp(width, height)

    def render(self) -> Image:
        """The next picture as a height x width x 4 RGBA array, top row first."""
        return self._gl.submit(self._draw_rgba).result()

    def frame(self, capture_time: float | None = None) -> av.VideoFrame:
        """The next picture as a video frame, stamped with `capture_time` (seconds since the epoch)
        when it is at least 768 pixels wide."""
        if not self.convert_on_gpu:
            pixels = self.render()
            height, width = pixels.shape[:2]
            if capture_time is not None and width >= stamp.STAMP_WIDTH:
                for channel in range(3):
                    stamp.paint(pixels[:, :, channel], int(capture_time * 1000))
            # The buffer is new each frame, so the frame may share it: no copy on the way to the encoder.
            return frame_from_buffer(pixels, width, height, "rgba")
        planes = self._gl.submit(self._draw_yuv420p).result()
        height, width = planes.shape[0] * 2 // 3, planes.shape[1]
        if capture_time is not None and width >= stamp.STAMP_WIDTH:
            stamp.paint(planes[:height], int(capture_time * 1000))
            for chroma in (planes[height : height * 5 // 4], planes[height * 5 // 4 :]):
                # Neutral chroma under the stamp keeps it black and white.
                chroma.reshape(height // 2, width // 2)[: stamp.CELL // 2, : stamp.STAMP_WIDTH // 2] = 128
        return frame_from_buffer(planes, width, height, "yuv420p")

    def close(self) -> None:
        """Release the GPU resources and stop the GL thread."""
        self._gl.submit(self._close).result()
        self._gl.shutdown()

    def _open(self) -> str:
        context = create_context()
        self._scene = Scene(context, self.width, self.height)
        return str(context.info["GL_RENDERER"])

    def _draw(self) -> Scene:
        assert self._scene is not None
        now = time.monotonic()
        width, height = self.width, self.height
        with self._camera_lock:
            if self._last_draw is not None:
                self.camera.advance(min(MAX_STEP_S, now - self._last_draw))
            view_projection = self.camera.view_projection(width / height)
        self._last_draw = now
        self._scene.resize(width, height)
        self._scene.draw(view_projection)
        return self._scene

    def _draw_rgba(self) -> Image:
        scene = self._draw()
        pixels = np.empty((scene.height, scene.width, 4), np.uint8)
        scene.read_into(pixels)
        return pixels

    def _draw_yuv420p(self) -> Image:
        scene = self._draw()
        scene.convert_to_yuv420p()
        planes = np.empty((scene.height * 3 // 2, scene.width), np.uint8)
        scene.read_yuv420p_into(planes)
        return planes

    def _close(self) -> None:
        if self._scene is not None:
            context = self._scene.context
            self._scene.release()
            context.release()
            self._scene = None


class OrbitStreamApp(StreamApp):
    """Orbit as a stream app: renders on demand at the configured frame rate."""

    def __init__(self, config: StreamAppConfig, *, convert_on_gpu: bool | None = None) -> None:
        self.renderer = OrbitRenderer(config.width, config.height, convert_on_gpu=convert_on_gpu)
        self.source = FrameSource(config.fps, render=self.renderer.frame)

    def video(self) -> FrameSource:
        return self.source

    def on_session_started(self, info: SessionInfo) -> None:
        logger.info("orbit: session %s started", info.id)

    def on_input(self, event: InputEvent) -> None:
        self.renderer.handle(event)

    def on_resize(self, event: Resize) -> None:
        self.renderer.resize(event.width, event.height)

    def on_session_ended(self, info: SessionInfo, reason: str) -> None:
        logger.info("orbit: session %s ended (%s); camera reset for the next one", info.id, reason)
        self.renderer.reset()


def make_app(config: StreamAppConfig) -> OrbitStreamApp:
    """The factory for `stream-app --app examples.orbit:make_app`."""
    return OrbitStreamApp(config)
