"""Glass-to-glass latency and delivered frame rate in Chromium (and Firefox ESR), read from the stamp on
each presented frame.

For every stream size, codec and network path of the profile: the whole chain (web client -> proxy
-> nvcf-local -> stream app, media over UDP, through coturn for the relay path), then the baseline
(stock aiortc, served directly without proxy, host path) at the same size and codec. With the
profile's `g2g_firefox`, Firefox ESR measures the first stream size over the same chain, VP8 on the
host path (Firefox has no H.264 here): the same instrument and measuring code, in the same run.

Latency of a frame = ``expectedDisplayTime`` (when Chromium will show it) on the system clock
(web_client/clock.js) minus the capture time painted into it; both are this machine's clock.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import browser as chromium_session
from benchmarks import firefox_session
from benchmarks.browser import chromium, codec_fragment
from benchmarks.context import BenchContext
from benchmarks.firefox import EXECUTABLE as FIREFOX
from benchmarks.firefox import firefox
from benchmarks.profiling import profile
from benchmarks.stack import CODECS_SETTING, STREAM_APP_ENV, running_baseline, running_stack, settings_text
from benchmarks.stats import summarize

QUANTILES = (50, 95, 99)


@dataclass(frozen=True)
class Driver:
    """How one browser opens a streaming page, measures it and closes it (the page type is its own)."""

    name: str
    open: Callable[[str], Awaitable[Any]]
    measure: Callable[[Any, float], Awaitable[dict[str, Any]]]
    close: Callable[[Any], Awaitable[None]]


def chromium_driver(browser: Any) -> Driver:
    return Driver(
        "chromium",
        functools.partial(chromium_session.open_session, browser),
        chromium_session.measure_stream,
        chromium_session.close_session,
    )


def firefox_driver(session: Any) -> Driver:
    return Driver(
        "firefox",
        functools.partial(firefox_session.open_session, session),
        firefox_session.measure_stream,
        firefox_session.close_session,
    )


def summarize_stream(raw: dict[str, Any], fps: int) -> dict[str, Any]:
    """The numbers the report shows, from what `browser.measure_stream` returned."""
    elapsed = max(float(raw["elapsed"]), 1e-6)
    before, after = raw["before"], raw["after"]
    decoded = after["framesDecoded"] - before["framesDecoded"]
    received = after["framesReceived"] - before["framesReceived"]
    presented = int(raw["presented"]) if raw["presented"] else int(raw["callbacks"])
    emitted = after["jitterBufferEmittedCount"] - before["jitterBufferEmittedCount"]
    jitter = after["jitterBufferDelay"] - before["jitterBufferDelay"]
    decode_time = after["totalDecodeTime"] - before["totalDecodeTime"]
    return {
        "latency_ms": summarize([float(x) for x in raw["latencies"]], QUANTILES),
        # Capture to rVFC's presentationTime (the frame handed to the compositor). Chromium does not
        # always put it before expectedDisplayTime, so it is a second reading, not a breakdown.
        "to_compositor_ms": summarize([float(x) for x in raw["handedOver"]], QUANTILES),
        "presented_fps": round(presented / elapsed, 2),
        "callbacks_fps": round(raw["callbacks"] / elapsed, 2),
        "received_fps": round(received / elapsed, 2),
        "decoded_fps": round(decoded / elapsed, 2),
        "frames_expected": round(fps * elapsed),
        "frames_dropped": int(after["framesDropped"] - before["framesDropped"]) + max(0, decoded - presented),
        "frames_dropped_receiver": int(after["framesDropped"] - before["framesDropped"]),
        "frames_decoded_not_presented": max(0, decoded - presented),
        "unreadable_stamps": raw["unreadable"],
        "superseded_frames": raw["superseded"],
        # What reading the stamp costs the page per frame: the measurement's own overhead.
        "stamp_read_ms_per_frame": round(float(raw.get("readMs", 0.0)) / max(1, int(raw["callbacks"])), 3),
        "stamp_reader": raw.get("check", {}).get("reader"),
        "stamp_reader_check": raw.get("check"),
        "jitter_buffer_ms_per_frame": round(jitter * 1000 / emitted, 2) if emitted else None,
        "decode_ms_per_frame": round(decode_time * 1000 / decoded, 2) if decoded else None,
        "mbit_per_s": round((after["bytesReceived"] - before["bytesReceived"]) * 8 / elapsed / 1e6, 2),
        "negotiated_codec": after["codec"],
        "received_size": f"{after['width']}x{after['height']}",
        "candidates": f"{after['local']}/{after['remote']}",
        "seconds": round(elapsed, 2),
        # Other users' load on a shared machine, for judging this row's noise.
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


async def _one(
    ctx: BenchContext,
    driver: Driver,
    url: str,
    fps: int,
    ready: Callable[[], Awaitable[bool]],
    profile_pid: int | None = None,
    name: str = "",
) -> dict[str, Any]:
    """`g2g_sessions` sessions one after another, their measurements pooled.

    The server makes frames on its clock and the browser presents them on its display's refresh,
    both steady at 60 Hz on one machine, so within one session each frame waits about the same part
    of a refresh interval (0-16.7 ms, fixed by where the session's first frame fell). Across sessions
    that phase is random; pooling several samples it instead of reporting one session's luck.
    `ready` waits until the server takes a new session (False: it did not in time).
    """
    p = ctx.profile
    seconds = p.g2g_measure_s / p.g2g_sessions
    raws: list[dict[str, Any]] = []
    for index in range(p.g2g_sessions):
        if not await ready():
            raise TimeoutError("the server stayed busy after the last session")
        page = await driver.open(url)
        try:
            await asyncio.sleep(p.g2g_warmup_s)
            measuring = driver.measure(page, seconds)
            if profile_pid is None or index > 0:
                raws.append(await measuring)
            else:
                during = f"glass-to-glass {name}"
                sampling = profile(ctx, profile_pid, seconds, name.replace(" ", "-"), "stream app", during)
                raw, _ = await asyncio.gather(measuring, sampling)
                raws.append(raw)
        finally:
            await driver.close(page)
    summary = summarize_stream(pool_sessions(raws), fps)
    summary["sessions"] = len(raws)
    summary["session_p50_ms"] = [summarize([float(x) for x in r["latencies"]], (50,))["p50"] for r in raws]
    return summary


_COUNTERS = (
    "framesDecoded",
    "framesReceived",
    "framesDropped",
    "bytesReceived",
    "jitterBufferDelay",
    "jitterBufferEmittedCount",
    "totalDecodeTime",
)


def pool_sessions(raws: list[dict[str, Any]]) -> dict[str, Any]:
    """Several sessions' `measure_stream` results as one: samples joined, counters added up."""
    if len(raws) == 1:
        return raws[0]
    last = raws[-1]
    after = dict(last["after"])
    for key in _COUNTERS:
        after[key] = sum(r["after"][key] - r["before"][key] for r in raws)
    return {
        **{key: sum(r[key] for r in raws) for key in ("elapsed", "callbacks", "unreadable", "superseded", "presented")},
        "readMs": sum(float(r.get("readMs", 0.0)) for r in raws),
        "latencies": [x for r in raws for x in r["latencies"]],
        "handedOver": [x for r in raws for x in r["handedOver"]],
        "check": raws[0].get("check"),
        "before": {**last["before"], **{key: 0 for key in _COUNTERS}},
        "after": after,
    }


async def _baseline_ready() -> bool:
    await asyncio.sleep(0.5)  # the baseline serves one page after another; let the last one go
    return True


def _fits(ctx: BenchContext) -> bool:
    """Whether one more configuration fits in the time left (page start-up and teardown included)."""
    p = ctx.profile
    return ctx.time_left() > p.g2g_sessions * (p.g2g_warmup_s + 3) + p.g2g_measure_s + 7


async def run(ctx: BenchContext) -> dict[str, Any]:
    """Every configuration of the profile; a failing one is recorded with its reason and the rest go on."""
    runs: list[dict[str, Any]] = []
    ctx.partial = {"runs": runs}
    p = ctx.profile
    async with chromium(ctx.config.chromium) as browser:
        driver = chromium_driver(browser)
        for width, height, fps in p.g2g_streams:
            size_env = {"VIDEO_WIDTH": str(width), "VIDEO_HEIGHT": str(height), "VIDEO_FPS": str(fps)}
            for codec in p.g2g_codecs:
                # A stack per codec, allowing only it (`stack.CODECS_SETTING`).
                env = {**size_env, CODECS_SETTING: codec.upper()}
                async with running_stack(ctx.workdir, env) as stack:
                    for path in p.g2g_paths:
                        label = f"app {width}x{height}@{fps} {codec} {path}"
                        ctx.log(f"glass_to_glass: {label}")
                        base = {
                            "server": "app",
                            "browser": "chromium",
                            "width": width,
                            "height": height,
                            "fps": fps,
                            "codec": codec,
                            "path": path,
                        }
                        if not _fits(ctx):
                            runs.append({**base, "error": "skipped: the run's time budget was spent"})
                            continue
                        try:
                            # Both ends pick the codec: the stack allows only it, the page offers it first.
                            url = stack.page_url(relay=path == "relay", extra=codec_fragment(codec))
                            pids = stack.instance_pids()
                            wanted = ctx.config.profile_misses and (width, codec, path) == (1280, "h264", "host")
                            pid = pids[0] if wanted and pids else None
                            name = f"{height}p{fps}-{codec}-{path}"
                            runs.append({**base, **await _one(ctx, driver, url, fps, stack.wait_until_idle, pid, name)})
                        except (TimeoutError, OSError) as exc:
                            runs.append({**base, "error": str(exc)})
            if p.g2g_baseline:
                async with running_baseline(width, height) as baseline:
                    for codec in p.g2g_codecs:
                        ctx.log(f"glass_to_glass: baseline {width}x{height} {codec} host")
                        # Stock aiortc's VideoStreamTrack paces itself at 30 fps whatever is asked.
                        base = {
                            "server": "baseline",
                            "browser": "chromium",
                            "width": width,
                            "height": height,
                            "fps": 30,
                            "codec": codec,
                            "path": "host",
                        }
                        if not _fits(ctx):
                            runs.append({**base, "error": "skipped: the run's time budget was spent"})
                            continue
                        try:
                            runs.append(
                                {
                                    **base,
                                    **await _one(
                                        ctx,
                                        driver,
                                        baseline.page_url(codec_fragment(codec)),
                                        30,
                                        _baseline_ready,
                                    ),
                                }
                            )
                        except (TimeoutError, OSError) as exc:
                            runs.append({**base, "error": str(exc)})
    if p.g2g_firefox:
        runs.append(await _firefox_row(ctx))
    return {
        "status": "ok" if all("error" not in r for r in runs) else "partial",
        "notes": [
            "app: Chromium -> proxy -> nvcf-local -> stream app (signaling), media over UDP on 127.0.0.1; "
            "relay: iceTransportPolicy 'relay' through coturn on 127.0.0.1.",
            "baseline: stock aiortc (default encoders, default RTCPeerConnection, a plain VideoStreamTrack "
            "subclass at its fixed 30 fps) serving the same page and signaling directly, without the proxy or "
            "nvcf-local; ICE limited to 127.0.0.1 and no STUN server (the only changes).",
            "Latency = expectedDisplayTime of the presented frame minus the capture time in its stamp.",
            "The stamp is read from the frame's luma plane (WebCodecs VideoFrame.copyTo of the top 16 rows), "
            "checked against web_client/stamp.js' StampReader on 5 frames per run (stamp_reader_check); "
            "StampReader's canvas drawImage cost 4.5 ms a frame at 720p (35 ms under load) on the page's main "
            "thread, which cost presented frames. stamp_read_ms_per_frame is the reader's cost in the callback.",
            "frames_dropped = the receiver's framesDropped plus frames decoded but never presented.",
            f"Media: one codec per stack via {CODECS_SETTING}, page #codec=<codec>; {settings_text(STREAM_APP_ENV)}.",
            "browser firefox: Debian's Firefox ESR, headless, over WebDriver BiDi (benchmarks/firefox.py), the "
            "first stream size, VP8 (no OpenH264 here), host path; its VideoFrame is BGRA, so its stamps are read "
            "through the canvas (stamp_reader), and its rVFC gives live frames no mediaTime, so a frame is matched "
            "to its callback as the one on the element (at worst a frame newer).",
        ],
        "runs": runs,
    }


async def _firefox_row(ctx: BenchContext) -> dict[str, Any]:
    """The Firefox ESR row: the profile's first stream, VP8, host path, measured as the Chromium rows are."""
    width, height, fps = ctx.profile.g2g_streams[0]
    base = {"server": "app", "browser": "firefox", "width": width, "height": height, "fps": fps}
    base |= {"codec": "vp8", "path": "host"}
    ctx.log(f"glass_to_glass: app {width}x{height}@{fps} vp8 host in Firefox")
    if not Path(FIREFOX).exists():
        return {**base, "error": f"skipped: no {FIREFOX} (deploy/system-deps.sh firefox-esr)"}
    if not _fits(ctx):
        return {**base, "error": "skipped: the run's time budget was spent"}
    env = {"VIDEO_WIDTH": str(width), "VIDEO_HEIGHT": str(height), "VIDEO_FPS": str(fps), CODECS_SETTING: "VP8"}
    try:
        async with running_stack(ctx.workdir, env) as stack, firefox() as session:
            url = stack.page_url(relay=False, extra=codec_fragment("vp8"))
            return {**base, **await _one(ctx, firefox_driver(session), url, fps, stack.wait_until_idle)}
    except (TimeoutError, OSError, RuntimeError) as exc:
        return {**base, "error": str(exc)}
