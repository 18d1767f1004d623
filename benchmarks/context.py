"""What every benchmark gets: the config, its profile, a scratch directory and a progress log."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig, Profile


@dataclass
class BenchContext:
    """Shared by the benchmarks of one run."""

    config: BenchConfig
    workdir: Path
    started: float = field(default_factory=time.monotonic)
    quiet: bool = False
    profiles: list[dict[str, Any]] = field(default_factory=list)
    """py-spy summaries taken during this run (`benchmarks.profiling`)."""
    partial: dict[str, Any] = field(default_factory=dict)
    """What the running benchmark has measured so far; kept if it runs out of time."""
    deadline: float = float("inf")
    """`time.monotonic()` by which the running benchmark must be done (the runner cancels it then)."""

    def time_left(self) -> float:
        """Seconds until `deadline`: a benchmark skips what would not fit rather than being cancelled."""
        return self.deadline - time.monotonic()

    @property
    def profile(self) -> Profile:
        """How much each benchmark does."""
        return self.config.profile

    def log(self, message: str) -> None:
        """One progress line on stderr with the seconds since the run began."""
        if not self.quiet:
            print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)
