"""Encoder cost: wall time per encoded frame and CPU per 60 fps stream, by size, codec and preset.

Encoders: PyAV's libx264 (presets ultrafast/superfast/veryfast, all with ``tune=zerolatency``),
PyAV's libvpx VP8 (``deadline=realtime``), the stream app's own encoders (`stream_app.media.encoders`,
what it streams with; includes RTP packetization) and aiortc's stock `H264Encoder` and `Vp8Encoder`
(what the baseline sends with; includes RTP packetization). Frames are the stream
app's own stamped test pattern, drawn outside the timed section. The section also times a GPU app's
render path (`render_path`, benchmarks/render_cost.py): render, read-back, conversion and encode of
the orbit example's moderngl scene.
"""

from __future__ import annotations

import asyncio
import fractions
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import av

from benchmarks.context import BenchContext
from benchmarks.render_cost import run_sizes
from benchmarks.stats import summarize
from stream_app.media.pattern_source import PatternTrack

_FPS = 60
_TIME_BUDGET_S = 25.0
"""No encoder gets more than this per size, however many frames the profile asks for."""


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder configuration: a name for the report and how to build its encode function."""

    name: str
    codec: str
    make: Callable[[int, int], Callable[[av.VideoFrame], int]]


def _bitrate(width: int, height: int) -> int:
    # ~0.14 bit per pixel at 60 fps: 8 Mbit/s at 720p, 17 Mbit/s at 1080p (game-streaming range).
    return int(width * height * _FPS * 0.14)


def _pyav(codec_name: str, options: dict[str, str]) -> Callable[[int, int], Callable[[av.VideoFrame], int]]:
    def make(width: int, height: int) -> Callable[[av.VideoFrame], int]:
        codec = cast("av.VideoCodecContext", av.CodecContext.create(codec_name, "w"))
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = fractions.Fraction(1, _FPS)
        codec.framerate = fractions.Fraction(_FPS, 1)
        codec.bit_rate = _bitrate(width, height)
        codec.gop_size = 10 * _FPS
        codec.options = dict(options)

        def encode(frame: av.VideoFrame) -> int:
            return sum(p.size for p in codec.encode(frame))

        return encode

    return make


def _aiortc(kind: str) -> Callable[[int, int], Callable[[av.VideoFrame], int]]:
    def make(width: int, height: int) -> Callable[[av.VideoFrame], int]:
        from aiortc.codecs.h264 import H264Encoder
        from aiortc.codecs.vpx import Vp8Encoder

        encoder = H264Encoder() if kind == "h264" else Vp8Encoder()

        def encode(frame: av.VideoFrame) -> int:
            payloads, _ = encoder.encode(frame)
            return sum(len(p) for p in payloads)

        return encode

    return make


def _stream_app(kind: str) -> Callable[[int, int], Callable[[av.VideoFrame], int]]:
    def make(width: int, height: int) -> Callable[[av.VideoFrame], int]:
        from stream_app.media.config import MediaConfig
        from stream_app.media.encoders import make_video_encoder

        encoder = make_video_encoder(kind.upper(), MediaConfig(bitrate_start=_bitrate(width, height)), _FPS)

        def encode(frame: av.VideoFrame) -> int:
            payloads, _ = encoder.encode(frame)
            return sum(len(p) for p in payloads)

        return encode

    return make


ENCODERS: tuple[EncoderSpec, ...] = (
    *(
        EncoderSpec(
            f"libx264 {preset}+zerolatency", "h264", _pyav("libx264", {"preset": preset, "tune": "zerolatency"})
        )
        for preset in ("ultrafast", "superfast", "veryfast")
    ),
    EncoderSpec(
        "libvpx VP8 realtime",
        "vp8",
        _pyav("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "error-resilient": "1"}),
    ),
    EncoderSpec("stream app LowLatencyH264Encoder", "h264", _stream_app("h264")),
    EncoderSpec("stream app LowLatencyVp8Encoder", "vp8", _stream_app("vp8")),
    EncoderSpec("aiortc stock H264Encoder", "h264", _aiortc("h264")),
    EncoderSpec("aiortc stock Vp8Encoder", "vp8", _aiortc("vp8")),
)


def measure(
    spec: EncoderSpec, width: int, height: int, frames: int, budget_s: float = _TIME_BUDGET_S
) -> dict[str, Any]:
    """Encode up to `frames` pattern frames; wall and CPU (all threads) time of the encode calls only."""
    pattern = PatternTrack(width, height, _FPS)
    encode = spec.make(width, height)
    wall_ms: list[float] = []
    cpu_ms: list[float] = []
    encoded_bytes = 0
    started = time.monotonic()
    for index in range(frames):
        frame = pattern._draw(index, int(time.time() * 1000))
        frame.pts = index * (90_000 // _FPS)
        frame.time_base = fractions.Fraction(1, 90_000)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        encoded_bytes += encode(frame)
        wall_ms.append((time.perf_counter() - wall0) * 1000)
        cpu_ms.append((time.process_time() - cpu0) * 1000)
        if time.monotonic() - started > budget_s:
            break
    # The first frame (a keyframe, and encoder set-up: libvpx spends ~100 ms of CPU there) is
    # reported but left out of the steady state, for wall and CPU time alike.
    steady = wall_ms[1:] or wall_ms
    steady_cpu = cpu_ms[1:] or cpu_ms
    cpu_ms_per_frame = sum(steady_cpu) / len(steady_cpu)
    return {
        "encoder": spec.name,
        "codec": spec.codec,
        "width": width,
        "height": height,
        "frames": len(wall_ms),
        "first_frame_ms": round(wall_ms[0], 3),
        "encode_ms": summarize(steady),
        "cpu_ms_per_frame": round(cpu_ms_per_frame, 3),
        # Cores one 60 fps stream keeps busy (1.0 = one whole core).
        "cores_per_stream_at_60fps": round(cpu_ms_per_frame * _FPS / 1000, 3),
        "max_fps_one_core": round(1000 / cpu_ms_per_frame, 1) if cpu_ms_per_frame > 0 else None,
        "mbit_per_s_at_60fps": round(encoded_bytes * 8 * _FPS / len(wall_ms) / 1e6, 2),
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    """Every encoder at every size of the profile, one after another in a worker thread."""
    runs: list[dict[str, Any]] = []
    ctx.partial = {"status": "partial", "runs": runs}
    jobs = [(width, height, spec) for width, height in ctx.profile.encoder_sizes for spec in ENCODERS]
    for index, (width, height, spec) in enumerate(jobs):
        # An equal share of what is left (minus a margin for set-up), so the last encoders still run.
        budget = min(_TIME_BUDGET_S, max(0.5, (ctx.time_left() - 5) / (len(jobs) - index)))
        ctx.log(f"encoder_cost: {spec.name} {width}x{height}")
        try:
            runs.append(await asyncio.to_thread(measure, spec, width, height, ctx.profile.encoder_frames, budget))
        except (av.FFmpegError, ValueError) as exc:
            runs.append(
                {"encoder": spec.name, "codec": spec.codec, "width": width, "height": height, "error": str(exc)}
            )
    # The render path of a GPU app (examples/orbit): what render, read-back and conversion add to the encode.
    ctx.log("encoder_cost: render path")
    render_budget = min(_TIME_BUDGET_S, max(0.5, (ctx.time_left() - 5) / max(1, len(ctx.profile.encoder_sizes))))
    # In a process of its own: what it leaves behind (Mesa's threads, PyAV converters with slice
    # threads of their own) must not be in the process that starts every later child. Such an
    # object freed in a child between fork and exec waited forever on a thread the child lacks.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        render_path = await asyncio.get_running_loop().run_in_executor(
            pool, run_sizes, ctx.profile.encoder_sizes, ctx.profile.encoder_frames, render_budget
        )
    return {
        "status": "ok",
        "render_path": render_path,
        "notes": [
            "Encode time is the wall time of one encode call (frame in, bitstream out); CPU counts every "
            "encoder thread (process CPU time during the call).",
            f"Target bitrate {_bitrate(1280, 720) / 1e6:.0f} Mbit/s at 720p and "
            f"{_bitrate(1920, 1080) / 1e6:.0f} Mbit/s "
            "at 1080p for PyAV encoders; aiortc's stock encoders use their own (0.5-3 Mbit/s H.264, 0.25-1.5 VP8).",
        ],
        "runs": runs,
    }
