"""The suite's settings: one frozen `BenchConfig` read from the environment, overridable by flags
(`SETTINGS` declares each once).

A *profile* fixes how much each benchmark does: ``full`` (`make bench`, under 15 minutes),
``quick`` (``BENCH_QUICK=1``, about 2 minutes) and ``smoke`` (seconds; what
`tests/benchmarks/test_benchmarks_smoke.py` runs so the harness cannot rot unnoticed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final

from benchmarks import chromium as chromium_flags
from settings import Setting, SettingsError, SettingsGroup, load, parsers

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


BenchConfigError = SettingsError
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
    g2g_firefox: bool  # one more row: Firefox ESR, the first stream, VP8, host path
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
    g2g_firefox=True,
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
    g2g_firefox=True,
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
    g2g_firefox=False,
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
    names = parsers.text_list(text)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(BENCHMARKS)}")
    return tuple(n for n in BENCHMARKS if n in names)


_profile_name = parsers.choice(*PROFILES)


def _profile(text: str) -> Profile:
    return PROFILES[_profile_name(text)]


SETTINGS: Final = SettingsGroup(
    prog="python -m benchmarks",
    description="Run the benchmark suite; write results/latest.json and results/REPORT.md with plots.",
    defaults_from=BenchConfig,
    settings=(
        Setting(
            "quick",
            "BENCH_QUICK",
            parsers.boolean,
            "the ~2 minute profile (BENCH_PROFILE wins when both are set)",
            default=False,
            switch=True,
        ),
        Setting("profile", "BENCH_PROFILE", _profile, "full, quick or smoke", default_text="full", metavar="NAME"),
        Setting(
            "only",
            "BENCH_ONLY",
            _only,
            f"comma-separated subset of {','.join(BENCHMARKS)}",
            default_text="all",
            metavar="NAMES",
        ),
        Setting(
            "out_dir",
            "BENCH_OUT",
            parsers.path,
            "results directory",
            default_text="benchmarks/results",
            flag="--out",
            metavar="DIR",
        ),
        Setting("chromium", "BENCH_CHROMIUM", parsers.text, "Chromium binary", metavar="PATH"),
        Setting("nginx", "BENCH_NGINX", parsers.text, "nginx binary", metavar="PATH"),
        Setting(
            "profile_misses",
            "BENCH_PROFILE_MISSES",
            parsers.boolean,
            "py-spy the stream app (720p60 H.264 run) and the proxy (top concurrency, handshakes) while they "
            "are measured, for the report's 'what bounds the misses'",
            switch=True,
        ),
        Setting("label", "BENCH_LABEL", parsers.text, "text written at the top of the report", metavar="TEXT"),
    ),
)
"""The suite's settings, declared once."""


def load_config(argv: Sequence[str] | None, env: Mapping[str, str]) -> BenchConfig:
    """Defaults, then environment variables, then flags (`python -m benchmarks --help` lists them)."""
    try:
        loaded = load(SETTINGS, argv, env)
    except SettingsError as exc:
        raise BenchConfigError(str(exc)) from None
    values = {f.name: loaded[f.name] for f in fields(BenchConfig)}
    if loaded["quick"] and not loaded.given("profile"):
        values["profile"] = QUICK
    return BenchConfig(**values)
