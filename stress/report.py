"""The stress report: each target with its figure and whether it was met."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    """Each stress target, met or not (a run that errored misses all of its own)."""
    relay, abuse, browser = report.get("relay", {}), report.get("abuse", {}), report.get("browser_sessions", {})
    evasion = abuse.get("rate_limit_evasion", {})
    preauth = abuse.get("preauth_sockets", {}).get("outcomes", {})
    return {
        "relay: every session opened": relay.get("opened") == 2 * relay.get("sessions", -1) and "error" not in relay,
        "relay: zero lost messages": relay.get("lost") == 0,
        "relay: zero duplicated or reordered": relay.get("out_of_order") == 0,
        "relay: proxy fds back to baseline": relay.get("fds_back_to_baseline") is True,
        "relay: no memory growth in a second round (< 10 MiB)": relay.get("rss_growth_in_second_round_mib", 99) < 10,
        "abuse: no pre-auth socket outlives the deadline": "still-open" not in preauth and bool(preauth),
        "abuse: waiting sockets beyond the cap refused": abuse.get("preauth_sockets", {}).get("count", 0)
        <= abuse.get("max_unauthenticated", 0)
        or preauth.get("http-503", 0) > 0,
        "abuse: every slow-header connection closed": abuse.get("slow_headers", {}).get("closed")
        == abuse.get("slow_headers", {}).get("count", -1),
        "abuse: nested JSON always 4401": set(abuse.get("nested_json_sign_ins", {}).get("outcomes", {"x": 1}))
        == {"close-4401"},
        "abuse: forged headers stay in one bucket": bool(evasion)
        and all(case["let_through"] <= case["limit"] for case in evasion.values()),
        "abuse: legitimate session unharmed": abuse.get("legitimate_session", {}).get("failures") == 0,
        "abuse: proxy memory under the bound": abuse.get("within_memory_bound") is True,
        "browser: every session reached its first frame": browser.get("reached_first_frame") == browser.get("sessions")
        and not browser.get("failures"),
        "browser: no growth in fds, threads or sockets from session 10": bool(browser.get("growth_from_session_10"))
        and all(
            g["fds"] <= 0 and g["threads"] <= 0 and g["sockets"] <= 0
            for g in browser.get("growth_from_session_10", {}).values()
        ),
    }


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| what | figure |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def write_report(report: dict[str, Any], path: Path) -> None:
    """REPORT.md from the results (`results.json` holds every number)."""
    relay, abuse, browser = report.get("relay", {}), report.get("abuse", {}), report.get("browser_sessions", {})
    lines = [
        "# Stress report",
        "",
        f"Started {report.get('started')}; sizes {report.get('config')}. Loopback only; every run is bounded.",
        "",
        "## Targets",
        "",
        "| target | met |",
        "|---|---|",
        *(f"| {name} | {'yes' if ok else '**no**'} |" for name, ok in verdicts(report).items()),
        "",
        "## Relay soak",
        "",
        *_table([(k, relay.get(k)) for k in relay]),
        "",
        "## Abuse run",
        "",
        *_table([(k, abuse.get(k)) for k in abuse]),
        "",
        "## Consecutive browser sessions",
        "",
        *_table([(k, browser.get(k)) for k in browser]),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
