"""Summaries of samples: percentiles the way the report states them (nearest-rank on sorted data)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) by nearest rank, or None without samples.

    Nearest rank never interpolates: a p99 of 100 samples is the 99th smallest one, a value that
    was actually measured.
    """
    if not samples:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not in 0-100")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summarize(samples: Sequence[float], quantiles: Sequence[float] = (50, 95, 99)) -> dict[str, Any]:
    """Count, mean, min, max and the given percentiles (keys ``p50``, ``p99_9``...), rounded to 3 places."""
    out: dict[str, Any] = {"count": len(samples)}
    if samples:
        out["mean"] = round(sum(samples) / len(samples), 3)
        out["min"] = round(float(min(samples)), 3)
        out["max"] = round(float(max(samples)), 3)
    for q in quantiles:
        value = percentile(samples, q)
        out["p" + f"{q:g}".replace(".", "_")] = None if value is None else round(value, 3)
    return out
