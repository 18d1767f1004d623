"""`python -m benchmarks` (`make bench`): run the suite and write benchmarks/results/."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from benchmarks.config import BenchConfigError, load_config
from benchmarks.runner import run_suite


def main(argv: Sequence[str] | None = None) -> int:
    """Run; 0 when every selected benchmark produced results (missed targets are results too)."""
    try:
        config = load_config(argv, os.environ)
    except BenchConfigError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    doc = asyncio.run(run_suite(config))
    for row in doc["targets"]:
        measured = "-" if row["measured"] is None else f"{row['measured']:g} {row['unit']}"
        print(f"{row['status']:>12}  {row['title']}: {measured} (target {row['target']})")
    print(f"results: {config.out_dir / 'latest.json'}, report: {config.out_dir / 'REPORT.md'}")
    failed = [name for name, section in doc["benchmarks"].items() if section["status"] == "failed"]
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)} (reasons in the report)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
