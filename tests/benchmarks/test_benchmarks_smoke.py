"""The benchmark harness runs end to end in a tiny configuration and writes results of the right shape.

Benchmarks are not tests: nothing here checks a speed. It checks that every benchmark still runs
against the real pieces and produces the JSON the report and the coordinator rely on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from benchmarks import glass_to_glass
from benchmarks.input_latency import APP_LINE
from benchmarks.netlab.namespace import lab_unavailable
from benchmarks.profiling import own_functions, top_functions
from benchmarks.results import SCHEMA, schema_problems
from benchmarks.stats import percentile, summarize
from benchmarks.targets import TARGETS
from benchmarks.time_to_first_frame import metric_mean_ms
from benchmarks.tokens import token_issuer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """`python -m benchmarks --profile smoke` once for the module; its results document and directory."""
    out = tmp_path_factory.mktemp("bench-results")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--profile", "smoke", "--out", str(out), "--label", "smoke test"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=340,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return json.loads((out / "latest.json").read_text(encoding="utf-8")), out


@pytest.mark.browser
@pytest.mark.timeout(360)
def test_results_document_has_the_schema(smoke_run: tuple[dict[str, Any], Path]) -> None:
    doc, _ = smoke_run
    assert doc["schema"] == SCHEMA
    assert schema_problems(doc) == []
    assert doc["profile"] == "smoke"
    assert doc["machine"]["cores"] >= 1
    assert doc["versions"]["aiortc"] and doc["versions"]["av"]


@pytest.mark.browser
@pytest.mark.timeout(360)
def test_every_benchmark_produced_results(smoke_run: tuple[dict[str, Any], Path]) -> None:
    doc, _ = smoke_run
    sections = doc["benchmarks"]
    assert set(sections) == {
        "encoder_cost",
        "proxy_overhead",
        "glass_to_glass",
        "time_to_first_frame",
        "input_latency",
        "network",
    }
    # The network lab needs root; without it the section says so instead of running.
    lab_reason = lab_unavailable()
    if lab_reason is not None:
        network = sections.pop("network")
        assert (network["status"], network["reason"]) == ("skipped", lab_reason)
    failed = {name: s.get("reason") for name, s in sections.items() if s["status"] not in ("ok", "partial")}
    assert failed == {}
    if "network" in sections:  # ours on the unimpaired lab path, relay-only through the impairment relay
        (run,) = sections["network"]["runs"]
        assert (run["stack"], run["scenario"], run["candidates"].split("/")[0]) == ("ours", "none", "relay")
        assert run["latency_ms"]["count"] > 0 and run["relay"]["down"]["sent"] > 0
        assert len(run["series"]["t_s"]) == len(run["series"]["latency_p50_ms"]) > 0
    assert all("error" not in run for run in sections["glass_to_glass"]["runs"])
    assert {run["server"] for run in sections["glass_to_glass"]["runs"]} == {"app", "baseline"}
    assert all(run["latency_ms"]["count"] > 0 for run in sections["glass_to_glass"]["runs"])
    assert sections["time_to_first_frame"]["sessions"] >= 1
    assert sections["input_latency"]["baseline"]["received"] > 0
    # The app path: the stream app's own log lines, one per key down and up.
    app_input = sections["input_latency"]["app"]
    assert app_input["status"] == "ok" and app_input["received"] == app_input["sent"] > 0
    # Both ends pick the codec the run is labelled with (the smoke profile's is VP8).
    assert all(run["negotiated_codec"].lower() == f"video/{run['codec']}" for run in sections["glass_to_glass"]["runs"])
    assert sections["proxy_overhead"]["targets"]["proxy"]["handshakes"]["accepted"]["succeeded"] > 0
    assert all("error" not in run for run in sections["encoder_cost"]["runs"])


@pytest.mark.browser
@pytest.mark.timeout(360)
def test_every_target_is_judged(smoke_run: tuple[dict[str, Any], Path]) -> None:
    doc, _ = smoke_run
    assert [row["key"] for row in doc["targets"]] == [t.key for t in TARGETS]
    by_key = {row["key"]: row for row in doc["targets"]}
    # The smoke profile runs no 720p60 H.264 and no 1,000 connections: those are honestly unmeasured.
    assert by_key["g2g_720_p50"]["status"] == "not measured"
    assert by_key["ttff_p50"]["status"] in ("met", "missed")
    assert by_key["proxy_memory"]["status"] in ("met", "missed")


@pytest.mark.browser
@pytest.mark.timeout(360)
def test_report_and_plots_are_written(smoke_run: tuple[dict[str, Any], Path]) -> None:
    _, out = smoke_run
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "smoke run" in report
    for heading in ("## Targets", "## 1. Glass-to-glass", "## 2. Time to first frame", "## 4. Proxy overhead"):
        assert heading in report
    assert "## Network lab" in report
    assert "| stream app | one codec per stack via MEDIA_CODECS, page #codec=<codec>; MEDIA_BITRATE_MIN=4M" in report
    assert json.loads((out / "network.json").read_text(encoding="utf-8"))["benchmarks"].keys() == {"network"}
    assert (out / "network.md").read_text(encoding="utf-8").startswith("# Network benchmark")
    plots = sorted(p.name for p in out.glob("*.png"))
    assert plots == ["encoder_cost.png", "glass_to_glass.png", "proxy_overhead.png", "time_to_first_frame.png"]
    for name in plots:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in report


def test_schema_check_names_what_is_wrong() -> None:
    assert schema_problems({"schema": SCHEMA}) == [
        f"missing {key}"
        for key in (
            "profile",
            "label",
            "started_at",
            "duration_s",
            "machine",
            "versions",
            "settings",
            "benchmarks",
            "targets",
        )
    ]


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 99.9) == 100.0
    assert percentile([], 50) is None
    assert summarize([3.0, 1.0, 2.0], (50, 99.9)) == {
        "count": 3,
        "mean": 2.0,
        "min": 1.0,
        "max": 3.0,
        "p50": 2.0,
        "p99_9": 3.0,
    }


def test_proxy_metric_mean_sums_over_labels() -> None:
    text = "\n".join(
        [
            "# TYPE proxy_token_check_seconds histogram",
            'proxy_token_check_seconds_bucket{le="0.001"} 3',
            'proxy_token_check_seconds_sum{outcome="ok"} 0.004',
            'proxy_token_check_seconds_count{outcome="ok"} 4',
            'proxy_token_check_seconds_sum{outcome="bad"} 0.002',
            'proxy_token_check_seconds_count{outcome="bad"} 1',
        ]
    )
    assert metric_mean_ms(text, "proxy_token_check_seconds") == 1.2
    assert metric_mean_ms(text, "other_seconds") is None


def test_profile_summary_ranks_self_time_and_our_own_functions() -> None:
    collapsed = "\n".join(
        [
            "<module> (proxy/__main__.py:5);_sign_in (proxy/server.py:10);write (asyncio/selector_events.py:1) 6",
            "<module> (proxy/__main__.py:5);_pump (proxy/bridge.py:72);select (selectors.py:468) 4",
        ]
    )
    assert top_functions(collapsed)[0] == {"function": "write (asyncio/selector_events.py:1)", "share": 0.6}
    assert own_functions(collapsed) == [
        {"function": "_sign_in (proxy/server.py)", "share": 0.6},
        {"function": "_pump (proxy/bridge.py)", "share": 0.4},
    ]


def _proxy_doc(proxy_p99: float, nginx_p99: float) -> dict[str, Any]:
    def target(p99: float) -> dict[str, Any]:
        return {"levels": [{"connections": 1000, "latency": {"paired_added_ms": {"p99": p99}}}]}

    return {"benchmarks": {"proxy_overhead": {"targets": {"proxy": target(proxy_p99), "nginx": target(nginx_p99)}}}}


def test_a_proxied_p99_below_direct_is_inconclusive_not_met() -> None:
    added = next(t for t in TARGETS if t.key == "proxy_added_p99")
    ratio = next(t for t in TARGETS if t.key == "proxy_vs_nginx")
    assert added.judge(_proxy_doc(0.4, 0.2))["status"] == "met"
    assert added.judge(_proxy_doc(1.5, 0.2))["status"] == "missed"
    assert added.judge(_proxy_doc(-3.0, 0.2))["status"] == "inconclusive"
    assert ratio.judge(_proxy_doc(0.9, 0.2))["status"] == "missed"
    assert ratio.judge(_proxy_doc(0.05, 0.01))["measured"] == 1.0


async def test_rs256_issuer_serves_the_key_its_tokens_verify_with(tmp_path: Path) -> None:
    async with token_issuer(tmp_path, mode="rs256-jwks") as issuer, aiohttp.ClientSession() as http:
        async with http.get(issuer.proxy_env["PROXY_JWKS_URL"]) as response:
            keys = jwt.PyJWKSet.from_dict(await response.json())
        token = issuer.mint("alice")
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(
            token, keys[kid].key, algorithms=["RS256"], audience="stream-proxy", issuer="nvcf-stream-kit"
        )
    assert claims["sub"] == "alice"
    assert issuer.label == "RS256 via JWKS"


def test_app_input_log_line_gives_event_and_receive_time() -> None:
    line = "input applied type=key seq=12 t=1732512345678.125 recv=1732512345679.5 code=KeyA"
    found = APP_LINE.search(line)
    assert found is not None
    assert (int(found["seq"]), float(found["recv"]) - float(found["t"])) == (12, 1.375)


def test_pooled_sessions_join_samples_and_add_up_counters() -> None:
    """Glass-to-glass measures several sessions per configuration and reports them as one."""

    def session(latencies: list[float], decoded: tuple[int, int], presented: int) -> dict[str, Any]:
        counters = {key: 0 for key in glass_to_glass._COUNTERS}
        counters.update(width=1280, height=720, local="host", remote="host")
        return {
            "elapsed": 5.0,
            "callbacks": presented,
            "unreadable": 1,
            "superseded": 2,
            "presented": presented,
            "readMs": 1.5,
            "latencies": latencies,
            "handedOver": [x - 1 for x in latencies],
            "check": {"reader": "videoframe"},
            "before": {**counters, "framesDecoded": decoded[0], "codec": "video/H264"},
            "after": {**counters, "framesDecoded": decoded[1], "codec": "video/H264"},
        }

    first, second = session([10.0, 12.0], (100, 400), 300), session([20.0], (5, 305), 299)
    pooled = glass_to_glass.pool_sessions([first, second])
    assert pooled["latencies"] == [10.0, 12.0, 20.0] and pooled["handedOver"] == [9.0, 11.0, 19.0]
    assert (pooled["elapsed"], pooled["presented"], pooled["unreadable"], pooled["superseded"]) == (10.0, 599, 2, 4)
    assert pooled["after"]["framesDecoded"] - pooled["before"]["framesDecoded"] == 600
    assert pooled["after"]["codec"] == "video/H264"
    summary = glass_to_glass.summarize_stream(pooled, 60)
    assert summary["presented_fps"] == 59.9 and summary["decoded_fps"] == 60.0
    assert glass_to_glass.pool_sessions([first]) is first
