"""The impairment model: each datagram dropped or given a delivery time, deterministically per seed."""

from __future__ import annotations

import itertools
import re

import pytest

from benchmarks.netlab.impairment import (
    GilbertElliott,
    Impairer,
    Impairment,
    ImpairmentError,
    LinkState,
    Step,
    Timeline,
)


def _run(impairment: Impairment, count: int = 20_000, seed: int = 7, spacing: float = 0.001) -> list[float | None]:
    impairer = Impairer(impairment, seed)
    return [impairer.decide(i * spacing) for i in range(count)]


def test_no_impairment_delivers_everything_at_once() -> None:
    assert _run(Impairment(), 100) == [i * 0.001 for i in range(100)]


def test_fixed_delay_shifts_every_datagram() -> None:
    out = _run(Impairment(delay_ms=20), 100)
    assert out == pytest.approx([i * 0.001 + 0.020 for i in range(100)])


def test_random_loss_drops_about_the_share_asked() -> None:
    out = _run(Impairment(loss=0.03))
    lost = sum(x is None for x in out) / len(out)
    assert 0.025 < lost < 0.035


def test_same_seed_same_decisions_other_seed_others() -> None:
    imp = Impairment(delay_ms=20, jitter_ms=5, loss=0.05)
    assert _run(imp, 500, seed=3) == _run(imp, 500, seed=3)
    assert _run(imp, 500, seed=3) != _run(imp, 500, seed=4)


def test_jitter_stays_in_bounds_and_keeps_order() -> None:
    # Datagrams 2 ms apart (about 5 Mbit/s of media): order keeping holds some back, not all.
    out = _run(Impairment(delay_ms=30, jitter_ms=20), 5000, spacing=0.002)
    delivered = [x for x in out if x is not None]
    assert delivered == sorted(delivered)
    delays = [x - i * 0.002 for i, x in enumerate(out) if x is not None]
    assert min(delays) >= 0.010 - 1e-9
    # Order is kept by holding a datagram behind the one before, so a delay may exceed delay + jitter
    # only by that wait, never by more than the jitter's whole span.
    assert max(delays) <= 0.050 + 0.040
    assert max(delays) - min(delays) > 0.030  # the jitter is really there


def test_reordering_lets_later_datagrams_pass() -> None:
    out = _run(Impairment(delay_ms=5, reorder=0.05, reorder_ms=10), 2000)
    delivered = [x for x in out if x is not None]
    inversions = sum(1 for a, b in itertools.pairwise(delivered) if b < a)
    assert 50 < inversions < 150


def test_gilbert_elliott_loses_in_bursts_at_its_mean_rate() -> None:
    ge = GilbertElliott(p=0.01, r=0.25)
    out = _run(Impairment(burst=ge), 50_000)
    lost = [x is None for x in out]
    assert ge.mean_loss == pytest.approx(0.01 / 0.26)
    assert abs(sum(lost) / len(lost) - ge.mean_loss) < 0.01
    bursts = [run for run in "".join("x" if flag else "." for flag in lost).split(".") if run]
    mean_burst = sum(map(len, bursts)) / len(bursts)
    assert 3.0 < mean_burst < 5.0  # about 1 / r, where random loss at this rate would give ~1.04


def test_changing_the_impairment_takes_effect_for_the_next_datagram() -> None:
    impairer = Impairer(Impairment(delay_ms=50))
    assert impairer.decide(0.0) == pytest.approx(0.05)
    impairer.set(Impairment())
    # Order is kept across the change: the next one cannot overtake the one still in flight.
    assert impairer.decide(0.01) == pytest.approx(0.05)
    assert impairer.decide(0.06) == pytest.approx(0.06)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"loss": 1.5}, "loss 1.5 is not a probability"),
        ({"delay_ms": -1}, "delay_ms -1.0 must not be negative"),
        ({"delay_ms": 5, "jitter_ms": 10}, "jitter_ms 10.0 exceeds delay_ms 5.0"),
        ({"latency": 3}, "unknown impairment field(s): latency"),
        ({"loss": "lots"}, "impairment fields must be numbers"),
        ({"burst": {"p": 0.1, "r": 0}}, "would never leave the bad state"),
    ],
)
def test_bad_impairments_are_refused_with_the_field(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ImpairmentError, match=re.escape(reason)):
        Impairment.from_json(fields)


def test_impairment_json_round_trip() -> None:
    imp = Impairment(delay_ms=20, jitter_ms=3, loss=0.01, burst=GilbertElliott(0.02, 0.3, 0.8), reorder=0.01)
    assert Impairment.from_json(imp.to_json()) == imp


def test_timeline_gives_the_state_in_force_at_each_time() -> None:
    fast, slow = LinkState(rate_bps=20_000_000), LinkState(rate_bps=5_000_000)
    timeline = Timeline((Step(0, fast), Step(5, slow), Step(12, fast)))
    assert [timeline.at(t).rate_bps for t in (-1, 0, 4.9, 5, 11, 12, 30)] == [20e6, 20e6, 20e6, 5e6, 5e6, 20e6, 20e6]
    assert [s.at_s for s in timeline.changes(10)] == [5]


def test_timeline_must_start_at_zero_and_be_ordered() -> None:
    with pytest.raises(ImpairmentError, match="starts with a step at 0"):
        Timeline((Step(1, LinkState()),))
    with pytest.raises(ImpairmentError, match="increasing"):
        Timeline((Step(0, LinkState()), Step(3, LinkState()), Step(2, LinkState())))
