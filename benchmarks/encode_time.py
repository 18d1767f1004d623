"""Encode time per frame: our encoders against aiortc's defaults, on the stamped test pattern.

Run `python -m benchmarks.encode_time [--frames N]`; prints a Markdown table (docs/media.md). Where
`make bench`'s `encoder_cost` compares encoders at their defaults, this one sets our two x264 presets
side by side.
Each encoder gets the same moving test pattern; times are wall-clock per `encode()` call,
including the RTP packetization, as aiortc's sender would run it (one frame at a time).
"""

from __future__ import annotations

import argparse
import fractions
import os
import statistics
import time
from collections.abc import Callable, Sequence

import av
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from benchmarks.environment import machine
from stream_app.media.config import MediaConfig
from stream_app.media.encoders import LowLatencyH264Encoder, LowLatencyVp8Encoder
from stream_app.media.pattern_source import StampedPattern

_TIME_BASE = fractions.Fraction(1, 90_000)

ENCODERS: dict[str, Callable[[], Encoder]] = {
    "H.264 ultrafast (ours)": lambda: LowLatencyH264Encoder(MediaConfig(x264_preset="ultrafast"), 60),
    "H.264 superfast (ours)": lambda: LowLatencyH264Encoder(MediaConfig(x264_preset="superfast"), 60),
    "H.264 aiortc default": H264Encoder,
    "VP8 (ours)": lambda: LowLatencyVp8Encoder(MediaConfig(), 60),
    "VP8 aiortc default": Vp8Encoder,
}
SIZES = ((1280, 720), (1920, 1080))


def measure(make: Callable[[], Encoder], width: int, height: int, frames: int) -> tuple[float, float, float]:
    """(median ms, 95th percentile ms, kbit per frame) over `frames` frames after 10 warm-up frames."""
    pattern = StampedPattern(width, height, 60)
    encoder = make()
    times, sizes = [], []
    for i in range(frames + 10):
        frame = pattern.draw(i, 1_700_000_000_000 + i * 16)
        frame.pts, frame.time_base = i * 1500, _TIME_BASE
        started = time.perf_counter()
        payloads, _ = encoder.encode(frame, False)
        if i >= 10:
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(sum(len(p) for p in payloads) * 8 / 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.mean(sizes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120, help="frames timed per encoder and size")
    args = parser.parse_args(argv)
    print(f"{machine()['cpu_model']}, nproc {os.cpu_count()}, PyAV {av.__version__}, {args.frames} frames each\n")
    print("| encoder | size | median ms/frame | p95 ms/frame | kbit/frame |")
    print("|---|---|---|---|---|")
    for width, height in SIZES:
        for name, make in ENCODERS.items():
            median, p95, kbit = measure(make, width, height, args.frames)
            print(f"| {name} | {width}x{height} | {median:.1f} | {p95:.1f} | {kbit:.0f} |")


if __name__ == "__main__":
    main()
