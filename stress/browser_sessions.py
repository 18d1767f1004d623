"""Consecutive full streaming sessions in Chromium through the proxy and nvcf-local: every one
reaches its first frame, and the processes hold no more ports, fds, threads or memory after the
last than after the tenth."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks import chromium as chromium_flags
from benchmarks.browser import chromium, open_session
from benchmarks.stack import running_stack
from stress.measure import Holdings, holdings

REFERENCE_SESSION = 10
"""Growth is measured from after this session (caches and pools are warm by then)."""


def _proxy_pid(nvcf_pid: int) -> int | None:
    # running_stack starts the proxy as a sibling of nvcf-local: a child of this process.
    for child in psutil.Process().children():
        argv = child.cmdline()
        if child.pid != nvcf_pid and "proxy" in argv and argv[argv.index("proxy") - 1] == "-m":
            return child.pid
    return None


IDLE_SECONDS = 11.0
"""Chromium keeps idle HTTP connections to the proxy across pages; the proxy closes them after
its header timeout (10 s). Snapshots wait that out, so they count what the stack holds itself."""


async def _snapshot(nvcf_pid: int, proxy_pid: int | None) -> dict[str, Holdings]:
    await asyncio.sleep(IDLE_SECONDS)
    tree = {"nvcf-local and stream app": holdings(nvcf_pid, children=True)}
    if proxy_pid is not None:
        tree["proxy"] = holdings(proxy_pid)
    return tree


async def run(workdir: Path, sessions: int) -> dict[str, Any]:
    """`sessions` sessions one after another, each ended by the page (`bye`) after its first frame."""
    first_frames: list[float] = []
    failures: list[str] = []
    no_capacity: list[int] = []
    reference: dict[str, Holdings] | None = None
    async with running_stack(workdir, {}) as stack, chromium(chromium_flags.EXECUTABLE) as browser:
        proxy_pid = _proxy_pid(stack.nvcf_pid)
        for number in range(1, sessions + 1):
            if not await stack.wait_until_idle(timeout=30):
                failures.append(f"session {number}: the instance never became ready")
                break
            started = time.monotonic()
            try:
                page = await open_session(browser, stack.page_url(), timeout_s=30)
            except TimeoutError as exc:
                if '"close":4503' not in str(exc):
                    failures.append(f"session {number}: {exc}")
                    continue
                # nvcf-local answered "no capacity" although the instance said it was ready (its
                # replacement instance was not registered yet): once more, and counted.
                no_capacity.append(number)
                await asyncio.sleep(1.0)
                started = time.monotonic()
                try:
                    page = await open_session(browser, stack.page_url(), timeout_s=30)
                except TimeoutError as again:
                    failures.append(f"session {number}: {again}")
                    continue
            first_frames.append(time.monotonic() - started)
            await page.evaluate("window.streamSession.end()")  # As the End button: the app frees at once.
            await page.close()
            if number == REFERENCE_SESSION:
                await stack.wait_until_idle(timeout=30)
                reference = await _snapshot(stack.nvcf_pid, proxy_pid)
        await stack.wait_until_idle(timeout=30)
        last = await _snapshot(stack.nvcf_pid, proxy_pid)
    growth = {
        name: {
            key: round(getattr(last[name], key) - getattr(reference[name], key), 1)
            for key in ("rss_mib", "fds", "threads", "sockets")
        }
        for name in last
        if reference is not None and name in reference
    }
    ordered = sorted(first_frames)
    return {
        "sessions": sessions,
        "reached_first_frame": len(first_frames),
        "failures": failures,
        "retried_after_no_capacity": no_capacity,
        "first_frame_s": {
            "median": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "max": round(ordered[-1], 2) if ordered else None,
        },
        "after_session": {REFERENCE_SESSION: _as_dicts(reference), sessions: _as_dicts(last)},
        "growth_from_session_10": growth,
    }


def _as_dicts(snapshot: dict[str, Holdings] | None) -> dict[str, Any] | None:
    return None if snapshot is None else {name: h.as_dict() for name, h in snapshot.items()}
