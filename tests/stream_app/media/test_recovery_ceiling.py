"""The recovery ceiling: how high a lossy link's bitrate is worth going."""

from __future__ import annotations

import pytest

from stream_app.media.recovery_ceiling import RecoveryCeiling, RecoveryCeilingConfig

PIXELS_720P60 = 1280 * 720 * 60


def ceiling_at(loss: float, rtt: float | None, pixels: float = PIXELS_720P60, fps: float = 60.0) -> int | None:
    recovery = RecoveryCeiling()
    for tick in range(400):  # 10 s of it
        recovery.on_loss(loss, tick * 0.025)
    return recovery.ceiling(10.0, rtt, pixels, fps)


def test_without_loss_nothing_is_capped() -> None:
    assert ceiling_at(0.0, 0.04) is None
    assert ceiling_at(0.001, 0.04) is None  # under 0.2 %: repairs too rare to matter


def test_a_lossier_link_or_a_longer_round_trip_lowers_the_ceiling() -> None:
    at_1 = ceiling_at(0.01, 0.04)
    at_half = ceiling_at(0.005, 0.04)
    far = ceiling_at(0.01, 0.1)
    near = ceiling_at(0.01, 0.005)
    assert at_1 is not None and at_half is not None and far is not None and near is not None
    assert at_half > at_1 > far
    assert near > at_1
    # 40 ms RTT, 1 %: the expected wait per frame stays under the budget at about 15 packets a frame.
    assert 8_000_000 < at_1 < 9_500_000


def test_the_picture_keeps_a_floor_of_bits_per_pixel() -> None:
    floor = RecoveryCeilingConfig().min_bits_per_pixel * PIXELS_720P60
    assert ceiling_at(0.03, 0.04) == int(floor)
    assert ceiling_at(0.5, 0.2) == int(floor)  # even absurd loss keeps a watchable picture


def test_a_round_trip_shorter_than_the_budget_never_binds() -> None:
    config = RecoveryCeilingConfig(repair_budget_s=0.05)
    recovery = RecoveryCeiling(config)
    recovery.on_loss(0.05, 0.0)
    assert recovery.ceiling(0.0, 0.01, PIXELS_720P60, 60.0) is None  # 10 ms + 16.7 ms < 50 ms


def test_loss_is_averaged_over_time_and_forgotten_after_the_window() -> None:
    recovery = RecoveryCeiling()
    for tick in range(200):  # 10 s: 2 % in three samples of four, so 1.5 % on average
        recovery.on_loss(0.02 if tick % 4 else 0.0, tick * 0.05)
    assert recovery.loss(9.95) == pytest.approx(0.015, abs=0.0005)
    assert recovery.ceiling(9.95, 0.04, PIXELS_720P60, 60.0) is not None
    for tick in range(200, 420):
        recovery.on_loss(0.0, tick * 0.05)
    assert recovery.loss(20.95) == 0.0
    assert recovery.ceiling(20.95, 0.04, PIXELS_720P60, 60.0) is None


def test_a_burst_of_loss_is_not_a_lossy_link() -> None:
    recovery = RecoveryCeiling()
    for tick in range(400):  # the first second of a session loses 10 % (probes overrunning a buffer)
        recovery.on_loss(0.1 if tick < 40 else 0.0, tick * 0.025)
        assert recovery.ceiling(tick * 0.025, 0.04, PIXELS_720P60, 60.0) is None
    assert recovery.loss(9.9) > RecoveryCeilingConfig().min_loss  # the mean alone would have bound


def test_loss_with_a_queue_is_congestion_and_does_not_bind() -> None:
    recovery = RecoveryCeiling()
    for tick in range(100):  # 2.5 s of 2 % loss, the delay detector overusing throughout
        recovery.on_overuse(tick * 0.025)
        recovery.on_loss(0.02, tick * 0.025)
    assert recovery.ceiling(2.5, 0.04, PIXELS_720P60, 60.0) is None
    for tick in range(100, 200):  # the queue drains and the loss stops with it
        recovery.on_loss(0.0, tick * 0.025)
    assert recovery.ceiling(5.0, 0.04, PIXELS_720P60, 60.0) is None  # the congestion's loss is forgotten


def test_random_loss_binds_again_once_the_queue_has_been_quiet_for_a_while() -> None:
    recovery = RecoveryCeiling()
    recovery.on_overuse(0.0)
    for tick in range(1, 241):  # 1 % loss for 6 s after one overuse
        recovery.on_loss(0.01, tick * 0.025)
        if tick * 0.025 < RecoveryCeilingConfig().quiet_s:
            assert recovery.ceiling(tick * 0.025, 0.04, PIXELS_720P60, 60.0) is None
    assert recovery.ceiling(6.0, 0.04, PIXELS_720P60, 60.0) is not None


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RecoveryCeilingConfig(repair_budget_s=0)
    with pytest.raises(ValueError):
        RecoveryCeilingConfig(min_loss=1.0)
    with pytest.raises(ValueError):
        RecoveryCeilingConfig(quiet_s=-1)
    with pytest.raises(ValueError):
        RecoveryCeilingConfig(persistence=1.5)
