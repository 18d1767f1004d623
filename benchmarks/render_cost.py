"""Render path cost: a GPU app's frame from the draw call to the encoded bitstream, step by step.

The orbit example's scene (moderngl over EGL: Mesa's llvmpipe without a GPU) is drawn, read back
and encoded the way `examples/orbit` streams it, each step timed on its own, along two paths:

- `rgba`: render (the draw calls until the renderer has finished, `ctx.finish()`); read-back
  (`fbo.read_into` a fresh RGBA buffer, rows already top-down: mirrored projection); wrap
  (`frame_from_buffer`, the buffer as an `av.VideoFrame` without a copy); convert (RGBA to
  yuv420p with swscale, what the encoder does first with an RGBA frame); encode (the stream app's
  H.264 encoder on the yuv420p frame, RTP packetization included);
- `yuv420p`: render; convert (a shader pass writing packed I420 on the GPU, until finished);
  read-back (1.5 bytes a pixel instead of 4); wrap; encode.

For contrast, `numpy path` (rgba only) is what the wrap costs without `frame_from_buffer`:
`fbo.read()` bytes, flipped with numpy and handed over as an array (`to_video_frame` copies it).

Run alone: `python -m benchmarks.render_cost [--seconds S]` prints the Markdown table; `make
bench` runs it inside the encoder-cost section.
"""

from __future__ import annotations

import argparse
import fractions
import os
import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import av
import numpy as np

from benchmarks.environment import machine
from benchmarks.stats import summarize

_FPS = 60
STEPS = ("render", "read_back", "wrap", "convert", "encode")
SIZES = ((1280, 720), (1920, 1080))
PATHS = ("rgba", "yuv420p")


class _Laps:
    """Milliseconds between successive `lap`s, by name."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.restart()

    def restart(self) -> None:
        self._mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = (now - self._mark) * 1000
        self._mark = now


def measure(width: int, height: int, frames: int, budget_s: float, path: str = "rgba") -> dict[str, Any]:
    """Time every step of up to `frames` frames (or `budget_s` seconds) at one size along `path`
    (`rgba` or `yuv420p`), in this thread (the OpenGL context is made, used and released here)."""
    from examples.orbit.camera import OrbitCamera
    from examples.orbit.scene import Scene, create_context
    from stream_app.media.config import MediaConfig
    from stream_app.media.encoders import make_video_encoder
    from stream_app.media.frames import frame_from_buffer, to_video_frame

    context = create_context()
    scene = Scene(context, width, height)
    camera = OrbitCamera()
    encoder = make_video_encoder("H264", MediaConfig(bitrate_start=int(width * height * _FPS * 0.14)), _FPS)
    times: dict[str, list[float]] = {step: [] for step in (*STEPS, "numpy_path")}
    encoded_bytes = 0
    started = time.monotonic()
    try:
        for index in range(frames + 1):
            camera.turn(0.01, 0.0)  # every frame a new view, as while the user drags
            watch = _Laps()
            scene.draw(camera.view_projection(width / height))
            context.finish()
            watch.lap("render")
            if path == "yuv420p":
                scene.convert_to_yuv420p()
                context.finish()
                watch.lap("convert")
                planes = np.empty((height * 3 // 2, width), np.uint8)
                scene.read_yuv420p_into(planes)
                watch.lap("read_back")
                yuv = frame_from_buffer(planes, width, height, "yuv420p")
                watch.lap("wrap")
            else:
                pixels = np.empty((height, width, 4), np.uint8)
                scene.read_into(pixels)
                watch.lap("read_back")
                frame = frame_from_buffer(pixels, width, height, "rgba")
                watch.lap("wrap")
                yuv = frame.reformat(format="yuv420p")
                watch.lap("convert")
            yuv.pts, yuv.time_base = index * (90_000 // _FPS), fractions.Fraction(1, 90_000)
            payloads, _ = encoder.encode(yuv)
            watch.lap("encode")
            if path == "rgba":
                # The same picture the usual way: read() bytes, numpy flip, a copying to_video_frame.
                bottom_up = np.frombuffer(scene.framebuffer.read(components=4), np.uint8)
                watch.restart()
                to_video_frame(bottom_up.reshape(height, width, 4)[::-1], "rgba")
                watch.lap("numpy_path")
            if index == 0:
                continue  # shader compilation, first allocations and the keyframe: not the steady state
            encoded_bytes += sum(len(p) for p in payloads)
            for name, ms in watch.laps.items():
                times[name].append(ms)
            if time.monotonic() - started > budget_s:
                break
    finally:
        scene.release()
        context.release()
    totals = [sum(times[name][i] for name in STEPS) for i in range(len(times["render"]))]
    total_p50 = float(np.median(totals))
    return {
        "path": path,
        "width": width,
        "height": height,
        "frames": len(totals),
        **{f"{name}_ms": summarize(times[name]) for name in (*STEPS, "numpy_path")},
        "total_ms": summarize(totals),
        "max_fps": round(1000 / total_p50, 1),
        "mbit_per_s_at_60fps": round(encoded_bytes * 8 * _FPS / len(totals) / 1e6, 2),
    }


def run_sizes(sizes: Sequence[tuple[int, int]], frames: int, budget_s: float) -> dict[str, Any]:
    """The render path at each size: the `render_path` part of the encoder-cost section. Without
    EGL (or moderngl) it says why instead."""
    try:
        from examples.orbit.scene import create_context

        context = create_context()
    except (ImportError, RuntimeError) as exc:
        return {"status": "skipped", "reason": f"no OpenGL over EGL here: {exc}", "runs": []}
    renderer = f"{context.info['GL_RENDERER']} ({context.info['GL_VERSION']})"
    context.release()
    # The GPU conversion's packing needs a height divisible by 4 (720 and 1080 are).
    runs = [
        measure(width, height, frames, budget_s / 2, path)
        for width, height in sizes
        for path in PATHS
        if path == "rgba" or height % 4 == 0
    ]
    return {
        "status": "ok",
        "renderer": renderer,
        "llvmpipe_threads": os.environ.get("LP_NUM_THREADS", ""),
        "runs": runs,
    }


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.report_results import RenderPath
    from benchmarks.report_tables import render_path_lines

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each size (default 3)")
    parser.add_argument("--frames", type=int, default=300, help="at most this many frames per size (default 300)")
    args = parser.parse_args(argv)
    host = machine()
    print(
        f"Machine: {host['cpu_model']}, {host['cores']} cores, {host['memory_gib']} GiB, {host['os']}; "
        f"load average at start {host['loadavg_at_start']}. PyAV {av.__version__}, numpy {np.__version__}, "
        f"moderngl {version('moderngl')}; {args.seconds:g} s per size (half per path).\n"
    )
    print("\n".join(render_path_lines(RenderPath.read(run_sizes(SIZES, args.frames, args.seconds)))))


if __name__ == "__main__":
    main()
