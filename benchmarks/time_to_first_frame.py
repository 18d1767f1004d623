"""Time to first frame with a warm instance: from the page's ``new WebSocket()`` to the first
presented frame, over many sessions one after another, broken down into phases (see
`benchmarks.browser.PHASES` for what each spans)."""

from __future__ import annotations

from typing import Any

from benchmarks import seams
from benchmarks.browser import PHASES, chromium, marks, open_session
from benchmarks.context import BenchContext
from benchmarks.stack import running_stack
from benchmarks.stats import summarize

QUANTILES = (50, 95)


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


async def run(ctx: BenchContext) -> dict[str, Any]:
    """`ttff_sessions` sessions on one warm 1280x720@60 instance, host path."""
    sessions: list[dict[str, float]] = []
    failures: list[str] = []
    async with (
        chromium(ctx.config.chromium) as browser,
        running_stack(ctx.workdir, {"VIDEO_WIDTH": "1280", "VIDEO_HEIGHT": "720", "VIDEO_FPS": "60"}) as stack,
    ):
        # One session first so that imports, caches and the instance are warm; it is not counted.
        for index in range(ctx.profile.ttff_sessions + 1):
            if not await stack.wait_until_idle():
                failures.append("the stream app stayed busy after the last session")
                continue
            try:
                page = await open_session(browser, stack.page_url(extra={"bench_codec": "h264"}))
            except TimeoutError as exc:
                failures.append(str(exc))
                continue
            try:
                phases = phases_of(await marks(page))
            finally:
                await page.close()
            if index == 0:
                continue
            if phases is None:
                failures.append("a milestone was missing")
            else:
                sessions.append(phases)
            ctx.log(f"time_to_first_frame: session {index}/{ctx.profile.ttff_sessions}")
    names = ["total", *(phase for _, phase, _ in PHASES)]
    return {
        "status": "ok" if sessions else "failed",
        "sessions": len(sessions),
        "failures": failures,
        "phases_ms": {name: summarize([s[name] for s in sessions], QUANTILES) for name in names},
        "phase_definitions": {phase: spans for _, phase, spans in PHASES},
        "samples": sessions,
        "notes": [
            "Warm instance: the function is ACTIVE and has served a session before; each session is a new tab.",
            "Page-side times (performance.now()); the proxy's token check is inside 'token check + upstream "
            "connect'. " + seams.describe()[3].state + "; see proxy_overhead.token_check_in_process for its cost.",
        ],
    }
