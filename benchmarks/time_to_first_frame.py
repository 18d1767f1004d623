"""Time to first frame with a warm instance: from the page's ``new WebSocket()`` to the first
presented frame, over many sessions one after another, broken down into phases (see
`benchmarks.browser.PHASES` for what each spans)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
from playwright.async_api import Browser

from benchmarks.browser import PHASES, chromium, close_session, codec_fragment, marks, open_session
from benchmarks.context import BenchContext
from benchmarks.stack import Stack, running_baseline, running_stack
from benchmarks.stats import summarize

QUANTILES = (50, 95)

PROXY_METRICS_PATH: Final = "/metrics"
PROXY_UPSTREAM_CONNECT_METRIC: Final = "proxy_upstream_connect_seconds"
"""The proxy's histogram of opening its upstream WebSocket: the part of the page's
"token check + upstream connect" phase spent reaching nvcf-local and the stream app."""


def phases_of(mark: dict[str, float]) -> dict[str, float] | None:
    """Durations (ms) of each phase of one session, or None when a milestone is missing."""
    if "connect" not in mark or any(name not in mark for name, _, _ in PHASES):
        return None
    out: dict[str, float] = {}
    previous = mark["connect"]
    for name, phase, _ in PHASES:
        out[phase] = mark[name] - previous
        previous = mark[name]
    out["total"] = mark["first_frame"] - mark["connect"]
    return out


async def _sessions(
    ctx: BenchContext, browser: Browser, count: int, url: Callable[[], str], idle: Callable[[], Awaitable[bool]]
) -> tuple[list[dict[str, float]], list[str]]:
    """`count` counted sessions after one uncounted warm-up session, one after another."""
    sessions: list[dict[str, float]] = []
    failures: list[str] = []
    for index in range(count + 1):
        if not await idle():
            failures.append("the server stayed busy after the last session")
            continue
        try:
            page = await open_session(browser, url())
        except TimeoutError as exc:
            failures.append(str(exc))
            continue
        try:
            phases = phases_of(await marks(page))
        finally:
            await close_session(page)
        if index == 0:
            continue
        if phases is None:
            failures.append("a milestone was missing")
        else:
            sessions.append(phases)
    return sessions, failures


def _summary(sessions: list[dict[str, float]]) -> dict[str, Any]:
    names = ["total", *(phase for _, phase, _ in PHASES)]
    return {name: summarize([s[name] for s in sessions], QUANTILES) for name in names}


def metric_mean_ms(text: str, name: str) -> float | None:
    """Mean of a Prometheus histogram or summary `name` (seconds) in ms, from its ``_sum`` and ``_count``.

    Labels are summed over, so a histogram split by outcome still gives one mean.
    """
    sums = counts = 0.0
    for line in text.splitlines():
        found = re.match(rf"^{re.escape(name)}_(sum|count)(?:{{[^}}]*}})?\s+([0-9.eE+-]+)$", line.strip())
        if found:
            if found[1] == "sum":
                sums += float(found[2])
            else:
                counts += float(found[2])
    return round(sums / counts * 1000, 3) if counts else None


async def _proxy_metrics(stack: Stack) -> dict[str, dict[str, Any]]:
    """What the proxy's own metrics (docs/proxy.md) say about these sessions: its upstream connect
    time. It has no token-check histogram; `proxy_overhead.token_check_in_process` times that."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(stack.proxy_url + PROXY_METRICS_PATH) as response:
                text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        failed = {"status": "failed", "reason": f"metrics unreadable: {exc}"}
        return {"proxy_token_check": failed, "proxy_upstream_connect": failed}

    mean = metric_mean_ms(text, PROXY_UPSTREAM_CONNECT_METRIC)
    upstream_connect = (
        {"status": "ok", "mean_ms": mean, "metric": PROXY_UPSTREAM_CONNECT_METRIC}
        if mean is not None
        else {"status": "failed", "reason": f"no {PROXY_UPSTREAM_CONNECT_METRIC} at {PROXY_METRICS_PATH}"}
    )
    return {
        "proxy_token_check": {
            "status": "not exported",
            "reason": "the proxy has no token-check histogram; see proxy_overhead.token_check_in_process",
        },
        "proxy_upstream_connect": upstream_connect,
    }


async def _baseline_idle() -> bool:
    # The baseline serves sessions side by side; a short pause lets the last one's teardown finish.
    await asyncio.sleep(0.3)
    return True


async def run(ctx: BenchContext) -> dict[str, Any]:
    """`ttff_sessions` sessions on one warm 1280x720@60 instance, host path; then the baseline's."""
    size = {"VIDEO_WIDTH": "1280", "VIDEO_HEIGHT": "720", "VIDEO_FPS": "60"}
    async with chromium(ctx.config.chromium) as browser:
        async with running_stack(ctx.workdir, size) as stack:
            ctx.log(f"time_to_first_frame: {ctx.profile.ttff_sessions} sessions through the full chain")
            sessions, failures = await _sessions(
                ctx,
                browser,
                ctx.profile.ttff_sessions,
                lambda: stack.page_url(extra=codec_fragment("h264")),
                stack.wait_until_idle,
            )
            proxy_metrics = await _proxy_metrics(stack)
        ctx.partial = {"sessions": len(sessions), "phases_ms": _summary(sessions), "samples": sessions}
        async with running_baseline(1280, 720) as baseline:
            count = max(2, ctx.profile.ttff_sessions // 2)
            ctx.log(f"time_to_first_frame: {count} sessions on the baseline")
            reference, _ = await _sessions(
                ctx, browser, count, lambda: baseline.page_url(codec_fragment("h264")), _baseline_idle
            )
    return {
        "status": "ok" if sessions else "failed",
        **({} if sessions else {"reason": failures[0] if failures else "no session"}),
        "sessions": len(sessions),
        "failures": failures,
        "phases_ms": _summary(sessions),
        "phase_definitions": {phase: spans for _, phase, spans in PHASES},
        "samples": sessions,
        "baseline": {"sessions": len(reference), "phases_ms": _summary(reference)},
        **proxy_metrics,
        "notes": [
            "Warm instance: the function is ACTIVE and has served a session before; each session is a new tab.",
            "Page-side times (performance.now()); the proxy's token check is inside 'token check + upstream "
            "connect' (RS256 via JWKS); see proxy_overhead.token_check_in_process for its cost.",
            "Baseline: stock aiortc served directly (no proxy, no relay, no TURN credentials, so no TURN "
            "allocation while it answers); its own warm-up session is not counted either.",
        ],
    }
