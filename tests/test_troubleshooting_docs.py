"""docs/troubleshooting.md names only metrics, outcomes, close codes and messages the code has."""

from __future__ import annotations

import re
from pathlib import Path

from proxy.closecodes import CloseCode
from proxy.metrics import ProxyMetrics
from stream_app.config import StreamAppConfig
from stream_app.doctor.contract import Facts, check_config
from stream_app.doctor.relay import NoAnswer, Refused, judge_stun, judge_turn
from stream_app.ports import PortRange

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")


def _source(*packages: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for package in packages for p in (ROOT / package).rglob("*.py"))


def _sign_in_rows() -> list[list[str]]:
    section = GUIDE.split("## Sign-in refused", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")
    ]


def test_every_proxy_metric_named_exists() -> None:
    named = set(re.findall(r"`(proxy_[a-z_]+)", GUIDE))
    registered = {metric.name for metric in ProxyMetrics().registry.collect()}
    # prometheus_client reports counters without their _total suffix.
    assert named, "the guide names no proxy metric"
    assert {name.removesuffix("_total") for name in named} <= registered


def test_every_proxy_outcome_in_the_sign_in_table_is_one_the_proxy_counts() -> None:
    proxy = _source("proxy")
    outcomes = {o for row in _sign_in_rows()[1:] for o in re.findall(r"`([a-z]+(?:-[a-z]+)+|[a-z]+)`", row[2])}
    assert "token-rejected" in outcomes and "upstream-busy" in outcomes
    missing = [o for o in outcomes if f'"{o}"' not in proxy]
    assert missing == [], outcomes


def test_every_private_close_code_in_the_sign_in_table_is_the_proxys() -> None:
    codes = {int(c) for row in _sign_in_rows()[1:] for c in re.findall(r"\b(4\d{3})\b", row[1])}
    assert codes and codes <= {int(code) for code in CloseCode}


def test_the_doctor_findings_quoted_are_what_doctor_says() -> None:
    said = " ".join(
        f.what
        for f in [
            judge_stun("s:1", NoAnswer(local_port=1, timeout=2.0)),
            judge_stun("s:1", NoAnswer(local_port=1, timeout=2.0, refused=True)),
            *(judge_turn("s:1", "u", Refused(1, code, "r"), relay_only=False) for code in (401, 486, 508)),
            *check_config(StreamAppConfig(port_range=PortRange(1, 100)), Facts({}, False, ())),
        ]
    )
    guide = " ".join(GUIDE.split())
    for phrase in (
        "no STUN answer from",
        "UDP to it is blocked, or nothing answers at that address",
        "ICMP says nothing listens on that port",
        "refused the credentials (Unauthorized): error 401",
        "has reached this user's allocation quota (Allocation Quota Reached): error 486",
        "has no relay port left (Insufficient Capacity): error 508",
        "reaches outside 47998-48020",
    ):
        assert phrase in guide, phrase
        assert phrase in said, phrase


def test_the_log_lines_quoted_are_logged() -> None:
    code = _source("stream_app", "deploy", "proxy")
    for fragment in (
        "cached STUN/TURN credentials for",
        "relay-only, but no TURN credentials have been pushed yet",
        "candidate gathering failed:",
        "the app could not provide its media",
        "answered the offer",
        "taking back held session",
        "exited with status %s before it could %s",
        "did not %s within %g s; stopping it",
        "ERROR; no more instances start",
        "not started: something else already listens on",
        "sign-in from %s refused: %d %s",
        "session %s end: sub=%r outcome=%s code=%d reason=%r",
        "session %s refused: peer=%s outcome=%s code=%d reason=%r",
        "session %s: ended (%s); input accepted %d, dropped %s",
    ):
        assert fragment in code, fragment
