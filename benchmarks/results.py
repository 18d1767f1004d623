"""The results document (``results/latest.json``): its shape, and a check of that shape.

Top level: ``schema``, ``profile``, ``label``, ``started_at`` (ISO 8601 UTC), ``duration_s``,
``machine`` (cores, CPU model...), ``versions`` (python, aiortc, av, libx264, libvpx, chromium,
nginx, git...), ``settings`` (what the stacks ran with), ``benchmarks`` (one section per
benchmark, each with a ``status`` of ok/partial/failed/skipped) and ``targets`` (one row per
target: key, title, target, measured, unit, status met/missed/inconclusive/not measured, note).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

SCHEMA: Final = "nvcf-stream-kit-bench/1"
STATUSES: Final = ("ok", "partial", "failed", "skipped")
TARGET_STATUSES: Final = ("met", "missed", "inconclusive", "not measured")

_TOP: Final = {
    "schema": str,
    "profile": str,
    "label": str,
    "started_at": str,
    "duration_s": float,
    "machine": dict,
    "versions": dict,
    "settings": list,
    "benchmarks": dict,
    "targets": list,
}
_MACHINE: Final = ("cores", "cpu_model")
_VERSIONS: Final = ("python", "aiortc", "av", "libx264", "libvpx", "chromium", "git")
_SECTIONS: Final = {
    "encoder_cost": ("runs",),
    "proxy_overhead": ("targets", "added_latency_ms", "token_check_in_process"),
    "glass_to_glass": ("runs",),
    "time_to_first_frame": ("phases_ms", "sessions", "phase_definitions"),
    "input_latency": ("app", "baseline"),
    "network": ("runs",),
}


def schema_problems(doc: dict[str, Any]) -> list[str]:
    """Everything wrong with the document's shape (empty when it is fine)."""
    problems: list[str] = []
    for key, kind in _TOP.items():
        if key not in doc:
            problems.append(f"missing {key}")
        elif not isinstance(doc[key], kind) and not (kind is float and isinstance(doc[key], int)):
            problems.append(f"{key} is {type(doc[key]).__name__}, not {kind.__name__}")
    if problems:
        return problems
    if doc["schema"] != SCHEMA:
        problems.append(f"schema {doc['schema']!r} is not {SCHEMA!r}")
    problems += [f"machine.{k} missing" for k in _MACHINE if k not in doc["machine"]]
    problems += [f"versions.{k} missing" for k in _VERSIONS if k not in doc["versions"]]
    for name, section in doc["benchmarks"].items():
        if name not in _SECTIONS:
            problems.append(f"unknown benchmark {name}")
            continue
        status = section.get("status")
        if status not in STATUSES:
            problems.append(f"{name}.status {status!r} not one of {STATUSES}")
        if status in ("ok", "partial"):
            problems += [f"{name}.{k} missing" for k in _SECTIONS[name] if k not in section]
        elif "reason" not in section and name != "input_latency":
            problems.append(f"{name} is {status} without a reason")
    for row in doc["targets"]:
        if row.get("status") not in TARGET_STATUSES:
            problems.append(f"target {row.get('key')} status {row.get('status')!r}")
        if row.get("status") in ("met", "missed") and not isinstance(row.get("measured"), int | float):
            problems.append(f"target {row.get('key')} judged without a measured number")
    return problems


def write_json(doc: dict[str, Any], path: Path) -> None:
    """Write the document, sorted keys off (sections in run order), newline at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
