"""`make stress` at a tiny size: every run completes and meets its targets, and the report is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stress.report import verdicts
from stress.runner import StressConfig, run_all

pytestmark = pytest.mark.browser


async def test_a_tiny_stress_run_meets_its_targets_and_writes_the_report(tmp_path: Path) -> None:
    config = StressConfig(relay_sessions=20, relay_seconds=2.0, abuse_scale=5, browser_sessions=2)
    report = await run_all(config, tmp_path)
    missed = {name for name, ok in verdicts(report).items() if not ok}
    # Two sessions are too few to measure growth from the tenth; everything else must hold.
    assert missed <= {"browser: no growth in fds, threads or sockets from session 10"}, report
    assert report["relay"]["messages_sent"] > 0 and report["relay"]["lost"] == 0
    assert report["browser_sessions"]["reached_first_frame"] == 2
    assert json.loads((tmp_path / "results.json").read_text())["relay"]["opened"] == 40  # Two rounds
    assert "| relay: zero lost messages | yes |" in (tmp_path / "REPORT.md").read_text()
