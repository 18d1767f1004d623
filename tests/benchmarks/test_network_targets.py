"""How the network benchmark's series and its targets are read from results."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.network import longest_gap_ms, no_frame, series
from benchmarks.targets import TARGETS, held_p95_ratio, step_recovery_s, step_restore_mbit


def _doc(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"benchmarks": {"network": {"runs": runs, "step": {"drop_s": 2.0, "restore_s": 4.0}}}}


def _step_run(latency_max: list[float | None], mbit: list[float | None]) -> dict[str, Any]:
    t_s = [round(0.25 * (i + 1), 2) for i in range(len(latency_max))]
    return {
        "stack": "ours",
        "scenario": "step-20M-5M-20M",
        "series": {"t_s": t_s, "latency_max_ms": latency_max, "mbit_per_s": mbit},
    }


def test_series_bins_latency_fps_and_bitrate_per_250_ms() -> None:
    t0 = 1_000_000.0
    raw = {
        "displayed": [t0 + 10, t0 + 100, t0 + 260, t0 + 900],
        "latencies": [20, 40, 30, 500],
        "samples": [[t0, 0, 0, 1280, 720], [t0 + 250, 125_000, 15, 1280, 720], [t0 + 500, 250_000, 30, 1280, 720]],
    }
    out = series(raw, t0, 1.0)
    assert out["t_s"] == [0.25, 0.5, 0.75, 1.0]
    assert out["latency_max_ms"] == [40.0, 30.0, None, 500.0]
    assert out["fps"] == [8.0, 4.0, 0.0, 4.0]
    assert out["mbit_per_s"] == [None, 4.0, 4.0, None]
    assert longest_gap_ms(raw) == 640.0
    # A freeze at the start or the end of the window counts too.
    assert longest_gap_ms({**raw, "startedAt": t0 - 800, "endedAt": t0 + 1000}) == 810.0


def test_step_recovery_is_the_time_until_latency_stays_under_100_ms() -> None:
    # Bins end at 0.25 s steps; the drop is at 2 s, the restore at 4 s.
    latency: list[float | None] = [20.0] * 8 + [300.0, None, 150.0, 90.0, 80.0, 120.0, 60.0, 50.0] + [20.0] * 4
    run = _step_run(latency, [10.0] * 20)
    assert step_recovery_s(_doc([run])) == pytest.approx(1.5)  # last bin over 100 ms ends at 3.5 s
    assert step_recovery_s(_doc([_step_run([20.0] * 20, [10.0] * 20)])) == 0.0


def test_step_restore_is_the_best_1_s_bitrate_within_5_s_of_the_restore() -> None:
    # Restore at 4 s: the bins ending in (4, 9] count; the 30 Mbit/s bin ends at 9.25 s, too late.
    mbit: list[float | None] = [5.0] * 16 + [8.0, 12.0, 16.0, 18.0, 17.0, 15.0] + [10.0, None] * 7 + [30.0]
    run = _step_run([20.0] * len(mbit), mbit)
    assert step_restore_mbit(_doc([run])) == pytest.approx((16 + 18 + 17 + 15) / 4)


def _run(stack: str, scenario: str, p95: float) -> dict[str, Any]:
    return {"stack": stack, "scenario": scenario, "latency_ms": {"p95": p95}}


def test_held_p95_ratio_counts_only_scenarios_libwebrtc_holds() -> None:
    runs = [
        _run("ours", "none", 40),
        _run("libwebrtc", "none", 100),
        _run("ours", "cap-5M", 60),  # libwebrtc holds (110 <= 125): counts, 1.5x
        _run("libwebrtc", "cap-5M", 110),
        _run("ours", "cap-2M", 400),  # libwebrtc does not hold either (300 > 125): left out
        _run("libwebrtc", "cap-2M", 300),
    ]
    assert held_p95_ratio(_doc(runs)) == pytest.approx(1.5)
    assert str(held_p95_ratio(_doc(runs[:2] + runs[4:]))).startswith("inconclusive")


def test_a_session_without_frames_misses_the_frame_rate_and_leaves_latency_inconclusive() -> None:
    runs = [{"stack": "ours", "scenario": "cap-5M", **no_frame("no frame within 20 s")}]
    doc = {"benchmarks": {"network": {"runs": runs, "step": {"drop_s": 5.0, "restore_s": 11.0}}}}
    by_key = {t.key: t.judge(doc) for t in TARGETS if t.key.startswith("net_cap5m")}
    assert (by_key["net_cap5m_fps"]["status"], by_key["net_cap5m_fps"]["measured"]) == ("missed", 0.0)
    assert by_key["net_cap5m_p95"]["status"] == "inconclusive"
    assert by_key["net_cap5m_freezes"]["status"] == "inconclusive"
