"""What a doctor check found: a status, what it saw, and what to do about it."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass


class Status(enum.Enum):
    """How bad a finding is: `FAIL` stops streaming, `WARN` may, `OK` is fine."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One thing a check found: `check` names the check, `what` says what it saw, `fix` what to do."""

    status: Status
    check: str
    what: str
    fix: str = ""


def ok(check: str, what: str) -> Finding:
    """A check that passed."""
    return Finding(Status.OK, check, what)


def warn(check: str, what: str, fix: str) -> Finding:
    """Something that may stop streaming, or will somewhere else (say, on NVCF)."""
    return Finding(Status.WARN, check, what, fix)


def fail(check: str, what: str, fix: str) -> Finding:
    """Something that stops streaming."""
    return Finding(Status.FAIL, check, what, fix)


def exit_status(findings: Sequence[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 when something did."""
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


def render_text(findings: Sequence[Finding]) -> str:
    """One line per finding: status, check, what was seen and, unless it is fine, the fix."""
    lines = []
    for finding in findings:
        line = f"{finding.status.value.upper():<4}  {finding.check:<8}  {finding.what}"
        if finding.fix:
            line += f" Fix: {finding.fix}"
        lines.append(line)
    failed = sum(f.status is Status.FAIL for f in findings)
    warned = sum(f.status is Status.WARN for f in findings)
    lines.append(f"{len(findings)} checks: {failed} failed, {warned} warnings")
    return "\n".join(lines)


def render_json(findings: Sequence[Finding]) -> str:
    """The findings for machines: `{"ok": bool, "findings": [{"status", "check", "what", "fix"}]}`."""
    return json.dumps(
        {
            "ok": exit_status(findings) == 0,
            "findings": [{"status": f.status.value, "check": f.check, "what": f.what, "fix": f.fix} for f in findings],
        },
        indent=2,
    )
