"""The plots next to ``REPORT.md`` and ``network.md`` (PNG, matplotlib), drawn from typed results
(benchmarks/report_results.py). Each returns the file name it wrote in `out_dir`, or None when
there was nothing to draw; the Markdown (benchmarks/report_tables.py) only links them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from benchmarks.report_results import (
    EncoderCost,
    EncoderRun,
    FirstFrame,
    G2gRun,
    GlassToGlass,
    Network,
    NetworkRun,
    ProxyOverhead,
)
from benchmarks.targets import STEP

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
_STACK_COLORS = {"ours": "tab:blue", "aiortc": "tab:orange", "libwebrtc": "tab:green"}


def _save(fig: Figure, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=90)
    plt.close(fig)
    return name


def _g2g_label(run: G2gRun) -> str:
    browser = "" if run.browser == "chromium" else f" {run.browser}"
    return f"{run.server}{browser} {run.height}p{run.fps} {run.codec} {run.path}"


def plot_g2g(g2g: GlassToGlass, out_dir: Path) -> str | None:
    """Latency percentiles and frames per second per configuration."""
    good = [r for r in g2g.runs or () if isinstance(r, G2gRun) and r.latency_ms.count]
    if not good:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.5 * len(good) + 2.5))
    labels = [_g2g_label(r) for r in good]
    y = range(len(good))
    for offset, key, color in ((-0.25, "p50", "tab:blue"), (0.0, "p95", "tab:orange"), (0.25, "p99", "tab:red")):
        values = [getattr(r.latency_ms, key) or 0 for r in good]
        left.barh([i + offset for i in y], values, height=0.25, label=key, color=color)
    left.set_yticks(list(y), labels)
    left.invert_yaxis()
    left.set_xlabel("glass-to-glass latency (ms)")
    left.axvline(25, color="tab:blue", linestyle=":", label="720p p50 target")
    left.axvline(40, color="tab:orange", linestyle=":", label="p95 / 1080p p50 target")
    left.legend(fontsize=7)
    right.barh(list(y), [r.presented_fps for r in good], color="tab:green", label="presented")
    right.scatter([r.received_fps for r in good], list(y), color="black", marker="|", s=200, label="received")
    right.set_yticks(list(y), [""] * len(good))
    right.invert_yaxis()
    right.set_xlabel("frames per second")
    right.axvline(58, color="gray", linestyle=":")
    right.legend(fontsize=7)
    return _save(fig, out_dir, "glass_to_glass.png")


def plot_ttff(ttff: FirstFrame, out_dir: Path) -> str | None:
    """The median of each first-frame phase, stacked."""
    if ttff.section.status != "ok" or not ttff.sessions:
        return None
    phases = {k: v for k, v in ttff.phases_ms.items() if k != "total"}
    fig, ax = plt.subplots(figsize=(9, 2.4))
    left = 0.0
    for (name, stats), color in zip(phases.items(), _COLORS, strict=False):
        width = stats.p50 or 0.0
        ax.barh([0], [width], left=left, color=color, label=f"{name} {width:.0f} ms")
        left += width
    total = ttff.phases_ms["total"]
    ax.axvline(500, color="red", linestyle=":", label="target p50 500 ms")
    ax.set_yticks([0], [f"p50 total {total.p50:.0f} ms\n(p95 {total.p95:.0f} ms)"])
    ax.set_xlabel("ms from new WebSocket() (median of each phase)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4)
    return _save(fig, out_dir, "time_to_first_frame.png")


def plot_proxy(proxy: ProxyOverhead, out_dir: Path) -> str | None:
    """Throughput and round-trip percentiles by connections, one colour per path."""
    if proxy.section.status != "ok":
        return None
    paths = {name: path.levels for name, path in proxy.paths.items() if path.levels is not None}
    if not paths:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for (name, levels), color in zip(paths.items(), _COLORS, strict=False):
        xs = [lv.connections for lv in levels]
        left.plot(xs, [lv.messages_per_s for lv in levels], marker="o", color=color, label=name)
        for key, style in (("p99", "-"), ("p50", "--")):
            ys = [getattr(lv.rtt_ms, key) for lv in levels]
            right.plot(xs, ys, marker="o", linestyle=style, color=color, label=f"{name} {key}")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent connections")
        ax.legend(fontsize=7)
    right.set_yscale("log")
    left.set_ylabel("echoed messages per second (closed loop)")
    right.set_ylabel("round trip at a fixed rate (ms)")
    return _save(fig, out_dir, "proxy_overhead.png")


def plot_encoders(encoders: EncoderCost, out_dir: Path) -> str | None:
    """CPU and wall time per frame for every encoder and size."""
    good = [r for r in encoders.runs or () if isinstance(r, EncoderRun)]
    if not good:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(good) + 1.5))
    labels = [f"{r.encoder} {r.height}p" for r in good]
    ax.barh(range(len(good)), [r.cpu_ms_per_frame for r in good], color="tab:purple", label="CPU ms/frame")
    walls = _nan_for_none(tuple(r.encode_ms.p50 for r in good))
    ax.scatter(walls, range(len(good)), color="black", marker="|", s=200, label="wall p50")
    ax.axvline(1000 / 60, color="red", linestyle=":", label="16.7 ms = 60 fps on one core")
    ax.set_yticks(range(len(good)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms per frame")
    ax.legend(fontsize=7)
    return _save(fig, out_dir, "encoder_cost.png")


def _nan_for_none(values: tuple[float | None, ...]) -> list[float]:
    return [v if v is not None else float("nan") for v in values]


def plot_step(network: Network, out_dir: Path) -> str | None:
    """Latency (worst per 250 ms) and received bitrate over the step scenario, every stack."""
    if network.section.not_run and not network.runs:
        return None
    runs = [r for r in network.runs if isinstance(r, NetworkRun) and r.scenario == STEP and r.series is not None]
    if not runs:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for run in runs:
        assert run.series is not None  # filtered above
        color = _STACK_COLORS.get(run.stack, "tab:gray")
        top.plot(run.series.t_s, _nan_for_none(run.series.latency_max_ms), color=color, label=run.stack)
        bottom.plot(run.series.t_s, _nan_for_none(run.series.mbit_per_s), color=color, label=run.stack)
    drop_s, restore_s = network.drop_s or 0.0, network.restore_s or 0.0
    for axis in (top, bottom):
        for at in (drop_s, restore_s):
            axis.axvline(at, color="gray", linestyle=":")
    top.axhline(100, color="red", linestyle="--", linewidth=0.8)
    top.set_ylabel("glass-to-glass, worst per 250 ms (ms)")
    top.set_yscale("log")
    bottom.set_ylabel("received Mbit/s")
    bottom.set_xlabel(f"seconds into the measurement (cap 20 -> 5 at {drop_s:g} s, back at {restore_s:g} s)")
    top.legend()
    top.set_title("step-20M-5M-20M, 1280x720 textured scene")
    return _save(fig, out_dir, "network_step.png")
