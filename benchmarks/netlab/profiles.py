"""Named network scenarios (docs/network-lab.md), each a `Timeline` of the lab link.

Times are seconds into the measured part of a session; the first step also holds during warm-up.
Delay and loss sit on the browser's leg to TURN (the relay), in both directions: a lossy Wi-Fi link
loses the browser's RTCP (NACKs, feedback) as well as the media. Rate caps are on the access link
between the namespaces (tbf), both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from benchmarks.netlab.impairment import GilbertElliott, Impairment, LinkState, Step, Timeline

MBIT: Final = 1_000_000


@dataclass(frozen=True)
class Scenario:
    """A named timeline and what it stands for."""

    name: str
    timeline: Timeline
    description: str


def _both(impairment: Impairment, rate_bps: int | None = None) -> LinkState:
    return LinkState(rate_bps=rate_bps, up=impairment, down=impairment)


def step_timeline(high_bps: int, low_bps: int, drop_at_s: float, restore_at_s: float) -> Timeline:
    """`high_bps`, down to `low_bps` at `drop_at_s`, back at `restore_at_s`."""
    return Timeline(
        (
            Step(0.0, LinkState(rate_bps=high_bps)),
            Step(drop_at_s, LinkState(rate_bps=low_bps)),
            Step(restore_at_s, LinkState(rate_bps=high_bps)),
        )
    )


def cellular_timeline(seconds: float) -> Timeline:
    """A recorded-style cellular trace: every second a new rate (2-12 Mbit/s) and one-way delay
    (15-40 ms each way, so 30-80 ms RTT), from a fixed table so every run sees the same link."""
    rates = (8, 12, 6, 3, 2, 5, 9, 12, 10, 4, 2, 3, 7, 11, 12, 6, 4, 8, 10, 5)
    delays = (20, 15, 25, 35, 40, 30, 20, 15, 15, 30, 40, 35, 25, 20, 15, 25, 30, 20, 15, 25)
    steps = []
    for second in range(max(1, int(seconds))):
        rate, delay = rates[second % len(rates)], delays[second % len(delays)]
        steps.append(Step(float(second), _both(Impairment(delay_ms=delay, jitter_ms=3), rate * MBIT)))
    return Timeline(tuple(steps))


STEP_DROP_S: Final = 5.0
"""In the step scenario, when the cap drops to 5 Mbit/s (and `step_restore_s` when it comes back)."""


def step_restore_s(measure_s: float) -> float:
    """The restore time of the step scenario for a measurement of `measure_s` seconds: the drop lasts
    about 40% of it, leaving the rest to show the ramp back up."""
    return round(STEP_DROP_S + max(3.0, (measure_s - STEP_DROP_S) * 0.45), 1)


def scenarios(measure_s: float) -> dict[str, Scenario]:
    """Every scenario, for a measured part of `measure_s` seconds (the step and the trace fit it)."""
    restore = step_restore_s(measure_s)
    items = (
        Scenario("none", Timeline.constant(LinkState()), "no cap, no impairment: the lab's own floor"),
        Scenario("cap-5M", Timeline.constant(LinkState(rate_bps=5 * MBIT)), "access link capped at 5 Mbit/s"),
        Scenario("cap-2M", Timeline.constant(LinkState(rate_bps=2 * MBIT)), "access link capped at 2 Mbit/s"),
        Scenario(
            "step-20M-5M-20M",
            step_timeline(20 * MBIT, 5 * MBIT, STEP_DROP_S, restore),
            f"20 Mbit/s, 5 Mbit/s from {STEP_DROP_S:g} s, 20 Mbit/s again from {restore:g} s",
        ),
        Scenario(
            "rtt40-loss1",
            Timeline.constant(_both(Impairment(delay_ms=20, loss=0.01))),
            "20 ms each way and 1% random loss on the browser's leg",
        ),
        Scenario(
            "rtt40-loss3",
            Timeline.constant(_both(Impairment(delay_ms=20, loss=0.03))),
            "20 ms each way and 3% random loss on the browser's leg",
        ),
        Scenario(
            "burst-loss",
            Timeline.constant(_both(Impairment(delay_ms=20, burst=GilbertElliott(p=0.005, r=0.2, loss_bad=0.8)))),
            "20 ms each way, Gilbert-Elliott bursts (p 0.5%, r 20%, 80% lost in the bad state: ~2% mean)",
        ),
        Scenario(
            "jitter-20",
            Timeline.constant(_both(Impairment(delay_ms=25, jitter_ms=20))),
            "25 ms ±20 ms each way on the browser's leg, order kept",
        ),
        Scenario("cellular", cellular_timeline(measure_s + 1), "1 s steps of 2-12 Mbit/s and 30-80 ms RTT"),
    )
    return {s.name: s for s in items}


SCENARIO_NAMES: Final = tuple(scenarios(20.0))
