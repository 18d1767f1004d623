"""The benchmark harness runs end to end in a tiny configuration and writes results of the right shape.

Benchmarks are not tests: nothing here checks a speed. It checks that every benchmark still runs
against the real pieces and produces the JSON the report and the coordinator rely on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.results import SCHEMA, schema_problems
from benchmarks.stats import percentile, summarize
from benchmarks.targets import TARGETS

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """`python -m benchmarks --profile smoke` once for the module; its results document and directory."""
    out = tmp_path_factory.mktemp("bench-results")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--profile", "smoke", "--out", str(out), "--label", "smoke test"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads((out / "latest.json").read_text(encoding="utf-8")), out


@pytest.mark.timeout(300)
def test_results_document_has_the_schema(smoke_run: tuple[dict[str, Any], Path]) -> None:
    doc, _ = smoke_run
    assert doc["schema"] == SCHEMA
    assert schema_problems(doc) == []
    assert doc["profile"] == "smoke"
    assert doc["machine"]["cores"] >= 1
    assert doc["versions"]["aiortc"] and doc["versions"]["av"]


@pytest.mark.timeout(300)
def test_every_benchmark_produced_results(smoke_run: tuple[dict[str, Any], Path]) -> None:
    doc, _ = smoke_run
    sections = doc["benchmarks"]
    assert set(sections) == {"encoder_cost", "proxy_overhead", "glass_to_glass", "time_to_first_frame", "input_latency"}
    failed = {name: s.get("reason") for name, s in sections.items() if s["status"] not in ("ok", "partial")}
    assert failed == {}
    assert all("error" not in run for run in sections["glass_to_glass"]["runs"])
    assert {run["server"] for run in sections["glass_to_glass"]["runs"]} == {"app", "baseline"}
    assert all(run["latency_ms"]["count"] > 0 for run in sections["glass_to_glass"]["runs"])
    assert sections["time_to_first_frame"]["sessions"] >= 1
    assert sections["input_latency"]["baseline"]["received"] > 0
    assert sections["proxy_overhead"]["targets"]["proxy"]["handshakes"]["accepted"]["succeeded"] > 0
    assert all("error" not in run for run in sections["encoder_cost"]["runs"])


@pytest.mark.timeout(300)
def test_every_target_is_judged(smoke_run: tuple[dict[str, Any], Path]) -> None:
    doc, _ = smoke_run
    assert [row["key"] for row in doc["targets"]] == [t.key for t in TARGETS]
    by_key = {row["key"]: row for row in doc["targets"]}
    # The smoke profile runs no 720p60 H.264 and no 1,000 connections: those are honestly unmeasured.
    assert by_key["g2g_720_p50"]["status"] == "not measured"
    assert by_key["ttff_p50"]["status"] in ("met", "missed")
    assert by_key["proxy_memory"]["status"] in ("met", "missed")


@pytest.mark.timeout(300)
def test_report_and_plots_are_written(smoke_run: tuple[dict[str, Any], Path]) -> None:
    _, out = smoke_run
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "smoke run" in report
    for heading in ("## Targets", "## 1. Glass-to-glass", "## 2. Time to first frame", "## 4. Proxy overhead"):
        assert heading in report
    plots = sorted(p.name for p in out.glob("*.png"))
    assert plots == ["encoder_cost.png", "glass_to_glass.png", "proxy_overhead.png", "time_to_first_frame.png"]
    for name in plots:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in report


def test_schema_check_names_what_is_wrong() -> None:
    assert schema_problems({"schema": SCHEMA}) == [
        f"missing {key}"
        for key in (
            "profile",
            "label",
            "started_at",
            "duration_s",
            "machine",
            "versions",
            "seams",
            "benchmarks",
            "targets",
        )
    ]


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 99.9) == 100.0
    assert percentile([], 50) is None
    assert summarize([3.0, 1.0, 2.0], (50, 99.9)) == {
        "count": 3,
        "mean": 2.0,
        "min": 1.0,
        "max": 3.0,
        "p50": 2.0,
        "p99_9": 3.0,
    }
