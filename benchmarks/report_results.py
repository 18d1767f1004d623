"""The results document (``results/latest.json``, benchmarks/results.py) read into typed values for
the report: one frozen dataclass per section and per row, each built by ``read``.

Numbers keep the type the run wrote (an int stays an int), so the report prints them as before.
A run that failed is its own type (``G2gFailure``, ``EncoderFailure``, ``NetworkFailure``), not a
row with an ``error`` key; a key the document does not have reads as None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

Json = Mapping[str, Any]
_T = TypeVar("_T")

NOT_RUN_STATUSES = ("failed", "skipped")


def _optional(obj: Json | None) -> Json:
    return obj if isinstance(obj, Mapping) else {}


@dataclass(frozen=True)
class Percentiles:
    """A summary of samples (benchmarks.stats.summarize): None where there were no samples."""

    count: int | None
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None

    @classmethod
    def read(cls, obj: Json | None) -> Percentiles:
        o = _optional(obj)
        return cls(o.get("count"), o.get("mean"), o.get("p50"), o.get("p95"), o.get("p99"), o.get("p99_9"))


@dataclass(frozen=True)
class Section:
    """What every benchmark section has: its status (ok, partial, failed, skipped), the
    reason when it did not run, and its notes."""

    status: str
    reason: str
    notes: tuple[str, ...]

    @classmethod
    def read(cls, obj: Json) -> Section:
        return cls(str(obj.get("status")), obj.get("reason", ""), tuple(obj.get("notes", ())))

    @property
    def not_run(self) -> bool:
        """The section holds a reason instead of (all of) its numbers."""
        return self.status in NOT_RUN_STATUSES


# --- the run as a whole -------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """The machine the run was on; load averages as the run read them (1, 5, 15 min)."""

    cores: int
    cpu_model: str
    memory_gib: float | None
    os: str | None
    loadavg_at_start: list[float] | None
    loadavg_at_end: list[float] | None

    @classmethod
    def read(cls, obj: Json) -> Machine:
        return cls(
            obj["cores"],
            obj["cpu_model"],
            obj.get("memory_gib"),
            obj.get("os"),
            obj.get("loadavg_at_start"),
            obj.get("loadavg_at_end"),
        )


@dataclass(frozen=True)
class StackSetting:
    """One setting the benchmarked stacks ran with (benchmarks/stack.py), as the report shows it."""

    name: str
    value: str


@dataclass(frozen=True)
class TargetRow:
    """One target as judged (benchmarks/targets.py): status met, missed, inconclusive or
    not measured."""

    key: str
    title: str
    target: str
    measured: float | None
    unit: str
    status: str
    note: str | None

    @classmethod
    def read(cls, obj: Json) -> TargetRow:
        return cls(
            obj["key"], obj["title"], obj["target"], obj["measured"], obj["unit"], obj["status"], obj.get("note")
        )


@dataclass(frozen=True)
class Profile:
    """A py-spy profile taken during a benchmark: its file and top functions, or why it failed."""

    process: str
    during: str
    file: str | None
    error: str | None
    samples: int | None
    top: tuple[tuple[float, str], ...]  # (share of self time, function)
    own: tuple[tuple[float, str], ...]  # our functions by inclusive time

    @classmethod
    def read(cls, obj: Json) -> Profile:
        def shares(rows: Sequence[Json]) -> tuple[tuple[float, str], ...]:
            return tuple((row["share"], row["function"]) for row in rows)

        return cls(
            obj["process"],
            obj["during"],
            obj.get("file"),
            obj.get("error"),
            obj.get("samples"),
            shares(obj.get("top", ())),
            shares(obj.get("own") or ()),
        )


# --- 1. glass to glass --------------------------------------------------------------------------


@dataclass(frozen=True)
class G2gFailure:
    """A glass-to-glass configuration that did not measure."""

    server: str
    width: int
    height: int
    fps: int
    codec: str
    path: str
    error: str
    browser: str = "chromium"


@dataclass(frozen=True)
class G2gRun:
    """One glass-to-glass configuration: stream app or baseline, size, codec, ICE path."""

    server: str
    width: int
    height: int
    fps: int
    codec: str
    path: str
    latency_ms: Percentiles
    to_compositor_p50_ms: float | None
    session_p50_ms: tuple[float | None, ...]
    presented_fps: float
    received_fps: float
    decoded_fps: float | None
    frames_dropped: int
    jitter_buffer_ms_per_frame: float | None
    decode_ms_per_frame: float | None
    mbit_per_s: float
    negotiated_codec: str | None
    candidates: str
    loadavg_1min: float | None
    browser: str = "chromium"
    """The browser that measured: `chromium` or `firefox` (runs before Firefox rows existed say none)."""


def _read_g2g_run(obj: Json) -> G2gRun | G2gFailure:
    config = (obj["server"], obj["width"], obj["height"], obj["fps"], obj["codec"], obj["path"])
    if "error" in obj:
        return G2gFailure(*config, error=obj["error"], browser=obj.get("browser", "chromium"))
    return G2gRun(
        *config,
        latency_ms=Percentiles.read(obj["latency_ms"]),
        to_compositor_p50_ms=_optional(obj.get("to_compositor_ms")).get("p50"),
        session_p50_ms=tuple(obj.get("session_p50_ms") or ()),
        presented_fps=obj["presented_fps"],
        received_fps=obj["received_fps"],
        decoded_fps=obj.get("decoded_fps"),
        frames_dropped=obj["frames_dropped"],
        jitter_buffer_ms_per_frame=obj.get("jitter_buffer_ms_per_frame"),
        decode_ms_per_frame=obj.get("decode_ms_per_frame"),
        mbit_per_s=obj["mbit_per_s"],
        negotiated_codec=obj.get("negotiated_codec"),
        candidates=obj["candidates"],
        loadavg_1min=obj.get("loadavg_1min"),
        browser=obj.get("browser", "chromium"),
    )


@dataclass(frozen=True)
class GlassToGlass:
    """Section 1; `runs` is None when the section holds no runs."""

    section: Section
    runs: tuple[G2gRun | G2gFailure, ...] | None

    @classmethod
    def read(cls, obj: Json) -> GlassToGlass:
        runs = tuple(_read_g2g_run(r) for r in obj["runs"]) if "runs" in obj else None
        return cls(Section.read(obj), runs)


# --- 2. time to first frame ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetricMean:
    """A mean the proxy's own metrics gave, or why it could not be read."""

    status: str
    metric: str | None
    mean_ms: float | None
    reason: str | None

    @classmethod
    def read(cls, obj: Json | None) -> MetricMean | None:
        if not obj:
            return None
        return cls(obj.get("status", ""), obj.get("metric"), obj.get("mean_ms"), obj.get("reason"))


@dataclass(frozen=True)
class FirstFrame:
    """Section 2: each phase of a warm session's start, by name (``total`` among them)."""

    section: Section
    sessions: int
    phases_ms: dict[str, Percentiles]
    phase_definitions: dict[str, str]
    baseline_p50_ms: dict[str, float | None]
    failures: tuple[str, ...]
    token_check: MetricMean | None
    upstream_connect: MetricMean | None

    @classmethod
    def read(cls, obj: Json) -> FirstFrame:
        baseline = _optional(obj.get("baseline")).get("phases_ms", {})
        return cls(
            Section.read(obj),
            obj.get("sessions", 0),
            {name: Percentiles.read(s) for name, s in obj.get("phases_ms", {}).items()},
            dict(obj.get("phase_definitions", {})),
            {name: _optional(s).get("p50") for name, s in baseline.items()},
            tuple(obj.get("failures", ())),
            MetricMean.read(obj.get("proxy_token_check")),
            MetricMean.read(obj.get("proxy_upstream_connect")),
        )


# --- 3. input latency ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputPart:
    """Input latency through one handler (the stream app's, or the baseline's)."""

    status: str
    reason: str
    latency_ms: Percentiles
    received: int | None
    sent: int | None

    @classmethod
    def read(cls, obj: Json) -> InputPart:
        return cls(
            obj["status"],
            obj.get("reason", ""),
            Percentiles.read(obj.get("latency_ms")),
            obj.get("received"),
            obj.get("sent"),
        )


@dataclass(frozen=True)
class InputLatency:
    """Section 3; `app` and `baseline` are None when the section holds no parts."""

    section: Section
    app: InputPart | None
    baseline: InputPart | None

    @classmethod
    def read(cls, obj: Json) -> InputLatency:
        if "app" not in obj:
            return cls(Section.read(obj), None, None)
        return cls(Section.read(obj), InputPart.read(obj["app"]), InputPart.read(obj["baseline"]))


# --- 4. proxy overhead --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyLevel:
    """One number of concurrent connections through one path."""

    connections: int
    messages_per_s: float
    cpu_ms_per_1k_messages: float | None
    rtt_ms: Percentiles
    paired_added_ms: Percentiles | None
    errors: int  # failed connects and failed round trips

    @classmethod
    def read(cls, obj: Json) -> ProxyLevel:
        latency, throughput = obj["latency"], obj["throughput"]
        paired = latency.get("paired_added_ms")
        return cls(
            obj["connections"],
            throughput["messages_per_s"],
            throughput["intermediary_cpu_ms_per_1k_messages"],
            Percentiles.read(latency["rtt_ms"]),
            Percentiles.read(paired) if paired else None,
            obj["connect_failures"] + latency["errors"],
        )


@dataclass(frozen=True)
class Handshakes:
    """Sign-in handshakes of one kind, 16 in flight."""

    per_s: float
    succeeded: int
    handshakes: int
    handshake_ms: Percentiles
    proxy_cpu_ms_per_handshake: float | None

    @classmethod
    def read(cls, obj: Json) -> Handshakes:
        return cls(
            obj["per_s"],
            obj["succeeded"],
            obj["handshakes"],
            Percentiles.read(obj["handshake_ms"]),
            obj.get("proxy_cpu_ms_per_handshake"),
        )


@dataclass(frozen=True)
class Memory:
    """Resident memory before and after opening `connections`."""

    connections: int
    rss_before_mib: float
    rss_after_mib: float
    kib_per_connection: float

    @classmethod
    def read(cls, obj: Json) -> Memory:
        return cls(obj["connections"], obj["rss_before_mib"], obj["rss_after_mib"], obj["kib_per_connection"])


@dataclass(frozen=True)
class ProxyPath:
    """One path (direct, nginx, proxy); `levels` is None when the path was skipped (`reason`)."""

    name: str
    levels: tuple[ProxyLevel, ...] | None
    reason: str
    handshakes: dict[str, Handshakes]
    memory: Memory | None

    @classmethod
    def read(cls, name: str, obj: Json) -> ProxyPath:
        levels = tuple(ProxyLevel.read(lv) for lv in obj["levels"]) if "levels" in obj else None
        return cls(
            name,
            levels,
            obj.get("reason", ""),
            {kind: Handshakes.read(part) for kind, part in obj.get("handshakes", {}).items()},
            Memory.read(obj["memory"]) if "memory" in obj else None,
        )


@dataclass(frozen=True)
class TokenCheck:
    """The proxy's token check timed in-process."""

    status: str | None
    algorithm: str
    us_per_check: float | None

    @classmethod
    def read(cls, obj: Json | None) -> TokenCheck:
        o = _optional(obj)
        return cls(o.get("status"), o.get("algorithm", "HS256"), o.get("us_per_check"))


@dataclass(frozen=True)
class AddedLatency:
    """Round trip added by an intermediary at one number of connections (pooled percentiles)."""

    connections: int
    p50: float | None
    p99: float | None
    p99_9: float | None


@dataclass(frozen=True)
class ProxyOverhead:
    """Section 4: every path, keyed by name in run order."""

    section: Section
    paths: dict[str, ProxyPath]
    added_latency_ms: dict[str, tuple[AddedLatency, ...]]
    token_mode: str | None
    token_check: TokenCheck

    @classmethod
    def read(cls, obj: Json) -> ProxyOverhead:
        added = {
            name: tuple(AddedLatency(a["connections"], a["p50"], a["p99"], a["p99_9"]) for a in rows)
            for name, rows in obj.get("added_latency_ms", {}).items()
        }
        return cls(
            Section.read(obj),
            {name: ProxyPath.read(name, t) for name, t in obj.get("targets", {}).items()},
            added,
            obj.get("token_mode"),
            TokenCheck.read(obj.get("token_check_in_process")),
        )


# --- 5. encoder cost ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderFailure:
    """An encoder and size that could not be measured."""

    encoder: str
    width: int
    height: int
    error: str


@dataclass(frozen=True)
class EncoderRun:
    """The cost of one encoder at one size, timed alone."""

    encoder: str
    width: int
    height: int
    encode_ms: Percentiles
    cpu_ms_per_frame: float
    cores_per_stream_at_60fps: float
    max_fps_one_core: float
    mbit_per_s_at_60fps: float


def _read_encoder_run(obj: Json) -> EncoderRun | EncoderFailure:
    if "error" in obj:
        return EncoderFailure(obj["encoder"], obj["width"], obj["height"], obj["error"])
    return EncoderRun(
        obj["encoder"],
        obj["width"],
        obj["height"],
        Percentiles.read(obj["encode_ms"]),
        obj["cpu_ms_per_frame"],
        obj["cores_per_stream_at_60fps"],
        obj["max_fps_one_core"],
        obj["mbit_per_s_at_60fps"],
    )


@dataclass(frozen=True)
class RenderPathRun:
    """A GPU app's frame at one size along one path (benchmarks.render_cost: `rgba` read back and
    converted on the CPU, or `yuv420p` converted on the GPU), step by step, in ms per frame."""

    path: str
    width: int
    height: int
    frames: int
    render_ms: Percentiles
    read_back_ms: Percentiles
    wrap_ms: Percentiles
    convert_ms: Percentiles
    encode_ms: Percentiles
    total_ms: Percentiles
    numpy_path_ms: Percentiles
    max_fps: float

    @classmethod
    def read(cls, obj: Json) -> RenderPathRun:
        def ms(step: str) -> Percentiles:
            return Percentiles.read(obj.get(f"{step}_ms"))

        return cls(
            obj.get("path", "rgba"),
            obj["width"],
            obj["height"],
            obj["frames"],
            ms("render"),
            ms("read_back"),
            ms("wrap"),
            ms("convert"),
            ms("encode"),
            ms("total"),
            ms("numpy_path"),
            obj["max_fps"],
        )


@dataclass(frozen=True)
class RenderPath:
    """The render path part of section 5: the renderer it ran on, or why it did not run."""

    status: str
    reason: str
    renderer: str
    runs: tuple[RenderPathRun, ...]

    @classmethod
    def read(cls, obj: Json) -> RenderPath:
        runs = tuple(RenderPathRun.read(r) for r in obj.get("runs", ()))
        return cls(str(obj.get("status")), obj.get("reason", ""), obj.get("renderer", ""), runs)


@dataclass(frozen=True)
class EncoderCost:
    """Section 5; `runs` is None when the section holds no runs, `render_path` when it was not measured."""

    section: Section
    runs: tuple[EncoderRun | EncoderFailure, ...] | None
    render_path: RenderPath | None = None

    @classmethod
    def read(cls, obj: Json) -> EncoderCost:
        runs = tuple(_read_encoder_run(r) for r in obj["runs"]) if "runs" in obj else None
        render_path = RenderPath.read(obj["render_path"]) if isinstance(obj.get("render_path"), Mapping) else None
        return cls(Section.read(obj), runs, render_path)


# --- network lab --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkFailure:
    """A stack and scenario that did not measure (scenario ``*``: the stack did not come up)."""

    stack: str
    scenario: str
    error: str


@dataclass(frozen=True)
class NoFrame:
    """A session that presented no frame at all."""

    stack: str
    scenario: str
    reason: str
    presented_fps: float


@dataclass(frozen=True)
class Series:
    """The step scenario over time, per 250 ms: worst latency and received bitrate."""

    t_s: tuple[float, ...]
    latency_max_ms: tuple[float | None, ...]
    mbit_per_s: tuple[float | None, ...]


@dataclass(frozen=True)
class NetworkRun:
    """One stack through one impaired link."""

    stack: str
    scenario: str
    presented_fps: float
    latency_ms: Percentiles
    freeze_count: int
    total_freezes_ms: float
    longest_gap_ms: float | None
    mbit_per_s: float
    received_size: str
    packets_lost: int
    nacks: int
    plis: int
    series: Series | None


def _read_network_run(obj: Json) -> NetworkRun | NoFrame | NetworkFailure:
    if "error" in obj:
        return NetworkFailure(obj["stack"], obj["scenario"], obj["error"])
    if "no_frame" in obj:
        return NoFrame(obj["stack"], obj["scenario"], obj["no_frame"], obj["presented_fps"])
    series = obj.get("series")
    return NetworkRun(
        obj["stack"],
        obj["scenario"],
        obj["presented_fps"],
        Percentiles.read(obj["latency_ms"]),
        obj["freeze_count"],
        obj["total_freezes_ms"],
        obj.get("longest_gap_ms"),
        obj["mbit_per_s"],
        obj["received_size"],
        obj["packets_lost"],
        obj["nacks"],
        obj["plis"],
        Series(tuple(series["t_s"]), tuple(series["latency_max_ms"]), tuple(series["mbit_per_s"])) if series else None,
    )


@dataclass(frozen=True)
class Network:
    """The network lab: every stack through every scenario (described by name, in run order)."""

    section: Section
    size: str | None
    warmup_s: float | None
    measure_s: float | None
    scenarios: dict[str, str]
    runs: tuple[NetworkRun | NoFrame | NetworkFailure, ...]
    drop_s: float | None
    restore_s: float | None

    @classmethod
    def read(cls, obj: Json) -> Network:
        step = _optional(obj.get("step"))
        return cls(
            Section.read(obj),
            obj.get("size"),
            obj.get("warmup_s"),
            obj.get("measure_s"),
            dict(obj.get("scenarios", {})),
            tuple(_read_network_run(r) for r in obj.get("runs", ())),
            step.get("drop_s"),
            step.get("restore_s"),
        )


# --- the document -------------------------------------------------------------------------------


def _section(doc: Json, name: str) -> Json | None:
    section = doc["benchmarks"].get(name)
    return section if isinstance(section, Mapping) else None


@dataclass(frozen=True)
class Results:
    """A whole results document; a section is None when the run did not include it."""

    profile: str
    label: str
    started_at: str
    duration_s: float
    commit: str | None
    dirty: bool
    machine: Machine
    versions: dict[str, str]
    settings: tuple[StackSetting, ...]
    targets: tuple[TargetRow, ...]
    profiles: tuple[Profile, ...]
    glass_to_glass: GlassToGlass | None
    first_frame: FirstFrame | None
    input_latency: InputLatency | None
    proxy_overhead: ProxyOverhead | None
    encoder_cost: EncoderCost | None
    network: Network | None

    @classmethod
    def read(cls, doc: Json) -> Results:
        """Read a results document (its shape as benchmarks.results.schema_problems checks it)."""
        git = doc["versions"].get("git") or {}

        def part(name: str, read: Callable[[Json], _T]) -> _T | None:
            section = _section(doc, name)
            return None if section is None else read(section)

        return cls(
            profile=doc["profile"],
            label=doc.get("label") or "",
            started_at=doc["started_at"],
            duration_s=doc["duration_s"],
            commit=git.get("commit"),
            dirty=bool(git.get("dirty")),
            machine=Machine.read(doc["machine"]),
            versions={k: v for k, v in doc["versions"].items() if k != "git"},
            settings=tuple(StackSetting(s["name"], s["value"]) for s in doc.get("settings", ())),
            targets=tuple(TargetRow.read(r) for r in doc["targets"]),
            profiles=tuple(Profile.read(p) for p in doc.get("profiles") or ()),
            glass_to_glass=part("glass_to_glass", GlassToGlass.read),
            first_frame=part("time_to_first_frame", FirstFrame.read),
            input_latency=part("input_latency", InputLatency.read),
            proxy_overhead=part("proxy_overhead", ProxyOverhead.read),
            encoder_cost=part("encoder_cost", EncoderCost.read),
            network=part("network", Network.read),
        )
