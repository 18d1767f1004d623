"""The benchmark report (benchmarks/report.py) held against the committed results: the committed
``REPORT.md`` and ``network.md`` are exactly what their committed results documents render to."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.render_cost import run_sizes
from benchmarks.report import render_network, write_report
from benchmarks.report_results import EncoderFailure, G2gFailure, NetworkFailure, NoFrame, Results
from benchmarks.report_tables import PlotFiles, report_markdown

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
IMAGE = re.compile(r"^!\[[^\]]*\]\(([^)]+)\)$")


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    return doc


def _without_images(markdown: str) -> str:
    """`markdown` without its image lines (and the blank line after each)."""
    lines = markdown.split("\n")
    kept = []
    skip_blank = False
    for line in lines:
        if IMAGE.match(line):
            skip_blank = True
            continue
        if skip_blank and line == "":
            skip_blank = False
            continue
        skip_blank = False
        kept.append(line)
    return "\n".join(kept)


def test_the_committed_report_is_what_latest_json_renders_to(tmp_path: Path) -> None:
    written = write_report(_doc("latest.json"), tmp_path)
    committed = (RESULTS / "REPORT.md").read_text(encoding="utf-8")
    assert written.read_text(encoding="utf-8") == committed
    # Every plot the report links was drawn, and no other.
    linked = {m.group(1) for line in committed.splitlines() if (m := IMAGE.match(line))}
    assert linked and {p.name for p in tmp_path.glob("*.png")} == linked


def test_the_committed_network_page_is_what_network_json_renders_to(tmp_path: Path) -> None:
    committed = (RESULTS / "network.md").read_text(encoding="utf-8")
    assert render_network(_doc("network.json"), tmp_path) == committed
    assert (tmp_path / "network_step.png").stat().st_size > 0


def test_the_tables_need_no_plots() -> None:
    results = Results.read(_doc("latest.json"))
    committed = (RESULTS / "REPORT.md").read_text(encoding="utf-8")
    assert report_markdown(results, PlotFiles()) == _without_images(committed)
    # The tables do not even load matplotlib.
    probe = "import sys, benchmarks.report_tables; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_a_run_that_failed_reads_as_a_failure_and_shows_its_error() -> None:
    doc = copy.deepcopy(_doc("latest.json"))
    g2g = doc["benchmarks"]["glass_to_glass"]["runs"]
    g2g[0] = {**{k: g2g[0][k] for k in ("server", "width", "height", "fps", "codec", "path")}, "error": "no browser"}
    encoders = doc["benchmarks"]["encoder_cost"]["runs"]
    encoders[0] = {**{k: encoders[0][k] for k in ("encoder", "width", "height")}, "error": "no libx264"}
    network = doc["benchmarks"]["network"]["runs"]
    network[0] = {"stack": network[0]["stack"], "scenario": network[0]["scenario"], "error": "lab down"}
    network[1] = {**network[1], "no_frame": "nothing arrived", "presented_fps": 0.0}

    results = Results.read(doc)
    assert results.glass_to_glass and results.encoder_cost and results.network
    assert results.glass_to_glass.runs and isinstance(results.glass_to_glass.runs[0], G2gFailure)
    assert results.encoder_cost.runs and isinstance(results.encoder_cost.runs[0], EncoderFailure)
    assert isinstance(results.network.runs[0], NetworkFailure) and isinstance(results.network.runs[1], NoFrame)
    markdown = report_markdown(results, PlotFiles())
    for words in (
        "| error: no browser |",
        "| error: no libx264 |",
        "| error: lab down |",
        "| no frame: nothing arrived |",
    ):
        assert words in markdown


@pytest.mark.parametrize("status", ["failed", "skipped"])
def test_a_section_that_did_not_run_shows_its_reason(status: str) -> None:
    doc = copy.deepcopy(_doc("latest.json"))
    doc["benchmarks"]["proxy_overhead"] = {"status": status, "reason": "nginx is not installed"}
    del doc["benchmarks"]["encoder_cost"]
    markdown = report_markdown(Results.read(doc), PlotFiles())
    proxy = markdown.split("## 4. Proxy overhead\n\n", 1)[1]
    assert proxy.startswith(f"{status}: nginx is not installed\n\n## 5. Encoder cost\n\nNot run in this run.\n")


def test_the_render_path_is_measured_step_by_step_and_shown_in_the_encoder_section() -> None:
    doc = copy.deepcopy(_doc("latest.json"))
    doc["benchmarks"]["encoder_cost"]["render_path"] = run_sizes(((320, 180),), 3, 5.0)
    render_path = Results.read(doc).encoder_cost.render_path  # type: ignore[union-attr]
    assert render_path is not None
    markdown = report_markdown(Results.read(doc), PlotFiles())
    section = markdown.split("### Render path of a GPU app (examples/orbit)\n\n", 1)[1]
    if render_path.status != "ok":  # no EGL here: the report says why
        assert section.startswith(f"Not measured: {render_path.reason}") and "EGL" in render_path.reason
        return
    assert [run.path for run in render_path.runs] == ["rgba", "yuv420p"]
    for run in render_path.runs:
        assert (run.width, run.height, run.frames) == (320, 180, 3)
        steps = (run.render_ms, run.read_back_ms, run.wrap_ms, run.convert_ms, run.encode_ms)
        assert all(step.p50 is not None and step.p50 > 0 for step in steps)
        # The total of each frame is the sum of its steps, so the means add up (to the rounding).
        assert run.total_ms.mean == pytest.approx(sum(step.mean or 0 for step in steps), abs=0.01)
        assert (run.numpy_path_ms.p50 is not None) == (run.path == "rgba")  # only the RGBA path has a numpy twin
        # In the encoder section, before the next one.
        assert f"| 320x180 | {run.path} | 3 |" in section.split("\n## ", 1)[0]


def test_a_results_document_without_a_render_path_reads_as_none() -> None:
    doc = copy.deepcopy(_doc("latest.json"))
    doc["benchmarks"]["encoder_cost"].pop("render_path", None)  # as results written before it existed
    results = Results.read(doc)
    assert results.encoder_cost is not None and results.encoder_cost.render_path is None
    assert "Render path" not in report_markdown(results, PlotFiles())


def test_a_firefox_row_is_named_for_its_browser() -> None:
    doc = copy.deepcopy(_doc("latest.json"))
    g2g = doc["benchmarks"]["glass_to_glass"]["runs"]
    g2g[:] = [run for run in g2g if run.get("browser", "chromium") != "firefox"]  # only the rows added here
    measured = next(run for run in g2g if "error" not in run and run["server"] == "app")
    g2g.append({**measured, "browser": "firefox", "codec": "vp8", "negotiated_codec": "video/VP8"})
    g2g.append(
        {
            **{k: measured[k] for k in ("server", "width", "height", "fps", "path")},
            "codec": "vp8",
            "browser": "firefox",
            "error": "no firefox",
        }
    )
    markdown = report_markdown(Results.read(doc), PlotFiles())
    rows = [line for line in markdown.splitlines() if line.startswith("| app in Firefox |")]
    assert len(rows) == 2 and "| video/VP8 |" in rows[0] and "| error: no firefox |" in rows[1], rows
    # The Chromium rows stay as they were.
    assert sum(line.startswith("| app |") for line in markdown.splitlines()) >= 1
