"""The degradation ladder: lower resolution or frame rate when the bitrate cannot carry the source,
climb back when it can, never flap (pure, clock passed in)."""

from __future__ import annotations

import itertools

import pytest

from stream_app.media.degradation import BPP_DOWN, BPP_UP, HOLD_DOWN, HOLD_UP, DegradationLadder, Step

PIXELS_720P = 1280 * 720


def run(ladder: DegradationLadder, bitrate: int, start: float, seconds: float) -> Step:
    step = ladder.step
    now = start
    while now <= start + seconds:
        step = ladder.update(bitrate, PIXELS_720P, now)
        now += 0.025
    return step


def test_720p60_holds_at_5_mbit_and_steps_down_at_2() -> None:
    ladder = DegradationLadder("latency", 60)
    assert run(ladder, 5_000_000, 0.0, 10.0) == Step(0, 1.0, 60.0)
    step = run(ladder, 2_000_000, 10.0, HOLD_DOWN + 0.1)
    assert step.fps == 60.0 and step.scale < 1.0  # latency first: the frame rate stays
    assert 2_000_000 >= ladder.needed(step, PIXELS_720P, BPP_DOWN)


def test_a_short_dip_does_not_cost_a_step_but_a_deep_one_does_at_once() -> None:
    ladder = DegradationLadder("latency", 60)
    need = ladder.needed(ladder.step, PIXELS_720P, BPP_DOWN)
    assert run(ladder, int(need * 0.9), 0.0, HOLD_DOWN * 0.5).level == 0
    assert run(ladder, 5_000_000, 1.0, 1.0).level == 0
    assert ladder.update(int(need * 0.3), PIXELS_720P, 3.0).level > 0


def test_it_climbs_back_one_rung_per_hold_once_the_rung_above_is_affordable() -> None:
    ladder = DegradationLadder("latency", 60)
    run(ladder, 200_000, 0.0, 2.0)
    bottom = ladder.step.level
    assert bottom == len(ladder.rungs) - 1
    levels = []
    now = 2.0
    while now < 2.0 + HOLD_UP * (bottom + 1) + 0.5:
        levels.append(ladder.update(20_000_000, PIXELS_720P, now).level)
        now += 0.025
    assert levels[-1] == 0
    changes = [b for a, b in itertools.pairwise(levels) if a != b]
    assert changes == list(range(bottom - 1, -1, -1))  # one rung at a time


def test_between_the_two_thresholds_it_stays_where_it_is() -> None:
    ladder = DegradationLadder("latency", 60)
    run(ladder, 1_500_000, 0.0, 2.0)
    level = ladder.step.level
    above = ladder.rungs[level - 1]
    between = int((ladder.needed(above, PIXELS_720P, BPP_DOWN) + ladder.needed(above, PIXELS_720P, BPP_UP)) / 2)
    assert run(ladder, between, 2.0, HOLD_UP * 3).level == level


@pytest.mark.parametrize(
    ("policy", "keeps"),
    [("resolution", "scale"), ("framerate", "fps")],
)
def test_each_policy_keeps_what_it_is_named_for(policy: str, keeps: str) -> None:
    ladder = DegradationLadder(policy, 60)  # type: ignore[arg-type]
    step = run(ladder, 700_000, 0.0, 3.0)
    assert step.level > 0
    assert getattr(step, keeps) == getattr(ladder.rungs[0], keeps)


def test_off_never_changes_anything() -> None:
    ladder = DegradationLadder("off", 60)
    assert run(ladder, 200_000, 0.0, 5.0) == Step(0, 1.0, 60.0)


def test_a_bad_policy_or_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="degradation policy 'fast'"):
        DegradationLadder("fast", 60)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frame rate must be positive"):
        DegradationLadder("latency", 0)


def test_easy_content_under_a_low_target_keeps_its_step() -> None:
    ladder = DegradationLadder("latency", 60)
    now = 0.0
    while now < HOLD_DOWN * 3:
        assert ladder.update(1_000_000, PIXELS_720P, now, content_limited=True).level == 0
        now += 0.025
    assert run(ladder, 1_000_000, now, HOLD_DOWN + 0.1).level > 0  # the same target, the link's word
