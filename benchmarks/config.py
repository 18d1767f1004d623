"""The suite's settings: one frozen `BenchConfig` read from the environment, overridable by flags.

A *profile* fixes how much each benchmark does: ``full`` (`make bench`, under 15 minutes),
``quick`` (``BENCH_QUICK=1``, about 2 minutes) and ``smoke`` (seconds; what
`tests/test_benchmarks_smoke.py` runs so the harness cannot rot unnoticed).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from benchmarks import chromium as chromium_flags

BENCHMARKS: Final = (
    "encoder_cost",
    "proxy_overhead",
    "glass_to_glass",
    "time_to_first_frame",
    "input_latency",
    "network",
)
"""Every benchmark, in the order the runner runs them (cheap and browser-free first)."""

DEFAULT_OUT_DIR: Final = Path(__file__).resolve().parent / "results"


class BenchConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class Profile:
    """How much each benchmark does. Every loop in the suite is bounded by these counts and times."""

    name: str
    # Glass-to-glass: (width, height, fps) streams, codecs and network paths to run.
    g2g_streams: tuple[tuple[int, int, int], ...]
    g2g_codecs: tuple[str, ...]
    g2g_paths: tuple[str, ...]
    g2g_baseline: bool
    g2g_sessions: int  # sessions per configuration, measured one after another and pooled
    g2g_warmup_s: float  # per session
    g2g_measure_s: float  # per configuration, shared out among its sessions
    # Time to first frame.
    ttff_sessions: int
    # Input latency: events sent per run.
    input_events: int
    # Proxy overhead.
    proxy_concurrency: tuple[int, ...]
    proxy_measure_s: float
    proxy_handshakes: int
    proxy_memory_connections: int
    # Encoder cost.
    encoder_sizes: tuple[tuple[int, int], ...]
    encoder_frames: int
    # Network lab: scenarios (benchmarks.netlab.profiles) x stacks, one session each.
    net_scenarios: tuple[str, ...]
    net_stacks: tuple[str, ...]
    net_warmup_s: float
    net_measure_s: float


FULL: Final = Profile(
    name="full",
    g2g_streams=((1280, 720, 60), (1920, 1080, 60)),
    g2g_codecs=("h264", "vp8"),
    g2g_paths=("host", "relay"),
    g2g_baseline=True,
    g2g_sessions=3,
    g2g_warmup_s=3.0,
    g2g_measure_s=15.0,
    ttff_sessions=20,
    input_events=300,
    proxy_concurrency=(1, 100, 1000),
    proxy_measure_s=8.0,
    proxy_handshakes=1000,
    proxy_memory_connections=1000,
    encoder_sizes=((1280, 720), (1920, 1080)),
    encoder_frames=90,
    net_scenarios=(
        "none",
        "cap-5M",
        "cap-2M",
        "step-20M-5M-20M",
        "rtt40-loss1",
        "rtt40-loss3",
        "burst-loss",
        "jitter-20",
        "cellular",
    ),
    net_stacks=("ours", "aiortc", "libwebrtc"),
    net_warmup_s=3.0,
    net_measure_s=18.0,
)

QUICK: Final = Profile(
    name="quick",
    g2g_streams=((1280, 720, 60), (1920, 1080, 60)),
    g2g_codecs=("h264",),
    g2g_paths=("host",),
    g2g_baseline=True,
    g2g_sessions=2,
    g2g_warmup_s=2.0,
    g2g_measure_s=6.0,
    ttff_sessions=5,
    input_events=100,
    proxy_concurrency=(1, 100, 1000),
    proxy_measure_s=1.5,
    proxy_handshakes=200,
    proxy_memory_connections=300,
    encoder_sizes=((1280, 720), (1920, 1080)),
    encoder_frames=20,
    net_scenarios=("none", "cap-5M", "rtt40-loss1"),
    net_stacks=("ours", "aiortc", "libwebrtc"),
    net_warmup_s=2.0,
    net_measure_s=10.0,
)

SMOKE: Final = Profile(
    name="smoke",
    g2g_streams=((1280, 720, 30),),
    g2g_codecs=("vp8",),
    g2g_paths=("host",),
    g2g_baseline=True,
    g2g_sessions=1,
    g2g_warmup_s=1.0,
    g2g_measure_s=1.5,
    ttff_sessions=2,
    input_events=10,
    proxy_concurrency=(1, 10),
    proxy_measure_s=0.5,
    proxy_handshakes=10,
    proxy_memory_connections=10,
    encoder_sizes=((1280, 720),),
    encoder_frames=3,
    net_scenarios=("none",),
    net_stacks=("ours",),
    net_warmup_s=1.0,
    net_measure_s=2.0,
)

PROFILES: Final = {p.name: p for p in (FULL, QUICK, SMOKE)}


@dataclass(frozen=True)
class BenchConfig:
    """What to run, how much, and where to write the results."""

    profile: Profile = FULL
    only: tuple[str, ...] = BENCHMARKS
    out_dir: Path = DEFAULT_OUT_DIR
    chromium: str = chromium_flags.EXECUTABLE
    nginx: str = "nginx"
    profile_misses: bool = False
    """Run py-spy over a benchmark whose target was missed and keep the flame graph (slow)."""
    label: str = ""
    """Free text written at the top of the report (e.g. "quick run on a shared machine")."""


def _only(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise BenchConfigError(
            f"unknown benchmark(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(BENCHMARKS)}"
        )
    return tuple(n for n in BENCHMARKS if n in names)


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def load_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> BenchConfig:
    """Defaults, then environment variables, then flags (`python -m benchmarks --help` lists them)."""
    config = BenchConfig()
    if _truthy(env.get("BENCH_QUICK", "")):
        config = replace(config, profile=QUICK)
    if env.get("BENCH_PROFILE"):
        config = replace(config, profile=_profile(env["BENCH_PROFILE"]))
    if env.get("BENCH_ONLY"):
        config = replace(config, only=_only(env["BENCH_ONLY"]))
    if env.get("BENCH_OUT"):
        config = replace(config, out_dir=Path(env["BENCH_OUT"]))
    if env.get("BENCH_CHROMIUM"):
        config = replace(config, chromium=env["BENCH_CHROMIUM"])
    if env.get("BENCH_NGINX"):
        config = replace(config, nginx=env["BENCH_NGINX"])
    if env.get("BENCH_PROFILE_MISSES"):
        config = replace(config, profile_misses=_truthy(env["BENCH_PROFILE_MISSES"]))
    if env.get("BENCH_LABEL"):
        config = replace(config, label=env["BENCH_LABEL"])
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmark suite; write results/latest.json and results/REPORT.md with plots.",
    )
    parser.add_argument("--quick", action="store_true", help="the ~2 minute profile [env BENCH_QUICK=1]")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help=f"full, quick or smoke [env BENCH_PROFILE; now {config.profile.name}]",
    )
    parser.add_argument(
        "--only", metavar="NAMES", help=f"comma-separated subset of {','.join(BENCHMARKS)} [env BENCH_ONLY; now all]"
    )
    parser.add_argument("--out", metavar="DIR", help=f"results directory [env BENCH_OUT; now {config.out_dir}]")
    parser.add_argument(
        "--chromium", metavar="PATH", help=f"Chromium binary [env BENCH_CHROMIUM; now {config.chromium}]"
    )
    parser.add_argument("--nginx", metavar="PATH", help=f"nginx binary [env BENCH_NGINX; now {config.nginx}]")
    parser.add_argument(
        "--profile-misses",
        action="store_true",
        help="py-spy the stream app (720p60 H.264 run) and the proxy (top concurrency, handshakes) while they "
        "are measured, for the report's 'what bounds the misses' [env BENCH_PROFILE_MISSES=1]",
    )
    parser.add_argument("--label", help="text written at the top of the report [env BENCH_LABEL]")
    args = parser.parse_args(argv)
    if args.quick:
        config = replace(config, profile=QUICK)
    if args.profile:
        config = replace(config, profile=PROFILES[args.profile])
    if args.only:
        config = replace(config, only=_only(args.only))
    if args.out:
        config = replace(config, out_dir=Path(args.out))
    if args.chromium:
        config = replace(config, chromium=args.chromium)
    if args.nginx:
        config = replace(config, nginx=args.nginx)
    if args.profile_misses:
        config = replace(config, profile_misses=True)
    if args.label:
        config = replace(config, label=args.label)
    return config


def _profile(text: str) -> Profile:
    try:
        return PROFILES[text]
    except KeyError:
        raise BenchConfigError(f"BENCH_PROFILE {text!r}: choose one of {', '.join(sorted(PROFILES))}") from None
