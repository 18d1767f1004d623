"""Runs the selected benchmarks within a time budget and writes the JSON results and the report."""

from __future__ import annotations

import asyncio
import datetime
import importlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from benchmarks import environment
from benchmarks.config import BenchConfig
from benchmarks.context import BenchContext
from benchmarks.echo_server import raise_fd_limit
from benchmarks.input_latency import APP_LOG_ENV
from benchmarks.processes import PROXY_ENV
from benchmarks.report import write_report
from benchmarks.results import SCHEMA, write_json
from benchmarks.stack import CODECS_SETTING, NETWORK_APP_ENV, STREAM_APP_ENV, settings_text
from benchmarks.targets import NETWORK_TARGETS, judge_all

TOTAL_BUDGET_S: Final = {"full": 26 * 60.0, "quick": 350.0, "smoke": 280.0}
"""The whole run's wall-clock bound; a benchmark still running when it is spent is cancelled."""
SHARE: Final = {
    "encoder_cost": 0.08,
    "proxy_overhead": 0.32,
    "glass_to_glass": 0.42,
    "time_to_first_frame": 0.12,
    "input_latency": 0.06,
    "network": 0.86,
}
"""Each benchmark's share of the budget; time one leaves unused goes to the next."""
SMOKE_SHARE: Final = {**SHARE, "network": 0.05}
"""The smoke profile's network section is one short session: a full share would starve the others."""


def stack_settings() -> list[dict[str, str]]:
    """What the stacks of a run are configured with, for the report to print beside the numbers."""
    return [
        {
            "name": "stream app",
            "value": f"one codec per stack via {CODECS_SETTING}, page #codec=<codec>; {settings_text(STREAM_APP_ENV)}",
        },
        {"name": "stream app, network runs", "value": f"on top of the above: {settings_text(NETWORK_APP_ENV)}"},
        {"name": "stream app, input latency", "value": f"{settings_text(APP_LOG_ENV)}: app handler times from its log"},
        {"name": "proxy", "value": f"tokens RS256 via JWKS; {settings_text(PROXY_ENV)}"},
    ]


async def _run_one(name: str, ctx: BenchContext, budget: float) -> dict[str, Any]:
    module = importlib.import_module(f"benchmarks.{name}")
    started = time.monotonic()
    ctx.partial = {}
    ctx.deadline = started + budget
    try:
        async with asyncio.timeout(budget):
            section: dict[str, Any] = await module.run(ctx)
    except TimeoutError:
        section = {**ctx.partial, "status": "failed", "reason": f"did not finish within its {budget:.0f} s budget"}
    except Exception as exc:  # one broken benchmark must not take the others' results with it
        section = {**ctx.partial, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    section["duration_s"] = round(time.monotonic() - started, 1)
    return section


async def run_suite(config: BenchConfig, *, quiet: bool = False) -> dict[str, Any]:
    """Run `config.only`, write ``latest.json`` and ``REPORT.md`` (with plots) to `config.out_dir`."""
    raise_fd_limit()
    # Profiles belong to the run that took them; a run without profiling must not show old ones.
    for stale in config.out_dir.glob("profile-*.txt"):
        stale.unlink()
    workdir = Path(tempfile.mkdtemp(prefix="nvcf-bench-"))
    ctx = BenchContext(config=config, workdir=workdir, quiet=quiet)
    started = time.monotonic()
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "profile": config.profile.name,
        "label": config.label,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": 0.0,
        "machine": environment.machine(),
        "versions": environment.versions(config.chromium, config.nginx),
        "settings": stack_settings(),
        "benchmarks": {},
        "targets": [],
    }
    total = TOTAL_BUDGET_S[config.profile.name]
    shares = SMOKE_SHARE if config.profile.name == "smoke" else SHARE
    try:
        for index, name in enumerate(config.only):
            left = total - (time.monotonic() - started)
            still = config.only[index:]
            budget = max(10.0, left * shares[name] / sum(shares[n] for n in still))
            ctx.log(f"{name}: starting (budget {budget:.0f} s)")
            doc["benchmarks"][name] = await _run_one(name, ctx, budget)
            ctx.log(f"{name}: {doc['benchmarks'][name]['status']} in {doc['benchmarks'][name]['duration_s']} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    doc["duration_s"] = round(time.monotonic() - started, 1)
    doc["profiles"] = ctx.profiles
    doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["targets"] = judge_all(doc)
    write_json(doc, config.out_dir / "latest.json")
    if "network" in doc["benchmarks"]:
        # The network part alone, so a run of that section can be kept without replacing the full report.
        network_keys = {t.key for t in NETWORK_TARGETS}
        network = {
            **doc,
            "benchmarks": {"network": doc["benchmarks"]["network"]},
            "targets": [r for r in doc["targets"] if r["key"] in network_keys],
        }
        write_json(network, config.out_dir / "network.json")
    write_report(doc, config.out_dir)
    return doc
