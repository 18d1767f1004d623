"""The encoder's share of the target when retransmissions take part of it (`send_rate`)."""

from __future__ import annotations

import pytest

from stream_app.media.rate_meter import RateMeter
from stream_app.media.send_rate import RETRANSMIT_WINDOW_S, media_bitrate

MBIT = 1_000_000


def test_the_meter_counts_the_last_half_second() -> None:
    meter = RateMeter(RETRANSMIT_WINDOW_S)
    for i in range(100):  # 1200 bytes every 10 ms: 0.96 Mbit/s
        meter.add(1200, i * 0.01)
    assert meter.bitrate(0.995) == pytest.approx(0.96 * MBIT, rel=0.03)
    assert meter.bitrate(1.6) == 0.0  # nothing sent for over half a second


def test_the_encoder_gets_the_target_less_what_retransmissions_take() -> None:
    # After a 20 -> 5 Mbit/s drop the sender retransmitted at ~5 Mbit/s on top of the encoder's target.
    assert media_bitrate(4 * MBIT, 1 * MBIT) == 3 * MBIT
    assert media_bitrate(4 * MBIT, 0.0) == 4 * MBIT


def test_the_encoder_keeps_at_least_half_the_target() -> None:
    assert media_bitrate(4 * MBIT, 3.5 * MBIT) == 2 * MBIT
