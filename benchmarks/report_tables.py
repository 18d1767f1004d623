"""The Markdown of ``REPORT.md`` from typed results (benchmarks/report_results.py). Pure: the plots
are drawn elsewhere (benchmarks/report_plots.py) and only their file names come in here."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.markdown import fmt, table
from benchmarks.network_tables import network_section
from benchmarks.report_results import (
    EncoderCost,
    EncoderFailure,
    EncoderRun,
    FirstFrame,
    G2gFailure,
    G2gRun,
    GlassToGlass,
    InputLatency,
    Percentiles,
    ProxyOverhead,
    RenderPath,
    Results,
    Section,
)

_MARK = {
    "met": "met",
    "missed": "**MISSED**",
    "inconclusive": "inconclusive",
    "not measured": "not measured",
}
_VERSIONS = (
    "python",
    "aiortc",
    "aioice",
    "aiohttp",
    "av",
    "ffmpeg",
    "libx264",
    "libvpx",
    "chromium",
    "nginx",
    "playwright",
)
# The encoder the stream app streams with (stream_app.media.encoders).
_APP_H264 = "stream app LowLatencyH264Encoder"


@dataclass(frozen=True)
class PlotFiles:
    """The file name of each plot drawn next to the report (benchmarks/report_plots.py), or None
    where there was nothing to draw."""

    glass_to_glass: str | None = None
    time_to_first_frame: str | None = None
    proxy_overhead: str | None = None
    encoder_cost: str | None = None
    network_step: str | None = None


def _not_run(section: Section | None) -> list[str]:
    if section is None:
        return ["Not run in this run.", ""]
    if section.not_run:
        return [f"{section.status}: {section.reason}", ""]
    return []


def _notes(section: Section) -> list[str]:
    return [f"- {n}" for n in section.notes] + [""]


def _image(alt: str, name: str | None) -> list[str]:
    return [f"![{alt}]({name})", ""] if name else []


def _header(results: Results) -> list[str]:
    lines = ["# Benchmark report", ""]
    if results.profile != "full":
        lines += [
            f"> **{results.profile} run**: a reduced configuration (short runs, fewer configurations), numbers are "
            "indicative only. `make bench` runs the full suite.",
            "",
        ]
    if results.label:
        lines += [f"> {results.label}", ""]
    commit = (results.commit or "unknown")[:12] + (" (with local changes)" if results.dirty else "")
    lines += [
        f"Run {results.started_at}, profile `{results.profile}`, {results.duration_s:.0f} s, commit `{commit}`. "
        "Raw numbers: [latest.json](latest.json). How to run and read: [docs/benchmarks.md](../../docs/benchmarks.md).",
        "",
        "## Machine and versions",
        "",
    ]
    m = results.machine
    rows = [
        ["machine", f"{m.cores} cores, {m.cpu_model}, {m.memory_gib} GiB, {m.os}"],
        ["load average (1, 5, 15 min) at start", ", ".join(str(x) for x in m.loadavg_at_start or [])],
        ["load average at end", ", ".join(str(x) for x in m.loadavg_at_end or [])],
    ] + [[k, str(results.versions[k])] for k in _VERSIONS if k in results.versions]
    lines += table(["", ""], rows)
    lines += ["What the stacks ran with:", ""]
    lines += table(["", "settings"], [[s.name, s.value] for s in results.settings])
    return lines


def _targets(results: Results) -> list[str]:
    rows = [
        [
            r.title,
            r.target,
            "-" if r.measured is None else f"{r.measured:g} {r.unit}",
            _MARK[r.status],
            r.note or "",
        ]
        for r in results.targets
    ]
    return ["## Targets", "", *table(["target", "bound", "measured", "status", "note"], rows), *_bounds(results)]


def _latency_budget(run: G2gRun, enc_run: EncoderRun | None) -> str:
    """Where the median latency goes, as far as this run's numbers tell."""
    p50 = run.latency_ms.p50
    parts = {
        "encoding (wall p50, measured alone)": enc_run.encode_ms.p50 if enc_run else None,
        "the receiver's jitter buffer": run.jitter_buffer_ms_per_frame,
        "decoding": run.decode_ms_per_frame,
        # A frame waits on average half a display refresh for its vsync.
        "waiting for the display (half a 60 Hz refresh)": 1000 / 60 / 2,
    }
    known = {k: v for k, v in parts.items() if v is not None}
    if p50 is None or not known:
        return ""
    rest = p50 - sum(known.values())
    listed = ", ".join(f"{name} {value:.1f} ms" for name, value in known.items())
    if rest < 0:
        return (
            f" Parts measured for the {p50:.1f} ms median: {listed}; they add up to more than the median "
            "(the encoder was timed alone, at another moment of a shared machine's load), so read them as "
            "orders of magnitude."
        )
    return (
        f" Of the {p50:.1f} ms median: {listed}; the remaining {rest:.1f} ms is the capture-to-encode wait, "
        "the encoder running slower next to Chromium than alone, packetization and pacing, and UDP on loopback."
    )


def _g2g_bounds(results: Results, missed: set[str]) -> list[str]:
    g2g_runs = results.glass_to_glass.runs if results.glass_to_glass else None
    enc_runs = results.encoder_cost.runs if results.encoder_cost else None
    app_h264 = {r.height: r for r in enc_runs or () if isinstance(r, EncoderRun) and r.encoder == _APP_H264}
    lines = []
    for run in g2g_runs or ():
        if not isinstance(run, G2gRun) or run.server != "app" or run.codec != "h264" or run.path != "host":
            continue
        key = "720" if run.width == 1280 else "1080"
        if not any(k.startswith(f"g2g_{key}") for k in missed):
            continue
        enc_run = app_h264.get(run.height)
        cost = (
            f" The stream app's H.264 encoder (libx264 ultrafast+zerolatency) costs "
            f"{enc_run.cpu_ms_per_frame:.1f} ms CPU per {run.height}p frame "
            f"(at most {enc_run.max_fps_one_core:.0f} fps on one core)."
            if enc_run
            else ""
        )
        lines.append(
            f"- {run.height}p60 H.264: the app delivered {run.received_fps:.1f} fps to the browser, which "
            f"decoded {run.decoded_fps:.1f} and presented {run.presented_fps:.1f}; the receiver's jitter buffer "
            f"held {fmt(run.jitter_buffer_ms_per_frame)} ms per frame and decoding took "
            f"{fmt(run.decode_ms_per_frame)} ms.{cost}{_latency_budget(run, enc_run)}"
        )
    return lines


def _proxy_bounds(proxy: ProxyOverhead, missed: set[str]) -> list[str]:
    lines = []
    path = proxy.paths.get("proxy")
    if path is not None and path.levels:
        top = path.levels[-1]
        lines.append(
            f"- Proxy: {fmt(top.cpu_ms_per_1k_messages)} ms of proxy CPU per "
            "1,000 messages at "
            f"{top.connections} connections; one Python process on a 2-core machine it shares with the "
            "load generator and the echo server."
        )
    hs = path.handshakes if path is not None else {}
    if "proxy_handshakes" in missed and hs:
        accepted, refused = hs["accepted"], hs["refused_bad_signature"]
        reference = hs.get("direct_to_echo_reference")
        cpu = accepted.proxy_cpu_ms_per_handshake
        text = f"- Handshakes: {accepted.per_s:.0f}/s accepted"
        if cpu:
            text += f", {cpu:.2f} ms of proxy CPU each (at most {1000 / cpu:.0f}/s on one whole core)"
        text += f"; refused at the token check: {refused.per_s:.0f}/s"
        if refused.proxy_cpu_ms_per_handshake:
            text += f" ({refused.proxy_cpu_ms_per_handshake:.2f} ms each)"
        if proxy.token_check.status == "ok":
            text += f"; the token check alone costs {proxy.token_check.us_per_check} µs"
        if reference:
            text += (
                f". The load generator reaches {reference.per_s:.0f}/s against the echo server directly, "
                "so the difference is the proxy's: its browser-side handshake, the token check, and a second "
                "WebSocket handshake upstream for every session"
            )
        lines.append(text + ".")
    return lines


def _profile_lines(results: Results) -> list[str]:
    lines = []
    for profile in results.profiles:
        if not profile.file:
            lines.append(f"- Profile of {profile.process} ({profile.during}) failed: {profile.error}")
            continue
        samples = "?" if profile.samples is None else profile.samples
        lines.append(
            f"- Profile of {profile.process} ({profile.during}): "
            f"[{profile.file}]({profile.file}), {samples} samples; top self time:"
        )
        lines += [f"  - {share:.0%} {function}" for share, function in profile.top[:8]]
        if profile.own:
            lines.append(
                "  - our code by inclusive time: "
                + "; ".join(f"{function} {share:.0%}" for share, function in profile.own[:6])
            )
    return lines


def _bounds(results: Results) -> list[str]:
    """What bounds each missed target, read from the other numbers of the same run."""
    missed = {r.key for r in results.targets if r.status == "missed"}
    if not missed:
        return []
    lines = ["### What bounds the misses", "", *_g2g_bounds(results, missed)]
    ttff = results.first_frame
    if "ttff_p50" in missed and ttff:
        phases = {k: v.p50 for k, v in ttff.phases_ms.items() if k != "total" and v.p50 is not None}
        worst = max(phases, key=lambda k: phases[k])
        lines.append(f"- Time to first frame: the longest phase is {worst} ({phases[worst]:.0f} ms at the median).")
    proxy = results.proxy_overhead
    if proxy and missed & {"proxy_added_p99", "proxy_vs_nginx", "proxy_handshakes", "proxy_memory"}:
        lines += _proxy_bounds(proxy, missed)
    return [*lines, *_profile_lines(results), ""]


def _g2g_server(run: G2gRun | G2gFailure) -> str:
    """The server, and the browser when it is not Chromium (the rows' usual browser)."""
    return run.server if run.browser == "chromium" else f"{run.server} in {run.browser.capitalize()}"


def _g2g(g2g: GlassToGlass | None, plots: PlotFiles) -> list[str]:
    lines = ["## 1. Glass-to-glass latency and frame rate", "", *_not_run(g2g.section if g2g else None)]
    if g2g is None or g2g.runs is None:
        return lines
    rows: list[list[object]] = []
    for r in g2g.runs:
        stream = f"{r.width}x{r.height}@{r.fps}"
        if isinstance(r, G2gFailure):
            rows.append([_g2g_server(r), stream, r.codec, r.path, "error: " + r.error, *[""] * 12])
            continue
        lat = r.latency_ms
        rows.append(
            [
                _g2g_server(r),
                stream,
                r.codec,
                r.path,
                fmt(lat.p50),
                fmt(lat.p95),
                fmt(lat.p99),
                fmt(r.to_compositor_p50_ms),
                " / ".join(fmt(x) for x in r.session_p50_ms) or "-",
                fmt(r.presented_fps),
                fmt(r.received_fps),
                r.frames_dropped,
                fmt(r.jitter_buffer_ms_per_frame),
                fmt(r.mbit_per_s, 2),
                r.negotiated_codec or "-",
                r.candidates,
                fmt(r.loadavg_1min, 2),
            ]
        )
    header = [
        "server",
        "stream",
        "codec",
        "path",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "to compositor p50 ms",
        "p50 per session",
        "presented fps",
        "received fps",
        "dropped",
        "jitter buffer ms",
        "Mbit/s",
        "negotiated",
        "candidates",
        "load avg",
    ]
    return lines + table(header, rows) + _image("glass-to-glass", plots.glass_to_glass) + _notes(g2g.section)


def _ttff(ttff: FirstFrame | None, plots: PlotFiles) -> list[str]:
    lines = ["## 2. Time to first frame (warm instance)", "", *_not_run(ttff.section if ttff else None)]
    if ttff is None or ttff.section.status != "ok":
        return lines
    lines += [f"{ttff.sessions} sessions, one after another, each in a new tab.", ""]
    rows = [
        [
            name,
            fmt(s.p50),
            fmt(s.p95),
            fmt(ttff.baseline_p50_ms.get(name)),
            ttff.phase_definitions.get(name, "page connect to first presented frame"),
        ]
        for name, s in ttff.phases_ms.items()
    ]
    lines += table(["phase", "p50 ms", "p95 ms", "baseline p50 ms", "spans"], rows)
    if ttff.failures:
        lines += [f"Failed sessions: {len(ttff.failures)} ({ttff.failures[0]})", ""]
    check = ttff.token_check
    if check is not None and check.status == "ok":
        lines += [f"The proxy's own token check (metric `{check.metric}`): {check.mean_ms} ms on average.", ""]
    elif check is not None:
        lines += [f"The proxy's own token-check time: {check.status} ({check.reason}).", ""]
    upstream = ttff.upstream_connect
    if upstream is not None and upstream.status == "ok":
        lines += [
            f"Of 'token check + upstream connect', the proxy spent {upstream.mean_ms} ms on average opening its "
            f"upstream (metric `{upstream.metric}`, over every session of this stack).",
            "",
        ]
    return lines + _image("time to first frame", plots.time_to_first_frame) + _notes(ttff.section)


def _input(latency: InputLatency | None) -> list[str]:
    lines = ["## 3. Input latency", "", *_not_run(latency.section if latency else None)]
    if latency is None or latency.app is None or latency.baseline is None:
        return lines
    rows: list[list[object]] = []
    for name, part in (("app", latency.app), ("baseline", latency.baseline)):
        if part.status != "ok":
            rows.append([name, part.status, "-", "-", part.reason])
        else:
            lat = part.latency_ms
            rows.append([name, "ok", fmt(lat.p50, 2), fmt(lat.p99, 2), f"{part.received} of {part.sent} events"])
    return lines + table(["handler", "status", "p50 ms", "p99 ms", ""], rows) + _notes(latency.section)


def _triple(values: Percentiles | None) -> str:
    if values is None:
        return "-"
    return " / ".join(fmt(v, 3) for v in (values.p50, values.p99, values.p99_9))


def _proxy(proxy: ProxyOverhead | None, plots: PlotFiles) -> list[str]:
    lines = ["## 4. Proxy overhead", "", *_not_run(proxy.section if proxy else None)]
    if proxy is None or proxy.section.status != "ok":
        return lines
    rows: list[list[object]] = []
    for name, path in proxy.paths.items():
        if path.levels is None:
            rows.append([name, "skipped: " + path.reason, *[""] * 8])
            continue
        for level in path.levels:
            extra = next((a for a in proxy.added_latency_ms.get(name, ()) if a.connections == level.connections), None)
            rtt = level.rtt_ms
            rows.append(
                [
                    name,
                    level.connections,
                    fmt(level.messages_per_s, 0),
                    fmt(rtt.p50, 3),
                    fmt(rtt.p99, 3),
                    fmt(rtt.p99_9, 3),
                    "-" if extra is None else f"{fmt(extra.p50, 3)} / {fmt(extra.p99, 3)} / {fmt(extra.p99_9, 3)}",
                    "-" if name == "direct" else _triple(level.paired_added_ms),
                    fmt(level.cpu_ms_per_1k_messages),
                    level.errors,
                ]
            )
    lines += table(
        [
            "path",
            "connections",
            "messages/s",
            "RTT p50 ms",
            "RTT p99 ms",
            "RTT p99.9 ms",
            "added p50 / p99 / p99.9 ms (pooled)",
            "added p50 / p99 / p99.9 ms (paired)",
            "CPU ms per 1k msgs",
            "errors",
        ],
        rows,
    )
    our_proxy = proxy.paths.get("proxy")
    handshakes = our_proxy.handshakes if our_proxy else {}
    rows = [
        [
            kind,
            fmt(part.per_s),
            f"{part.succeeded}/{part.handshakes}",
            fmt(part.handshake_ms.p50),
            fmt(part.handshake_ms.p99),
            fmt(part.proxy_cpu_ms_per_handshake, 2),
        ]
        for kind, part in handshakes.items()
    ]
    lines += [f"Handshakes through our proxy ({proxy.token_mode}), 16 in flight:", ""]
    lines += table(["kind", "per second", "succeeded", "p50 ms", "p99 ms", "proxy CPU ms each"], rows)
    check = proxy.token_check
    if check.status == "ok":
        lines += [
            f"Token check alone, in-process ({check.algorithm}, `proxy.tokens` header and signature "
            f"check, key in hand): {check.us_per_check} µs per check.",
            "",
        ]
    mem_rows = [
        [
            name,
            path.memory.connections,
            fmt(path.memory.rss_before_mib),
            fmt(path.memory.rss_after_mib),
            fmt(path.memory.kib_per_connection),
        ]
        for name, path in proxy.paths.items()
        if path.memory is not None
    ]
    lines += ["Memory per open connection (RSS delta / connections; nginx: master + worker):", ""]
    lines += table(["process", "connections", "RSS before MiB", "RSS after MiB", "KiB per connection"], mem_rows)
    return lines + _image("proxy overhead", plots.proxy_overhead) + _notes(proxy.section)


def _encoders(encoders: EncoderCost | None, plots: PlotFiles) -> list[str]:
    lines = ["## 5. Encoder cost", "", *_not_run(encoders.section if encoders else None)]
    if encoders is None or encoders.runs is None:
        return lines
    rows: list[list[object]] = []
    for r in encoders.runs:
        if isinstance(r, EncoderFailure):
            rows.append([r.encoder, f"{r.width}x{r.height}", "error: " + r.error, "", "", "", "", ""])
            continue
        rows.append(
            [
                r.encoder,
                f"{r.width}x{r.height}",
                fmt(r.encode_ms.p50, 2),
                fmt(r.encode_ms.p99, 2),
                fmt(r.cpu_ms_per_frame, 2),
                fmt(r.cores_per_stream_at_60fps, 2),
                fmt(r.max_fps_one_core),
                fmt(r.mbit_per_s_at_60fps, 2),
            ]
        )
    header = [
        "encoder",
        "size",
        "encode p50 ms",
        "encode p99 ms",
        "CPU ms/frame",
        "cores per 60 fps stream",
        "max fps on one core",
        "Mbit/s at 60 fps",
    ]
    lines += table(header, rows) + _image("encoder cost", plots.encoder_cost) + _notes(encoders.section)
    return lines + (render_path_lines(encoders.render_path) if encoders.render_path is not None else [])


def render_path_lines(render_path: RenderPath) -> list[str]:
    """The render path of a GPU app (benchmarks.render_cost): ms per frame for each step, p50 (p95)."""
    lines = ["### Render path of a GPU app (examples/orbit)", ""]
    if render_path.status != "ok":
        return [*lines, f"Not measured: {render_path.reason}", ""]
    lines += [
        f"Renderer: {render_path.renderer}. Each step in ms per frame, p50 (p95). Path `rgba`: RGBA read "
        "back, converted to yuv420p by swscale on the CPU; `yuv420p`: converted by a shader on the GPU, "
        "1.5 bytes a pixel read back. `numpy path` is what `frame_from_buffer` saves: `fbo.read()` bytes "
        "flipped with numpy and copied by `to_video_frame`.",
        "",
    ]

    def cell(values: Percentiles) -> str:
        return "-" if values.p50 is None else f"{fmt(values.p50, 2)} ({fmt(values.p95, 2)})"

    rows = [
        [
            f"{r.width}x{r.height}",
            r.path,
            r.frames,
            *(cell(v) for v in (r.render_ms, r.read_back_ms, r.wrap_ms, r.convert_ms, r.encode_ms, r.total_ms)),
            fmt(r.max_fps),
            cell(r.numpy_path_ms),
        ]
        for r in render_path.runs
    ]
    header = ["size", "path", "frames", "render", "read-back", "wrap", "convert to yuv420p", "encode H.264", "total"]
    return lines + table([*header, "fps (one frame at a time)", "numpy path instead of wrap"], rows)


def report_markdown(results: Results, plots: PlotFiles) -> str:
    """``REPORT.md``: every section of `results`, with the plots named in `plots`."""
    lines = _header(results) + _targets(results)
    lines += _g2g(results.glass_to_glass, plots) + _ttff(results.first_frame, plots) + _input(results.input_latency)
    lines += _proxy(results.proxy_overhead, plots) + _encoders(results.encoder_cost, plots)
    lines += network_section(results.network, plots.network_step)
    return "\n".join(lines).rstrip() + "\n"
