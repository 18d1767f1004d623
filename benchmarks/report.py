"""The benchmark reports: ``REPORT.md`` (and ``network.md`` when the run has the network section)
with their plots, written from the results document.

The document is read into typed results (benchmarks/report_results.py), the plots are drawn from
them (benchmarks/report_plots.py) and the Markdown is made from them and the plots' file names
(benchmarks/report_tables.py, benchmarks/network_tables.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.network_tables import network_markdown
from benchmarks.report_plots import plot_encoders, plot_g2g, plot_proxy, plot_step, plot_ttff
from benchmarks.report_results import Results
from benchmarks.report_tables import PlotFiles, report_markdown
from benchmarks.results import schema_problems


def draw_plots(results: Results, out_dir: Path) -> PlotFiles:
    """Draw every plot `results` has data for into `out_dir`."""
    return PlotFiles(
        glass_to_glass=plot_g2g(results.glass_to_glass, out_dir) if results.glass_to_glass else None,
        time_to_first_frame=plot_ttff(results.first_frame, out_dir) if results.first_frame else None,
        proxy_overhead=plot_proxy(results.proxy_overhead, out_dir) if results.proxy_overhead else None,
        encoder_cost=plot_encoders(results.encoder_cost, out_dir) if results.encoder_cost else None,
        network_step=plot_step(results.network, out_dir) if results.network else None,
    )


def render(doc: dict[str, Any], out_dir: Path) -> str:
    """The report's Markdown; plots are written to `out_dir` as a side effect."""
    results = Results.read(doc)
    return report_markdown(results, draw_plots(results, out_dir))


def render_network(doc: dict[str, Any], out_dir: Path) -> str:
    """``network.md``: the network targets and section of a run, on their own (its plot into `out_dir`)."""
    results = Results.read(doc)
    return network_markdown(results, plot_step(results.network, out_dir) if results.network else None)


def write_report(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write ``REPORT.md`` and its PNGs to `out_dir` (stale plots of benchmarks not run are removed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    results = Results.read(doc)
    plots = draw_plots(results, out_dir)
    path = out_dir / "REPORT.md"
    path.write_text(report_markdown(results, plots), encoding="utf-8")
    if results.network is not None:
        (out_dir / "network.md").write_text(network_markdown(results, plots.network_step), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report [DIR]``: write the report again from DIR's ``latest.json``
    (default ``benchmarks/results``), e.g. after a change of the report's format; measures nothing."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=main.__doc__)
    parser.add_argument("dir", nargs="?", type=Path, default=Path("benchmarks/results"), help="results directory")
    args = parser.parse_args(argv)
    source = args.dir / "latest.json"
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read {source}: {exc}")
    problems = schema_problems(doc)
    if problems:
        parser.error(f"{source} is not a results document: " + "; ".join(problems))
    print(write_report(doc, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
