"""The pieces of the benchmark reports' Markdown: numbers as the reports print them, and tables."""

from __future__ import annotations

from collections.abc import Sequence


def fmt(value: object, digits: int = 1) -> str:
    """A number as the reports print it: floats to `digits` places, ints as they are, None as -."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table and the blank line after it; cells that are not text go through `fmt`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return [*lines, ""]
