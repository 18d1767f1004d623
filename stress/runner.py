"""`python -m stress` (`make stress`): the relay soak, the abuse run and the browser sessions,
then `stress/results/REPORT.md` and `results.json`. `STRESS_QUICK=1` runs each at a small size."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stress import abuse, browser_sessions, relay
from stress.report import verdicts, write_report

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class StressConfig:
    """How big each run is; the defaults are the full run of docs/security.md ("`make stress`")."""

    relay_sessions: int = 1000
    relay_seconds: float = 60.0
    abuse_scale: int = 100
    browser_sessions: int = 100

    @classmethod
    def quick(cls) -> StressConfig:
        return cls(relay_sessions=100, relay_seconds=5.0, abuse_scale=20, browser_sessions=12)


def _raise_fd_limit() -> None:
    # 1,000 sessions are ~3,000 sockets across this process and its children (which inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run_all(config: StressConfig, results_dir: Path) -> dict[str, Any]:
    """Every run in turn; a run that fails is reported as such and the others still run."""
    _raise_fd_limit()
    report: dict[str, Any] = {
        "config": config.__dict__,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    runs: dict[str, Callable[[Path], Awaitable[dict[str, Any]]]] = {
        "relay": lambda workdir: relay.run(workdir, config.relay_sessions, config.relay_seconds),
        "abuse": lambda workdir: abuse.run(workdir, config.abuse_scale),
        "browser_sessions": lambda workdir: browser_sessions.run(workdir, config.browser_sessions),
    }
    for name, start in runs.items():
        began = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"stress-{name}-") as tmp:
            try:
                report[name] = await start(Path(tmp))
            except Exception as exc:  # One broken run must not hide the others' figures.
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        report[name]["run_seconds"] = round(time.monotonic() - began, 1)
        print(f"stress: {name} done in {report[name]['run_seconds']} s", file=sys.stderr, flush=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    write_report(report, results_dir / "REPORT.md")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything; exit status 1 when a run failed or missed a target."""
    config = StressConfig.quick() if os.environ.get("STRESS_QUICK") else StressConfig()
    results_dir = Path(os.environ.get("STRESS_RESULTS", RESULTS))
    report = asyncio.run(run_all(config, results_dir))
    failed = [name for name, ok in verdicts(report).items() if not ok]
    print(
        f"stress: report in {results_dir / 'REPORT.md'}; "
        + ("all targets met" if not failed else f"missed: {', '.join(failed)}")
    )
    return 1 if failed else 0
