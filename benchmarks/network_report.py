"""The network benchmark's part of the report: its table, the step plot, where libwebrtc beats us,
and ``network.md`` (the same, alone, for runs of the network section only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from benchmarks.targets import NETWORK_TARGETS, STEP

_STACK_COLORS = {"ours": "tab:blue", "aiortc": "tab:orange", "libwebrtc": "tab:green"}
PLOT = "network_step.png"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _row_of(runs: list[dict[str, Any]], scenario: str, stack: str) -> dict[str, Any] | None:
    return next((r for r in runs if r["scenario"] == scenario and r["stack"] == stack), None)


def plot_step(section: dict[str, Any], out_dir: Path) -> str | None:
    """Latency (worst per 250 ms) and received bitrate over the step scenario, every stack."""
    runs = [r for r in section["runs"] if r["scenario"] == STEP and "error" not in r]
    if not runs:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for run in runs:
        s = run["series"]
        color = _STACK_COLORS.get(run["stack"], "tab:gray")
        top.plot(s["t_s"], [v if v is not None else float("nan") for v in s["latency_max_ms"]], color=color,
                 label=run["stack"])  # fmt: skip
        bottom.plot(s["t_s"], [v if v is not None else float("nan") for v in s["mbit_per_s"]], color=color,
                    label=run["stack"])  # fmt: skip
    step = section["step"]
    for axis in (top, bottom):
        for at in (step["drop_s"], step["restore_s"]):
            axis.axvline(at, color="gray", linestyle=":")
    top.axhline(100, color="red", linestyle="--", linewidth=0.8)
    top.set_ylabel("glass-to-glass, worst per 250 ms (ms)")
    top.set_yscale("log")
    bottom.set_ylabel("received Mbit/s")
    bottom.set_xlabel(
        f"seconds into the measurement (cap 20 -> 5 at {step['drop_s']:g} s, back at {step['restore_s']:g} s)"
    )
    top.legend()
    top.set_title("step-20M-5M-20M, 1280x720 textured scene")
    fig.tight_layout()
    fig.savefig(out_dir / PLOT, dpi=90)
    plt.close(fig)
    return PLOT


def where_libwebrtc_wins(section: dict[str, Any]) -> list[str]:
    """Plain sentences: each scenario where libwebrtc's p95 or frame rate beats ours."""
    runs = section["runs"]
    lines = []
    compared = 0
    for scenario in section.get("scenarios", {}):
        ours, ref = _row_of(runs, scenario, "ours"), _row_of(runs, scenario, "libwebrtc")
        if ours is None or ref is None or "error" in ours or "error" in ref or "no_frame" in ref:
            continue
        compared += 1
        if "no_frame" in ours:
            lines.append(
                f"- **{scenario}**: libwebrtc beats us: it showed {ref['presented_fps']:.1f} fps, we no frame."
            )
            continue
        beats = []
        if ref["latency_ms"]["p95"] is not None and ours["latency_ms"]["p95"] is not None:
            if ref["latency_ms"]["p95"] < ours["latency_ms"]["p95"]:
                beats.append(f"p95 {ref['latency_ms']['p95']:.0f} ms against our {ours['latency_ms']['p95']:.0f} ms")
        if ref["presented_fps"] > ours["presented_fps"]:
            beats.append(f"{ref['presented_fps']:.1f} fps presented against our {ours['presented_fps']:.1f}")
        if ref["total_freezes_ms"] < ours["total_freezes_ms"]:
            beats.append(f"{ref['total_freezes_ms']:.0f} ms frozen against our {ours['total_freezes_ms']:.0f} ms")
        if beats:
            lines.append(f"- **{scenario}**: libwebrtc beats us: " + "; ".join(beats) + ".")
    if not compared:
        return ["- Not compared: this run has no scenario measured on both ours and libwebrtc."]
    return lines or ["- libwebrtc beats us in no scenario of this run (p95, frame rate, freezes)."]


def network_section(doc: dict[str, Any], out_dir: Path) -> list[str]:
    """The report's network section."""
    lines = ["## Network lab: ours, stock aiortc and libwebrtc on impaired links", ""]
    section = doc["benchmarks"].get("network")
    if not isinstance(section, dict):
        return [*lines, "Not run in this run.", ""]
    if section["status"] in ("failed", "skipped") and not section.get("runs"):
        return [*lines, f"{section['status']}: {section.get('reason', '')}", ""]
    lines += [
        f"Each stack over the same lab path (docs/network-lab.md): {section.get('size')}, relay-only through the "
        f"impairment relay and coturn, one session per scenario, {section.get('warmup_s')} s warm-up then "
        f"{section.get('measure_s')} s measured. ours: H.264 through proxy and nvcf-local; aiortc: stock, VP8, its "
        "own 30 fps; libwebrtc: Chromium canvas capture to Chromium, VP8. Freezes are Chromium's `freezeCount` and "
        "`totalFreezesDuration`; *longest gap* is the longest wait between two presented frames.",
        "",
        "| scenario | what | stack | fps | p50 / p95 / p99 ms | freezes (ms frozen) | longest gap ms | Mbit/s "
        "| size | lost / NACK / PLI |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, description in section.get("scenarios", {}).items():
        for run in [r for r in section["runs"] if r["scenario"] == scenario]:
            if "error" in run:
                lines.append(f"| {scenario} | {description} | {run['stack']} | error: {run['error']} |||||| |")
                continue
            if "no_frame" in run:
                lines.append(
                    f"| {scenario} | {description} | {run['stack']} | 0 | no frame: {run['no_frame']} |||||| |"
                )
                continue
            lat = run["latency_ms"]
            lines.append(
                f"| {scenario} | {description} | {run['stack']} | {run['presented_fps']:.1f} | "
                f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['p99'])} | {run['freeze_count']} "
                f"({run['total_freezes_ms']:.0f}) | {_fmt(run['longest_gap_ms'])} | {run['mbit_per_s']:.2f} | "
                f"{run['received_size']} | {run['packets_lost']} / {run['nacks']} / {run['plis']} |"
            )
    failed = [r for r in section["runs"] if r.get("scenario") == "*"]
    lines += [f"- {r['stack']}: {r['error']}" for r in failed]
    lines += ["", "Where libwebrtc does better than us:", "", *where_libwebrtc_wins(section), ""]
    plot = plot_step(section, out_dir)
    if plot:
        lines += [f"![step scenario]({plot})", ""]
    return lines


def render_network(doc: dict[str, Any], out_dir: Path) -> str:
    """``network.md``: the network targets and section of a run, on their own."""
    keys = {t.key for t in NETWORK_TARGETS}
    rows = [r for r in doc["targets"] if r["key"] in keys]
    lines = [
        "# Network benchmark",
        "",
        f"Run {doc['started_at']}, profile `{doc['profile']}`, {doc['duration_s']:.0f} s"
        + (f" ({doc['label']})" if doc.get("label") else "")
        + ". Raw numbers: [network.json](network.json). How to run and read: "
        "[docs/benchmarks.md](../../docs/benchmarks.md), [docs/network-lab.md](../../docs/network-lab.md).",
        "",
        f"Machine: {doc['machine']['cores']} cores, {doc['machine']['cpu_model']}; load average at start "
        f"{doc['machine'].get('loadavg_at_start')}, at end {doc['machine'].get('loadavg_at_end')}.",
        "",
        "## Targets (ours)",
        "",
        "| target | bound | measured | status |",
        "|---|---|---|---|",
    ]
    for r in rows:
        measured = "-" if r["measured"] is None else f"{r['measured']:g} {r['unit']}"
        note = f": {r['note'].removeprefix('inconclusive: ')}" if r["note"] else ""
        lines.append(f"| {r['title']} | {r['target']} | {measured} | {r['status']}{note} |")
    lines += ["", *network_section(doc, out_dir)]
    return "\n".join(lines).rstrip() + "\n"
