"""The Markdown report (``REPORT.md``) and its plots (PNG, matplotlib), written from the results document."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from benchmarks.network_report import network_section, render_network

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
_MARK = {
    "met": "met",
    "missed": "**MISSED**",
    "inconclusive": "inconclusive",
    "not measured": "not measured",
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return [*lines, ""]


def _section(doc: dict[str, Any], name: str) -> dict[str, Any] | None:
    section = doc["benchmarks"].get(name)
    return section if isinstance(section, dict) else None


def _not_run(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return ["Not run in this run.", ""]
    if section["status"] in ("failed", "skipped"):
        return [f"{section['status']}: {section.get('reason', '')}", ""]
    return []


def _notes(section: dict[str, Any]) -> list[str]:
    return [f"- {n}" for n in section.get("notes", [])] + [""]


# --- plots -------------------------------------------------------------------------------------


def _save(fig: Any, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=90)
    plt.close(fig)
    return name


def _g2g_label(run: dict[str, Any]) -> str:
    return f"{run['server']} {run['height']}p{run['fps']} {run['codec']} {run['path']}"


def plot_g2g(runs: list[dict[str, Any]], out_dir: Path) -> str | None:
    """Latency percentiles and frames per second per configuration; the file name, or None without data."""
    good = [r for r in runs if "error" not in r and r["latency_ms"]["count"]]
    if not good:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.5 * len(good) + 2.5))
    labels = [_g2g_label(r) for r in good]
    y = range(len(good))
    for offset, key, color in ((-0.25, "p50", "tab:blue"), (0.0, "p95", "tab:orange"), (0.25, "p99", "tab:red")):
        left.barh(
            [i + offset for i in y], [r["latency_ms"][key] or 0 for r in good], height=0.25, label=key, color=color
        )
    left.set_yticks(list(y), labels)
    left.invert_yaxis()
    left.set_xlabel("glass-to-glass latency (ms)")
    left.axvline(25, color="tab:blue", linestyle=":", label="720p p50 target")
    left.axvline(40, color="tab:orange", linestyle=":", label="p95 / 1080p p50 target")
    left.legend(fontsize=7)
    right.barh(list(y), [r["presented_fps"] for r in good], color="tab:green", label="presented")
    right.scatter([r["received_fps"] for r in good], list(y), color="black", marker="|", s=200, label="received")
    right.set_yticks(list(y), [""] * len(good))
    right.invert_yaxis()
    right.set_xlabel("frames per second")
    right.axvline(58, color="gray", linestyle=":")
    right.legend(fontsize=7)
    return _save(fig, out_dir, "glass_to_glass.png")


def plot_ttff(section: dict[str, Any], out_dir: Path) -> str | None:
    """The median of each first-frame phase, stacked; the file name, or None without sessions."""
    phases = {k: v for k, v in section["phases_ms"].items() if k != "total"}
    if not section["sessions"]:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.4))
    left = 0.0
    for (name, stats), color in zip(phases.items(), _COLORS, strict=False):
        width = stats["p50"] or 0.0
        ax.barh([0], [width], left=left, color=color, label=f"{name} {width:.0f} ms")
        left += width
    total = section["phases_ms"]["total"]
    ax.axvline(500, color="red", linestyle=":", label="target p50 500 ms")
    ax.set_yticks([0], [f"p50 total {total['p50']:.0f} ms\n(p95 {total['p95']:.0f} ms)"])
    ax.set_xlabel("ms from new WebSocket() (median of each phase)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4)
    return _save(fig, out_dir, "time_to_first_frame.png")


def plot_proxy(section: dict[str, Any], out_dir: Path) -> str | None:
    """Throughput and round-trip percentiles by connections, one colour per path; the file name or None."""
    targets = {k: v for k, v in section["targets"].items() if "levels" in v}
    if not targets:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for (name, target), color in zip(targets.items(), _COLORS, strict=False):
        levels = target["levels"]
        xs = [lv["connections"] for lv in levels]
        left.plot(xs, [lv["throughput"]["messages_per_s"] for lv in levels], marker="o", color=color, label=name)
        for key, style in (("p99", "-"), ("p50", "--")):
            ys = [lv["latency"]["rtt_ms"][key] for lv in levels]
            right.plot(xs, ys, marker="o", linestyle=style, color=color, label=f"{name} {key}")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent connections")
        ax.legend(fontsize=7)
    right.set_yscale("log")
    left.set_ylabel("echoed messages per second (closed loop)")
    right.set_ylabel("round trip at a fixed rate (ms)")
    return _save(fig, out_dir, "proxy_overhead.png")


def plot_encoders(runs: list[dict[str, Any]], out_dir: Path) -> str | None:
    """CPU and wall time per frame for every encoder and size; the file name, or None without data."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(good) + 1.5))
    labels = [f"{r['encoder']} {r['height']}p" for r in good]
    ax.barh(range(len(good)), [r["cpu_ms_per_frame"] for r in good], color="tab:purple", label="CPU ms/frame")
    ax.scatter(
        [r["encode_ms"]["p50"] for r in good], range(len(good)), color="black", marker="|", s=200, label="wall p50"
    )
    ax.axvline(1000 / 60, color="red", linestyle=":", label="16.7 ms = 60 fps on one core")
    ax.set_yticks(range(len(good)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms per frame")
    ax.legend(fontsize=7)
    return _save(fig, out_dir, "encoder_cost.png")


# --- sections ----------------------------------------------------------------------------------


def _header(doc: dict[str, Any]) -> list[str]:
    git = doc["versions"].get("git") or {}
    lines = ["# Benchmark report", ""]
    if doc["profile"] != "full":
        lines += [
            f"> **{doc['profile']} run**: a reduced configuration (short runs, fewer configurations), numbers are "
            "indicative only. `make bench` runs the full suite.",
            "",
        ]
    if doc.get("label"):
        lines += [f"> {doc['label']}", ""]
    commit = (git.get("commit") or "unknown")[:12] + (" (with local changes)" if git.get("dirty") else "")
    lines += [
        f"Run {doc['started_at']}, profile `{doc['profile']}`, {doc['duration_s']:.0f} s, commit `{commit}`. "
        "Raw numbers: [latest.json](latest.json). How to run and read: [docs/benchmarks.md](../../docs/benchmarks.md).",
        "",
        "## Machine and versions",
        "",
    ]
    m, v = doc["machine"], doc["versions"]
    rows = [
        ["machine", f"{m['cores']} cores, {m['cpu_model']}, {m.get('memory_gib')} GiB, {m.get('os')}"],
        ["load average (1, 5, 15 min) at start", ", ".join(str(x) for x in m.get("loadavg_at_start", []))],
        ["load average at end", ", ".join(str(x) for x in m.get("loadavg_at_end", []))],
    ] + [
        [k, str(v[k])]
        for k in (
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
        if k in v
    ]
    lines += _table(["", ""], rows)
    lines += ["What the stacks ran with:", ""]
    lines += _table(["", "settings"], [[s["name"], s["value"]] for s in doc["settings"]])
    return lines


def _targets(doc: dict[str, Any]) -> list[str]:
    lines = ["## Targets", ""]
    rows = [
        [
            r["title"],
            r["target"],
            "-" if r["measured"] is None else f"{r['measured']:g} {r['unit']}",
            _MARK[r["status"]],
            r["note"] or "",
        ]
        for r in doc["targets"]
    ]
    return lines + _table(["target", "bound", "measured", "status", "note"], rows) + _bounds(doc)


def _latency_budget(run: dict[str, Any], enc_run: dict[str, Any] | None) -> str:
    """Where the median latency goes, as far as this run's numbers tell."""
    p50 = run["latency_ms"]["p50"]
    parts = {
        "encoding (wall p50, measured alone)": enc_run["encode_ms"]["p50"] if enc_run else None,
        "the receiver's jitter buffer": run.get("jitter_buffer_ms_per_frame"),
        "decoding": run.get("decode_ms_per_frame"),
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


def _bounds(doc: dict[str, Any]) -> list[str]:
    """What bounds each missed target, read from the other numbers of the same run."""
    missed = {r["key"] for r in doc["targets"] if r["status"] == "missed"}
    if not missed:
        return []
    lines = ["### What bounds the misses", ""]
    g2g = _section(doc, "glass_to_glass")
    enc = _section(doc, "encoder_cost")
    # The encoder the stream app streams with (stream_app.media.encoders).
    app_h264 = {
        r["height"]: r
        for r in (enc or {}).get("runs", [])
        if r.get("encoder") == "stream app LowLatencyH264Encoder" and "error" not in r
    }
    for run in (g2g or {}).get("runs", []):
        if run["server"] != "app" or run["codec"] != "h264" or run["path"] != "host" or "error" in run:
            continue
        key = "720" if run["width"] == 1280 else "1080"
        if not any(k.startswith(f"g2g_{key}") for k in missed):
            continue
        enc_run = app_h264.get(run["height"])
        cost = (
            f" The stream app's H.264 encoder (libx264 ultrafast+zerolatency) costs "
            f"{enc_run['cpu_ms_per_frame']:.1f} ms CPU per {run['height']}p frame "
            f"(at most {enc_run['max_fps_one_core']:.0f} fps on one core)."
            if enc_run
            else ""
        )
        lines.append(
            f"- {run['height']}p60 H.264: the app delivered {run['received_fps']:.1f} fps to the browser, which "
            f"decoded {run['decoded_fps']:.1f} and presented {run['presented_fps']:.1f}; the receiver's jitter buffer "
            f"held {_fmt(run['jitter_buffer_ms_per_frame'])} ms per frame and decoding took "
            f"{_fmt(run['decode_ms_per_frame'])} ms.{cost}{_latency_budget(run, enc_run)}"
        )
    ttff = _section(doc, "time_to_first_frame")
    if "ttff_p50" in missed and ttff:
        phases = {k: v["p50"] for k, v in ttff["phases_ms"].items() if k != "total" and v["p50"] is not None}
        worst = max(phases, key=lambda k: phases[k])
        lines.append(f"- Time to first frame: the longest phase is {worst} ({phases[worst]:.0f} ms at the median).")
    proxy = _section(doc, "proxy_overhead")
    if proxy and missed & {"proxy_added_p99", "proxy_vs_nginx", "proxy_handshakes", "proxy_memory"}:
        levels = proxy["targets"].get("proxy", {}).get("levels", [])
        if levels:
            top = levels[-1]["throughput"]
            lines.append(
                f"- Proxy: {_fmt(top.get('intermediary_cpu_ms_per_1k_messages'))} ms of proxy CPU per "
                "1,000 messages at "
                f"{levels[-1]['connections']} connections; one Python process on a 2-core machine it shares with the "
                "load generator and the echo server."
            )
        check = proxy.get("token_check_in_process", {})
        hs = proxy["targets"].get("proxy", {}).get("handshakes", {})
        if "proxy_handshakes" in missed and hs:
            accepted, refused = hs["accepted"], hs["refused_bad_signature"]
            reference = hs.get("direct_to_echo_reference", {})
            cpu = accepted.get("proxy_cpu_ms_per_handshake")
            text = f"- Handshakes: {accepted['per_s']:.0f}/s accepted"
            if cpu:
                text += f", {cpu:.2f} ms of proxy CPU each (at most {1000 / cpu:.0f}/s on one whole core)"
            text += f"; refused at the token check: {refused['per_s']:.0f}/s"
            if refused.get("proxy_cpu_ms_per_handshake"):
                text += f" ({refused['proxy_cpu_ms_per_handshake']:.2f} ms each)"
            if check.get("status") == "ok":
                text += f"; the token check alone costs {check['us_per_check']} µs"
            if reference:
                text += (
                    f". The load generator reaches {reference['per_s']:.0f}/s against the echo server directly, "
                    "so the difference is the proxy's: its browser-side handshake, the token check, and a second "
                    "WebSocket handshake upstream for every session"
                )
            lines.append(text + ".")
    profiles = doc.get("profiles") or []
    for profile in profiles:
        if not profile.get("file"):
            lines.append(f"- Profile of {profile['process']} ({profile['during']}) failed: {profile.get('error')}")
            continue
        lines.append(
            f"- Profile of {profile['process']} ({profile['during']}): "
            f"[{profile['file']}]({profile['file']}), {profile.get('samples', '?')} samples; top self time:"
        )
        lines += [f"  - {f['share']:.0%} {f['function']}" for f in profile.get("top", [])[:8]]
        if profile.get("own"):
            lines.append(
                "  - our code by inclusive time: "
                + "; ".join(f"{f['function']} {f['share']:.0%}" for f in profile["own"][:6])
            )
    return [*lines, ""]


def _g2g(doc: dict[str, Any], out_dir: Path) -> list[str]:
    section = _section(doc, "glass_to_glass")
    lines = ["## 1. Glass-to-glass latency and frame rate", "", *_not_run(section)]
    if section is None or "runs" not in section:
        return lines
    rows = []
    for r in section["runs"]:
        if "error" in r:
            rows.append(
                [r["server"], f"{r['width']}x{r['height']}@{r['fps']}", r["codec"], r["path"], "error: " + r["error"]]
                + [""] * 12
            )
            continue
        lat = r["latency_ms"]
        to_compositor = r.get("to_compositor_ms", {}).get("p50")
        sessions = r.get("session_p50_ms") or []
        rows.append(
            [
                r["server"],
                f"{r['width']}x{r['height']}@{r['fps']}",
                r["codec"],
                r["path"],
                _fmt(lat["p50"]),
                _fmt(lat["p95"]),
                _fmt(lat["p99"]),
                _fmt(to_compositor),
                " / ".join(_fmt(x) for x in sessions) or "-",
                _fmt(r["presented_fps"]),
                _fmt(r["received_fps"]),
                r["frames_dropped"],
                _fmt(r["jitter_buffer_ms_per_frame"]),
                _fmt(r["mbit_per_s"], 2),
                r["negotiated_codec"] or "-",
                r["candidates"],
                _fmt(r.get("loadavg_1min"), 2),
            ]
        )
    lines += _table(
        [
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
        ],
        rows,
    )
    plot = plot_g2g(section["runs"], out_dir)
    if plot:
        lines += [f"![glass-to-glass]({plot})", ""]
    return lines + _notes(section)


def _ttff(doc: dict[str, Any], out_dir: Path) -> list[str]:
    section = _section(doc, "time_to_first_frame")
    lines = ["## 2. Time to first frame (warm instance)", "", *_not_run(section)]
    if section is None or section["status"] != "ok":
        return lines
    lines += [f"{section['sessions']} sessions, one after another, each in a new tab.", ""]
    defs = section["phase_definitions"]
    base = section.get("baseline", {}).get("phases_ms", {})
    rows = [
        [
            name,
            _fmt(s["p50"]),
            _fmt(s["p95"]),
            _fmt(base.get(name, {}).get("p50")),
            defs.get(name, "page connect to first presented frame"),
        ]
        for name, s in section["phases_ms"].items()
    ]
    lines += _table(["phase", "p50 ms", "p95 ms", "baseline p50 ms", "spans"], rows)
    if section["failures"]:
        lines += [f"Failed sessions: {len(section['failures'])} ({section['failures'][0]})", ""]
    check = section.get("proxy_token_check", {})
    if check.get("status") == "ok":
        lines += [f"The proxy's own token check (metric `{check['metric']}`): {check['mean_ms']} ms on average.", ""]
    elif check:
        lines += [f"The proxy's own token-check time: {check['status']} ({check.get('reason')}).", ""]
    upstream = section.get("proxy_upstream_connect", {})
    if upstream.get("status") == "ok":
        lines += [
            f"Of 'token check + upstream connect', the proxy spent {upstream['mean_ms']} ms on average opening its "
            f"upstream (metric `{upstream['metric']}`, over every session of this stack).",
            "",
        ]
    plot = plot_ttff(section, out_dir)
    if plot:
        lines += [f"![time to first frame]({plot})", ""]
    return lines + _notes(section)


def _input(doc: dict[str, Any]) -> list[str]:
    section = _section(doc, "input_latency")
    lines = ["## 3. Input latency", "", *_not_run(section)]
    if section is None or "app" not in section:
        return lines
    rows = []
    for name in ("app", "baseline"):
        part = section[name]
        if part["status"] != "ok":
            rows.append([name, part["status"], "-", "-", part.get("reason", "")])
        else:
            lat = part["latency_ms"]
            rows.append(
                [name, "ok", _fmt(lat["p50"], 2), _fmt(lat["p99"], 2), f"{part['received']} of {part['sent']} events"]
            )
    lines += _table(["handler", "status", "p50 ms", "p99 ms", ""], rows)
    return lines + _notes(section)


def _triple(values: dict[str, Any] | None) -> str:
    if not values:
        return "-"
    return " / ".join(_fmt(values.get(k), 3) for k in ("p50", "p99", "p99_9"))


def _proxy(doc: dict[str, Any], out_dir: Path) -> list[str]:
    section = _section(doc, "proxy_overhead")
    lines = ["## 4. Proxy overhead", "", *_not_run(section)]
    if section is None or section["status"] != "ok":
        return lines
    added = section["added_latency_ms"]
    rows = []
    for name, target in section["targets"].items():
        if "levels" not in target:
            rows.append([name, "skipped: " + target.get("reason", ""), *[""] * 8])
            continue
        for level in target["levels"]:
            extra = next((a for a in added.get(name, []) if a["connections"] == level["connections"]), None)
            rtt = level["latency"]["rtt_ms"]
            rows.append(
                [
                    name,
                    level["connections"],
                    _fmt(level["throughput"]["messages_per_s"], 0),
                    _fmt(rtt["p50"], 3),
                    _fmt(rtt["p99"], 3),
                    _fmt(rtt["p99_9"], 3),
                    "-"
                    if extra is None
                    else f"{_fmt(extra['p50'], 3)} / {_fmt(extra['p99'], 3)} / {_fmt(extra['p99_9'], 3)}",
                    "-" if name == "direct" else _triple(level["latency"].get("paired_added_ms")),
                    _fmt(level["throughput"]["intermediary_cpu_ms_per_1k_messages"]),
                    level["connect_failures"] + level["latency"]["errors"],
                ]
            )
    lines += _table(
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
    proxy = section["targets"].get("proxy", {})
    hs = proxy.get("handshakes", {})
    rows = []
    for kind, part in hs.items():
        rows.append(
            [
                kind,
                _fmt(part["per_s"]),
                f"{part['succeeded']}/{part['handshakes']}",
                _fmt(part["handshake_ms"]["p50"]),
                _fmt(part["handshake_ms"]["p99"]),
                _fmt(part.get("proxy_cpu_ms_per_handshake"), 2),
            ]
        )
    lines += [f"Handshakes through our proxy ({section.get('token_mode')}), 16 in flight:", ""]
    lines += _table(["kind", "per second", "succeeded", "p50 ms", "p99 ms", "proxy CPU ms each"], rows)
    check = section.get("token_check_in_process", {})
    if check.get("status") == "ok":
        lines += [
            f"Token check alone, in-process ({check.get('algorithm', 'HS256')}, `proxy.tokens` header and signature "
            f"check, key in hand): {check['us_per_check']} µs per check.",
            "",
        ]
    mem_rows = [
        [
            name,
            t["memory"]["connections"],
            _fmt(t["memory"]["rss_before_mib"]),
            _fmt(t["memory"]["rss_after_mib"]),
            _fmt(t["memory"]["kib_per_connection"]),
        ]
        for name, t in section["targets"].items()
        if "memory" in t
    ]
    lines += ["Memory per open connection (RSS delta / connections; nginx: master + worker):", ""]
    lines += _table(["process", "connections", "RSS before MiB", "RSS after MiB", "KiB per connection"], mem_rows)
    plot = plot_proxy(section, out_dir)
    if plot:
        lines += [f"![proxy overhead]({plot})", ""]
    return lines + _notes(section)


def _encoders(doc: dict[str, Any], out_dir: Path) -> list[str]:
    section = _section(doc, "encoder_cost")
    lines = ["## 5. Encoder cost", "", *_not_run(section)]
    if section is None or "runs" not in section:
        return lines
    rows = []
    for r in section["runs"]:
        if "error" in r:
            rows.append([r["encoder"], f"{r['width']}x{r['height']}", "error: " + r["error"], "", "", "", "", ""])
            continue
        rows.append(
            [
                r["encoder"],
                f"{r['width']}x{r['height']}",
                _fmt(r["encode_ms"]["p50"], 2),
                _fmt(r["encode_ms"]["p99"], 2),
                _fmt(r["cpu_ms_per_frame"], 2),
                _fmt(r["cores_per_stream_at_60fps"], 2),
                _fmt(r["max_fps_one_core"]),
                _fmt(r["mbit_per_s_at_60fps"], 2),
            ]
        )
    lines += _table(
        [
            "encoder",
            "size",
            "encode p50 ms",
            "encode p99 ms",
            "CPU ms/frame",
            "cores per 60 fps stream",
            "max fps on one core",
            "Mbit/s at 60 fps",
        ],
        rows,
    )
    plot = plot_encoders(section["runs"], out_dir)
    if plot:
        lines += [f"![encoder cost]({plot})", ""]
    return lines + _notes(section)


def render(doc: dict[str, Any], out_dir: Path) -> str:
    """The report's Markdown; plots are written to `out_dir` as a side effect."""
    lines = _header(doc) + _targets(doc) + _g2g(doc, out_dir) + _ttff(doc, out_dir) + _input(doc) + _proxy(doc, out_dir)
    lines += _encoders(doc, out_dir) + network_section(doc, out_dir)
    return "\n".join(lines).rstrip() + "\n"


def write_report(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write ``REPORT.md`` and its PNGs to `out_dir` (stale plots of benchmarks not run are removed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    path = out_dir / "REPORT.md"
    path.write_text(render(doc, out_dir), encoding="utf-8")
    if "network" in doc["benchmarks"]:
        (out_dir / "network.md").write_text(render_network(doc, out_dir), encoding="utf-8")
    return path
