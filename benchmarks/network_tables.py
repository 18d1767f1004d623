"""The network lab's Markdown: its section of ``REPORT.md``, where libwebrtc beats us, and
``network.md`` (the same, alone, for runs of the network section only). Pure: the step plot is
drawn by benchmarks/report_plots.py and only its file name comes in here."""

from __future__ import annotations

from benchmarks.markdown import fmt
from benchmarks.report_results import Network, NetworkFailure, NetworkRun, NoFrame, Results
from benchmarks.targets import NETWORK_TARGETS


def _run_of(network: Network, scenario: str, stack: str) -> NetworkRun | NoFrame | NetworkFailure | None:
    return next((r for r in network.runs if r.scenario == scenario and r.stack == stack), None)


def where_libwebrtc_wins(network: Network) -> list[str]:
    """Plain sentences: each scenario where libwebrtc's p95 or frame rate beats ours."""
    lines = []
    compared = 0
    for scenario in network.scenarios:
        ours, ref = _run_of(network, scenario, "ours"), _run_of(network, scenario, "libwebrtc")
        if ours is None or isinstance(ours, NetworkFailure) or not isinstance(ref, NetworkRun):
            continue
        compared += 1
        if isinstance(ours, NoFrame):
            lines.append(f"- **{scenario}**: libwebrtc beats us: it showed {ref.presented_fps:.1f} fps, we no frame.")
            continue
        beats = []
        ref_p95, our_p95 = ref.latency_ms.p95, ours.latency_ms.p95
        if ref_p95 is not None and our_p95 is not None and ref_p95 < our_p95:
            beats.append(f"p95 {ref_p95:.0f} ms against our {our_p95:.0f} ms")
        if ref.presented_fps > ours.presented_fps:
            beats.append(f"{ref.presented_fps:.1f} fps presented against our {ours.presented_fps:.1f}")
        if ref.total_freezes_ms < ours.total_freezes_ms:
            beats.append(f"{ref.total_freezes_ms:.0f} ms frozen against our {ours.total_freezes_ms:.0f} ms")
        if beats:
            lines.append(f"- **{scenario}**: libwebrtc beats us: " + "; ".join(beats) + ".")
    if not compared:
        return ["- Not compared: this run has no scenario measured on both ours and libwebrtc."]
    return lines or ["- libwebrtc beats us in no scenario of this run (p95, frame rate, freezes)."]


def _row(description: str, run: NetworkRun | NoFrame | NetworkFailure) -> str:
    head = f"| {run.scenario} | {description} | {run.stack} |"
    if isinstance(run, NetworkFailure):
        return f"{head} error: {run.error} |||||| |"
    if isinstance(run, NoFrame):
        return f"{head} 0 | no frame: {run.reason} |||||| |"
    lat = run.latency_ms
    return (
        f"{head} {run.presented_fps:.1f} | "
        f"{fmt(lat.p50)} / {fmt(lat.p95)} / {fmt(lat.p99)} | {run.freeze_count} "
        f"({run.total_freezes_ms:.0f}) | {fmt(run.longest_gap_ms)} | {run.mbit_per_s:.2f} | "
        f"{run.received_size} | {run.packets_lost} / {run.nacks} / {run.plis} |"
    )


def network_section(network: Network | None, step_plot: str | None) -> list[str]:
    """The report's network section; `step_plot` is the step scenario's plot file, if drawn."""
    lines = ["## Network lab: ours, stock aiortc and libwebrtc on impaired links", ""]
    if network is None:
        return [*lines, "Not run in this run.", ""]
    if network.section.not_run and not network.runs:
        return [*lines, f"{network.section.status}: {network.section.reason}", ""]
    lines += [
        f"Each stack over the same lab path (docs/network-lab.md): {network.size}, relay-only through the "
        f"impairment relay and coturn, one session per scenario, {network.warmup_s} s warm-up then "
        f"{network.measure_s} s measured. ours: H.264 through proxy and nvcf-local; aiortc: stock, VP8, its "
        "own 30 fps; libwebrtc: Chromium canvas capture to Chromium, VP8. Freezes are Chromium's `freezeCount` and "
        "`totalFreezesDuration`; *longest gap* is the longest wait between two presented frames.",
        "",
        "| scenario | what | stack | fps | p50 / p95 / p99 ms | freezes (ms frozen) | longest gap ms | Mbit/s "
        "| size | lost / NACK / PLI |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, description in network.scenarios.items():
        lines += [_row(description, run) for run in network.runs if run.scenario == scenario]
    lines += [f"- {r.stack}: {r.error}" for r in network.runs if isinstance(r, NetworkFailure) and r.scenario == "*"]
    lines += ["", "Where libwebrtc does better than us:", "", *where_libwebrtc_wins(network), ""]
    if step_plot:
        lines += [f"![step scenario]({step_plot})", ""]
    return lines


def network_markdown(results: Results, step_plot: str | None) -> str:
    """``network.md``: the network targets and section of a run, on their own."""
    keys = {t.key for t in NETWORK_TARGETS}
    m = results.machine
    lines = [
        "# Network benchmark",
        "",
        f"Run {results.started_at}, profile `{results.profile}`, {results.duration_s:.0f} s"
        + (f" ({results.label})" if results.label else "")
        + ". Raw numbers: [network.json](network.json). How to run and read: "
        "[docs/benchmarks.md](../../docs/benchmarks.md), [docs/network-lab.md](../../docs/network-lab.md).",
        "",
        f"Machine: {m.cores} cores, {m.cpu_model}; load average at start {m.loadavg_at_start}, at end "
        f"{m.loadavg_at_end}.",
        "",
        "## Targets (ours)",
        "",
        "| target | bound | measured | status |",
        "|---|---|---|---|",
    ]
    for r in results.targets:
        if r.key not in keys:
            continue
        measured = "-" if r.measured is None else f"{r.measured:g} {r.unit}"
        note = f": {r.note.removeprefix('inconclusive: ')}" if r.note else ""
        lines.append(f"| {r.title} | {r.target} | {measured} | {r.status}{note} |")
    lines += ["", *network_section(results.network, step_plot)]
    return "\n".join(lines).rstrip() + "\n"
