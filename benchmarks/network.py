"""The network benchmark: our stack and two references over the same impaired lab path.

For each scenario of the profile (`benchmarks.netlab.profiles`) and each stack, one session on the
network lab (`benchmarks.netlab`, docs/network-lab.md), the page in the client namespace and the
servers in the server namespace, media relay-only through the impairment relay and coturn:

- ``ours``: the web client -> proxy -> nvcf-local -> the stream app serving the textured scene
  (`benchmarks.scene`), 1280x720@60, H.264;
- ``aiortc``: stock aiortc (`benchmarks.baseline_server --scene`), its own 30 fps pacing, VP8;
- ``libwebrtc``: Chromium sending a canvas capture of the scene's JS twin to a second Chromium
  (`benchmarks.libwebrtc_peer`), VP8.

Per session: presented fps, glass-to-glass p50/p95/p99 (the stamp of every presented frame, as
in `glass_to_glass`), Chromium's ``freezeCount``/``totalFreezesDuration``, the longest gap between
presented frames, mean received bitrate, and time series per 250 ms (latency, bitrate, fps) kept in
the JSON. The timeline of a scenario starts when the measurement does; its first step also holds
during the warm-up.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

from playwright.async_api import Page

from benchmarks.browser import chromium, close_session, codec_fragment, measure_stream, open_session
from benchmarks.context import BenchContext
from benchmarks.glass_to_glass import summarize_stream
from benchmarks.libwebrtc_peer import open_reference, running_pages
from benchmarks.netlab.lab import NetLab, running_lab
from benchmarks.netlab.namespace import lab_unavailable
from benchmarks.netlab.profiles import STEP_DROP_S, Scenario, scenarios, step_restore_s
from benchmarks.stack import CODECS_SETTING, NETWORK_APP_ENV, running_baseline, running_stack
from benchmarks.stats import summarize

WIDTH, HEIGHT, FPS = 1280, 720, 60
SAMPLE_MS: Final = 250
CODECS: Final = {"ours": "h264", "aiortc": "vp8", "libwebrtc": "vp8"}
STACK_FPS: Final = {"ours": FPS, "aiortc": 30, "libwebrtc": FPS}
"""The frame rate each stack is asked for: stock aiortc's VideoStreamTrack paces itself at 30."""
SCENE_APP: Final = "benchmarks.scene:make_app"

Opener = Callable[[], Awaitable[tuple[list[Page], Page]]]
"""Opens one session: the pages to close afterwards and the receiving page to measure."""


def series(raw: dict[str, Any], t0_ms: float, seconds: float) -> dict[str, list[float | None]]:
    """Per `SAMPLE_MS` bin from `t0_ms` (system clock): latency p50 and max, presented fps, Mbit/s."""
    bins = max(1, math.ceil(seconds * 1000 / SAMPLE_MS))
    latency: list[list[float]] = [[] for _ in range(bins)]
    for at, value in zip(raw.get("displayed", []), raw["latencies"], strict=False):
        index = int((at - t0_ms) // SAMPLE_MS)
        if 0 <= index < bins:
            latency[index].append(float(value))
    mbit: list[float | None] = [None] * bins
    samples = raw.get("samples", [])
    for (t_a, bytes_a, *_), (t_b, bytes_b, *_) in itertools.pairwise(samples):
        index = int((t_b - t0_ms) // SAMPLE_MS)
        if 0 <= index < bins and t_b > t_a:
            mbit[index] = round((bytes_b - bytes_a) * 8 / (t_b - t_a) / 1000, 3)
    return {
        "t_s": [round((i + 1) * SAMPLE_MS / 1000, 3) for i in range(bins)],
        "latency_p50_ms": [round(sorted(b)[len(b) // 2], 1) if b else None for b in latency],
        "latency_max_ms": [round(max(b), 1) if b else None for b in latency],
        "fps": [round(len(b) * 1000 / SAMPLE_MS, 1) for b in latency],
        "mbit_per_s": mbit,
    }


def longest_gap_ms(raw: dict[str, Any]) -> float | None:
    """The longest wait between two presented (and read) frames, or between the window's start or
    end and the nearest frame: a freeze's length, as the page saw it."""
    times = sorted(float(t) for t in raw.get("displayed", []))
    if "startedAt" in raw and "endedAt" in raw:
        times = [float(raw["startedAt"]), *times, float(raw["endedAt"])]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return round(max(gaps), 1) if gaps else None


def summarize_network(raw: dict[str, Any], fps: int, t0_ms: float, seconds: float) -> dict[str, Any]:
    """`glass_to_glass.summarize_stream` plus freezes, the longest gap and the time series."""
    summary = summarize_stream(raw, fps)
    before, after = raw["before"], raw["after"]
    elapsed = max(float(raw["elapsed"]), 1e-6)
    freezes = int(after["freezeCount"] - before["freezeCount"])
    summary.update(
        {
            "freeze_count": freezes,
            "freezes_per_30s": round(freezes * 30 / elapsed, 2),
            "total_freezes_ms": round((after["totalFreezesDuration"] - before["totalFreezesDuration"]) * 1000, 1),
            "longest_gap_ms": longest_gap_ms(raw),
            "nacks": int(after["nackCount"] - before["nackCount"]),
            "plis": int(after["pliCount"] - before["pliCount"]),
            "packets_lost": int(after["packetsLost"] - before["packetsLost"]),
            "series": series(raw, t0_ms, seconds),
        }
    )
    return summary


async def measure_session(
    ctx: BenchContext, netlab: NetLab, scenario: Scenario, opener: Opener, fps: int
) -> dict[str, Any]:
    """One session under `scenario`: its first link state, warm-up, then the timeline played while measuring."""
    p = ctx.profile
    await netlab.apply(scenario.timeline.at(0))
    try:
        pages, receiver = await opener()
    except TimeoutError as exc:
        # A stream that never shows its first frame on this link is a result, not a broken harness.
        return no_frame(str(exc))
    try:
        await asyncio.sleep(p.net_warmup_s)
        relay_before = await netlab.relay.counters()
        t0_ms = time.time() * 1000
        # Bounded: the page's own bounds (a frozen stream) plus the time to gather its results.
        raw, _ = await asyncio.wait_for(
            asyncio.gather(
                measure_stream(receiver, p.net_measure_s, SAMPLE_MS, WIDTH),
                netlab.play(scenario.timeline, p.net_measure_s),
            ),
            p.net_measure_s + 30,
        )
        relay_after = await netlab.relay.counters()
    finally:
        for page in pages:
            await close_session(page)
    summary = summarize_network(raw, fps, t0_ms, p.net_measure_s)
    summary["relay"] = {
        direction: {k: relay_after[direction][k] - relay_before[direction][k] for k in relay_after[direction]}
        for direction in ("up", "down")
    }
    return summary


def no_frame(reason: str) -> dict[str, Any]:
    """The row of a session that presented no frame at all: 0 fps, no latency to measure."""
    return {
        "no_frame": reason,
        "presented_fps": 0.0,
        "latency_ms": summarize([]),
        "freeze_count": None,
        "freezes_per_30s": None,
        "total_freezes_ms": None,
        "longest_gap_ms": None,
        "mbit_per_s": None,
    }


@asynccontextmanager
async def serving(ctx: BenchContext, netlab: NetLab, stack: str) -> AsyncIterator[Opener]:
    """Bring `stack` up in the lab and yield how to open one session on it."""
    client_chromium = netlab.chromium(netlab.lab.client)
    host = netlab.server_address
    async with AsyncExitStack() as stack_exit:
        if stack == "ours":
            env = {
                "VIDEO_WIDTH": str(WIDTH),
                "VIDEO_HEIGHT": str(HEIGHT),
                "VIDEO_FPS": str(FPS),
                "STREAM_APP_FACTORY": SCENE_APP,
                CODECS_SETTING: CODECS[stack].upper(),
                **NETWORK_APP_ENV,
            }
            app = await stack_exit.enter_async_context(running_stack(ctx.workdir, env, host=host, coturn=netlab.coturn))
            browser = await stack_exit.enter_async_context(
                chromium(client_chromium, NetLab.secure_origins([app.proxy_url]))
            )

            async def open_ours() -> tuple[list[Page], Page]:
                if not await app.wait_until_idle():
                    raise TimeoutError("the stream app stayed busy after the last session")
                extra = {"bench_turn": netlab.relay_address, **codec_fragment(CODECS[stack])}
                page = await open_session(browser, app.page_url(relay=True, extra=extra))
                return [page], page

            yield open_ours
        elif stack == "aiortc":
            baseline = await stack_exit.enter_async_context(
                running_baseline(WIDTH, HEIGHT, host=host, turn=netlab.coturn, scene=True)
            )
            browser = await stack_exit.enter_async_context(
                chromium(client_chromium, NetLab.secure_origins([baseline.url]))
            )

            async def open_aiortc() -> tuple[list[Page], Page]:
                await asyncio.sleep(0.5)  # the baseline serves one page after another; let the last one go
                extra = {"relay": "1", "bench_turn": netlab.relay_address, **codec_fragment(CODECS[stack])}
                page = await open_session(browser, baseline.page_url(extra))
                return [page], page

            yield open_aiortc
        elif stack == "libwebrtc":
            base = await stack_exit.enter_async_context(running_pages(host))
            sender_browser = await stack_exit.enter_async_context(chromium(netlab.chromium(netlab.lab.server)))
            receiver_browser = await stack_exit.enter_async_context(
                chromium(client_chromium, NetLab.secure_origins([base]))
            )
            coturn = netlab.coturn
            credentials = {"username": coturn.user, "credential": coturn.password}
            sender_ice = [{"urls": [f"turn:{coturn.host}:{coturn.port}?transport=udp"], **credentials}]
            receiver_ice = [{"urls": [f"turn:{netlab.relay_address}?transport=udp"], **credentials}]

            async def open_libwebrtc() -> tuple[list[Page], Page]:
                sender, receiver = await open_reference(
                    sender_browser,
                    receiver_browser,
                    base,
                    sender_ice=sender_ice,
                    receiver_ice=receiver_ice,
                    fps=FPS,
                    codec=CODECS[stack],
                )
                return [sender, receiver], receiver

            yield open_libwebrtc
        else:
            raise ValueError(f"unknown stack {stack!r}")


def _fits(ctx: BenchContext) -> bool:
    p = ctx.profile
    return ctx.time_left() > p.net_warmup_s + p.net_measure_s + 8


async def run(ctx: BenchContext) -> dict[str, Any]:
    """Every stack of the profile over every scenario; a failing session is recorded and the rest go on."""
    p = ctx.profile
    reason = lab_unavailable()
    if reason is not None:
        return {"status": "skipped", "reason": reason, "runs": []}
    catalogue = scenarios(p.net_measure_s)
    runs: list[dict[str, Any]] = []
    doc: dict[str, Any] = {
        "runs": runs,
        "size": f"{WIDTH}x{HEIGHT}@{FPS}",
        "warmup_s": p.net_warmup_s,
        "measure_s": p.net_measure_s,
        "sample_ms": SAMPLE_MS,
        "step": {"drop_s": STEP_DROP_S, "restore_s": step_restore_s(p.net_measure_s)},
        "scenarios": {name: catalogue[name].description for name in p.net_scenarios},
    }
    ctx.partial = doc
    async with running_lab(ctx.workdir) as netlab:
        for stack in p.net_stacks:
            base = {"stack": stack, "codec": CODECS[stack], "fps": STACK_FPS[stack]}
            try:
                async with serving(ctx, netlab, stack) as opener:
                    for name in p.net_scenarios:
                        ctx.log(f"network: {stack} {name}")
                        row = {**base, "scenario": name}
                        if not _fits(ctx):
                            runs.append({**row, "error": "skipped: the run's time budget was spent"})
                            continue
                        try:
                            result = await measure_session(ctx, netlab, catalogue[name], opener, STACK_FPS[stack])
                            runs.append({**row, **result})
                        except (TimeoutError, OSError) as exc:
                            runs.append({**row, "error": str(exc)})
            except Exception as exc:  # a stack that does not come up must not cost the others their runs
                runs.append({**base, "scenario": "*", "error": f"{type(exc).__name__}: {exc}"})
    failed = [r for r in runs if "error" in r]
    doc["status"] = "ok" if not failed else ("partial" if len(failed) < len(runs) else "failed")
    if doc["status"] == "failed":
        doc["reason"] = failed[0]["error"]
    return doc
