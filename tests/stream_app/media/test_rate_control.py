"""The send-side estimator on synthetic delay traces and on a simulated bottleneck (`link_sim`)."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from support.link_sim import Bottleneck, LinkSim

from stream_app.media.probes import ProbeBitrateEstimator, ProbeCluster, ProbeController, ProbeResult
from stream_app.media.rate_control import Estimate, RateControlConfig, SendSideEstimator
from stream_app.media.transport_cc import PacketResult, SentPacket

MBIT = 1_000_000


def trace(
    rate_bps: float, seconds: float, queue_growth: float, start: float = 0.0, first_seq: int = 0
) -> list[PacketResult]:
    """Packets of 1200 bytes sent at `rate_bps`; each waits `queue_growth` s longer per second sent."""
    interval = 1200 * 8 / rate_bps
    packets = []
    for i in range(int(seconds / interval)):
        sent = start + i * interval
        packet = SentPacket(first_seq + i, (first_seq + i) & 0xFFFF, sent, 1200)
        packets.append(PacketResult(packet, sent + 0.02 + queue_growth * (sent - start)))
    return packets


def feed(estimator: SendSideEstimator, results: list[PacketResult], every: float = 0.05) -> list[Estimate]:
    """Deliver `results` as feedback every `every` seconds (20 ms after the last arrival reported)."""
    estimates: list[Estimate] = []
    batch: list[PacketResult] = []
    next_report = results[0].sent.send_time + every
    for result in results:
        assert result.arrival is not None
        if result.arrival > next_report and batch:
            estimates.append(estimator.on_feedback(batch, next_report + 0.02))
            batch = []
            next_report += every
        batch.append(result)
    estimates.append(estimator.on_feedback(batch, next_report + 0.02))
    return estimates


def test_backs_off_on_a_growing_queue() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=4 * MBIT))
    steady = feed(estimator, trace(4 * MBIT, 2.0, 0.0))
    assert steady[-1].delay_state == "normal"
    before = steady[-1].target_bitrate
    # The same sending rate, but each packet waits 10 % longer: the link carries ~3.6 Mbit/s.
    growing = feed(estimator, trace(4 * MBIT, 1.0, 0.1, start=2.0, first_seq=10_000))
    assert "overusing" in {e.delay_state for e in growing}
    assert growing[-1].target_bitrate < 0.9 * before
    assert growing[-1].limited_by == "delay"


def test_holds_on_a_steady_queue() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=4 * MBIT))
    feed(estimator, trace(4 * MBIT, 2.0, 0.0))
    # A queue that grew for 200 ms and then stays: delay is high but no longer growing.
    feed(estimator, trace(4 * MBIT, 0.2, 0.1, start=2.0, first_seq=10_000))
    settled = feed(estimator, trace(4 * MBIT, 2.0, 0.0, start=2.2, first_seq=20_000))
    tail = settled[len(settled) // 2 :]
    assert {e.delay_state for e in tail} == {"normal"}
    assert all(b.target_bitrate >= a.target_bitrate for a, b in itertools.pairwise(tail))


def run(capacity: float, seconds: float, *, loss: float = 0.0, config: RateControlConfig | None = None) -> LinkSim:
    sim = LinkSim(SendSideEstimator(config), Bottleneck(capacity, loss=loss, rng=random.Random(7)))
    sim.run(seconds)
    return sim


def test_ramps_fast_on_spare_capacity() -> None:
    sim = run(20 * MBIT, 3.0)
    assert sim.between(0.0, 0.05)[0].estimate.limited_by == "start"
    assert max(s.estimate.target_bitrate for s in sim.between(0.0, 1.0)) >= 10 * MBIT  # probes, not 8 %/s
    assert min(s.estimate.target_bitrate for s in sim.between(1.5, 3.0)) >= 12 * MBIT


def test_converges_near_capacity_with_a_short_queue() -> None:
    sim = run(5 * MBIT, 20.0)
    settled = sim.between(3.0, 20.0)
    targets = [s.estimate.target_bitrate for s in settled]
    assert 0.85 * 5 * MBIT <= sum(targets) / len(targets) <= 1.0 * 5 * MBIT
    assert min(targets) >= 0.75 * 5 * MBIT and max(targets) <= 1.15 * 5 * MBIT
    assert max(s.queue_delay for s in settled) < 0.1


# Restore times are spread over the recovery probes' 2 s period: the worst phase must pass too.
@pytest.mark.parametrize(("low", "restore"), [(5 * MBIT, 20.0), (5 * MBIT, 15.5), (2 * MBIT, 15.75), (8 * MBIT, 17.0)])
def test_recovers_fast_from_a_drop_and_a_restore(low: float, restore: float) -> None:
    sim = LinkSim(SendSideEstimator(), Bottleneck(20 * MBIT))
    sim.run(10.0)
    assert sim.samples[-1].estimate.target_bitrate >= 15 * MBIT
    sim.link.capacity = low
    sim.run(restore)
    sim.link.capacity = 20 * MBIT
    sim.run(restore + 8.0)
    after_drop = sim.between(11.5, restore)
    assert max(s.estimate.target_bitrate for s in after_drop) < low  # under the new capacity within 1.5 s
    assert max(s.queue_delay for s in after_drop) < 0.1  # and the queue it built is gone
    assert max(s.estimate.target_bitrate for s in sim.between(restore, restore + 5.0)) >= 15 * MBIT
    assert min(s.estimate.target_bitrate for s in sim.between(restore + 5.0, restore + 8.0)) >= 15 * MBIT


# Under a little jitter the queue a drop builds raises the jitter too, which asks for a longer
# probe: sent at twice the old estimate into the narrowed link, it kept the queue over 100 ms.
@pytest.mark.parametrize("drop", [10.6, 11.0])
def test_no_probe_goes_on_top_of_the_queue_a_drop_built(drop: float) -> None:
    sim = LinkSim(SendSideEstimator(), Bottleneck(20 * MBIT, jitter=0.005, rng=random.Random(3)))
    sim.run(drop)
    sim.link.capacity = 5 * MBIT
    sim.run(drop + 3.0)
    asked = [at for at, _ in sim.probes if drop < at < drop + 3.0]
    assert asked  # recovery probes, once the queue is gone
    before = [[s.queue_delay for s in sim.samples if s.time <= at][-1] for at in asked]  # the last sample before
    assert max(before) < 0.02, list(zip(asked, before, strict=True))
    assert max(s.queue_delay for s in sim.between(drop + 1.2, drop + 3.0)) < 0.1


def test_probes_keep_the_estimate_up_while_the_sender_is_application_limited() -> None:
    sim = LinkSim(SendSideEstimator(), Bottleneck(2 * MBIT))
    sim.run(5.0)
    assert sim.samples[-1].estimate.target_bitrate < 2 * MBIT
    sim.app_limit = 0.5 * MBIT  # a still scene: the encoder needs little
    sim.link.capacity = 20 * MBIT
    sim.run(17.0)
    assert sim.samples[-1].estimate.target_bitrate >= 10 * MBIT  # 1.5x what is sent would be 0.75 Mbit/s
    sim.app_limit = None  # the scene gets busy: the link's rate is there at once
    sim.run(19.0)
    assert min(s.estimate.target_bitrate for s in sim.between(17.0, 19.0)) >= 10 * MBIT
    assert max(s.queue_delay for s in sim.between(17.0, 19.0)) < 0.1


# The first probe cut short as the lab showed it: never sent (the shell had no media yet to pad it
# with). One that comes back saturated is believed (test_a_first_probe_that_came_back_saturated_...).
def test_a_start_whose_first_probe_is_never_sent_still_finds_a_fast_link() -> None:
    sim = LinkSim(SendSideEstimator(), Bottleneck(20 * MBIT))
    sim.unsent_probes = {1}
    sim.run(10.0)
    assert max(s.estimate.target_bitrate for s in sim.between(0.0, 2.0)) < 3 * MBIT  # the first probe did miss
    assert max(s.estimate.target_bitrate for s in sim.between(0.0, 5.0)) >= 15 * MBIT  # 8 %/s alone: ~2.3
    assert min(s.estimate.target_bitrate for s in sim.between(5.0, 10.0)) >= 15 * MBIT
    assert max(s.queue_delay for s in sim.between(0.0, 10.0)) < 0.05


# What a link that really is slow pays for probing again: at most one short probe, in the first
# seconds, and the queue stays within what it was without (2 Mbit/s: 37 ms; 500 kbit/s: 40 ms, its
# recovery probes after the start's queue see to it there).
@pytest.mark.parametrize(
    ("capacity", "unsent", "queue_bound", "probes_again"),
    [(2 * MBIT, set(), 0.04, 0), (2 * MBIT, {1}, 0.04, 1), (5 * MBIT, set(), 0.02, 0), (500_000, {1}, 0.045, 0)],
)
def test_on_a_slow_link_probing_again_costs_at_most_one_short_probe(
    capacity: float, unsent: set[int], queue_bound: float, probes_again: int
) -> None:
    sim = LinkSim(SendSideEstimator(), Bottleneck(capacity))
    sim.unsent_probes = unsent
    sim.run(20.0)
    again = [(at, cluster) for at, cluster in sim.probes if at >= 2.9]  # the first probing and recoveries are over
    assert len(again) == probes_again, again
    for at, cluster in again:
        assert cluster.min_bytes == int(cluster.bitrate * 0.015 / 8)  # 15 ms, whatever the jitter asks
        assert max(s.queue_delay for s in sim.between(at, at + 1.0)) < 0.025
    assert max(s.queue_delay for s in sim.between(3.0, 20.0)) <= queue_bound
    targets = [s.estimate.target_bitrate for s in sim.between(5.0, 20.0)]
    assert 0.85 * capacity <= sum(targets) / len(targets) <= capacity


def _ticks(
    controller: ProbeController, start: float, end: float, settled: bool = True, loss: float = 0.0
) -> list[tuple[float, ProbeCluster]]:
    """Ticks every 25 ms at an estimate of 2.2 Mbit/s; each probe asked for comes back saturated at 2.3."""
    asked = []
    for step in range(round(start * 1000), round(end * 1000), 25):
        now = step / 1000
        controller.on_estimate(2.2 * MBIT, now, settled, 2.2 * MBIT, loss)
        cluster = controller.next_probe(now)
        if cluster is not None:
            asked.append((now, cluster))
            controller.on_probe_result(ProbeResult(cluster.id, 2.3 * MBIT, cluster.bitrate, saturated=True))
    return asked


def test_a_first_probe_that_came_back_saturated_plans_no_probing_again() -> None:
    # Behind a token bucket (tbf, a policer) a short probe at twice the link rides the bucket's
    # burst and reads as a link twice as fast: a probe that showed the link is believed.
    controller = ProbeController(start_bps=1.5 * MBIT, max_bps=30 * MBIT)
    first = controller.next_probe(0.0)
    assert first is not None and first.bitrate == 4.5 * MBIT
    controller.on_probe_result(ProbeResult(first.id, 2.2 * MBIT, first.bitrate, saturated=True))
    assert _ticks(controller, 0.0, 80.0) == []


def test_probing_again_waits_for_a_quiet_link_and_ends_once_a_probe_is_answered() -> None:
    controller = ProbeController(start_bps=1.5 * MBIT, max_bps=30 * MBIT)
    first = controller.next_probe(0.0)
    assert first is not None and first.bitrate == 4.5 * MBIT  # and no result ever comes

    assert _ticks(controller, 0.0, 3.0, settled=False) == []  # the probing ends at 1 s; the detector is not normal
    assert _ticks(controller, 3.0, 4.0, loss=0.05) == []  # nor while the link loses packets
    again = _ticks(controller, 4.0, 5.0)
    assert [(at, c.bitrate, c.min_bytes) for at, c in again] == [(4.0, 4.4 * MBIT, int(4.4 * MBIT * 0.015 / 8))]
    # It showed the link (saturated, under 70 %): a slow link pays no more probes.
    assert _ticks(controller, 5.0, 80.0) == []


def test_probing_again_after_a_probe_that_was_never_answered_goes_on_until_one_is() -> None:
    controller = ProbeController(start_bps=1.5 * MBIT, max_bps=30 * MBIT)
    assert controller.next_probe(0.0) is not None  # and no result ever comes
    times = []
    for step in range(0, 40_000, 25):
        now = step / 1000
        controller.on_estimate(1.5 * MBIT, now, True, 1.5 * MBIT)
        if controller.next_probe(now) is not None:
            times.append(now)  # each unanswered too
    assert times == [3.0, 8.0, 17.0, 26.0, 35.0]  # waits of 2, 4, 8, 8, 8 s after each ended


@pytest.mark.parametrize(
    ("capacity", "jitter", "reorder", "floor"),
    [
        (5 * MBIT, 0.02, False, 0.85),
        (20 * MBIT, 0.02, True, 0.8),
        # A short first probe reads 40 ms of jitter as a slow link; a longer one, once it is known, does not.
        (20 * MBIT, 0.04, False, 0.6),
    ],
)
def test_holds_near_capacity_under_jitter(capacity: float, jitter: float, reorder: bool, floor: float) -> None:
    link = Bottleneck(capacity, jitter=jitter, reorder=reorder, rng=random.Random(3))
    sim = LinkSim(SendSideEstimator(), link)
    sim.run(20.0)
    targets = [s.estimate.target_bitrate for s in sim.between(5.0, 20.0)]
    assert sum(targets) / len(targets) >= floor * capacity
    assert max(targets) <= 1.15 * capacity


def test_packets_reordered_past_a_feedback_are_not_counted_lost() -> None:
    link = Bottleneck(5 * MBIT, jitter=0.02, reorder=True, rng=random.Random(3))
    sim = LinkSim(SendSideEstimator(), link)
    sim.run(15.0)
    late = sim.between(5.0, 15.0)
    assert max(s.estimate.loss_fraction for s in late) < 0.05  # counted as lost, 20 ms of jitter reads ~13 %
    assert "loss" not in {s.estimate.limited_by for s in late}
    assert sum(s.estimate.target_bitrate for s in late) / len(late) >= 0.8 * 5 * MBIT


def test_backs_off_at_15_percent_random_loss() -> None:
    sim = run(5 * MBIT, 15.0, loss=0.15)
    late = sim.between(10.0, 15.0)
    assert max(s.estimate.target_bitrate for s in late) <= 1 * MBIT
    assert {s.estimate.limited_by for s in late} == {"loss"}


@pytest.mark.parametrize("loss", [0.01, 0.03])
def test_ignores_a_few_percent_of_random_loss(loss: float) -> None:
    sim = run(5 * MBIT, 15.0, loss=loss)
    late = sim.between(5.0, 15.0)
    assert min(s.estimate.target_bitrate for s in late) >= 0.8 * 5 * MBIT
    assert "loss" not in {s.estimate.limited_by for s in late}


def test_respects_the_configured_maximum() -> None:
    config = RateControlConfig(min_bitrate=300_000, start_bitrate=1 * MBIT, max_bitrate=3 * MBIT)
    sim = run(20 * MBIT, 5.0, config=config)
    assert max(s.estimate.target_bitrate for s in sim.samples) <= 3 * MBIT
    assert sim.samples[-1].estimate.limited_by == "max"


def test_never_goes_below_the_configured_minimum() -> None:
    sim = run(200_000, 10.0, config=RateControlConfig(min_bitrate=300_000, start_bitrate=500_000))
    assert min(s.estimate.target_bitrate for s in sim.samples) == 300_000


def test_the_same_trace_gives_the_same_estimates() -> None:
    first, second = run(5 * MBIT, 5.0, loss=0.02), run(5 * MBIT, 5.0, loss=0.02)
    assert [s.estimate for s in first.samples] == [s.estimate for s in second.samples]


def test_pacing_runs_at_two_and_a_half_times_the_target() -> None:
    estimate = SendSideEstimator().process(0.0)
    assert (estimate.target_bitrate, estimate.pacing_bitrate) == (1_500_000, 3_750_000)
    assert (estimate.limited_by, estimate.acknowledged_bitrate, estimate.rtt) == ("start", None, None)


def test_the_first_probe_is_at_three_times_the_start_and_the_next_doubles_its_result() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=1 * MBIT))
    first = estimator.next_probe(0.0)
    assert first == ProbeCluster(1, 3 * MBIT, 5, 3 * MBIT * 15 // 8000)
    assert first.initial and estimator.next_probe(0.0) is None
    interval = 1200 * 8 / first.bitrate
    results = [PacketResult(SentPacket(i, i, i * interval, 1200, 1), 5.0 + i * interval) for i in range(6)]
    estimate = estimator.on_feedback(results, 0.1)
    assert estimate.target_bitrate == pytest.approx(3 * MBIT, rel=0.01)
    second = estimator.next_probe(0.1)
    assert second is not None and second.bitrate == pytest.approx(6 * MBIT, rel=0.01) and not second.initial


def test_a_probe_at_the_maximum_is_not_repeated_when_its_result_is_near_it() -> None:
    controller = ProbeController(start_bps=4 * MBIT, max_bps=10 * MBIT)
    first = controller.next_probe(0.0)
    assert first is not None and first.bitrate == 10 * MBIT  # 3x the start, capped
    for tick in range(1, 200):
        controller.on_estimate(9.5 * MBIT, tick * 0.001, settled=True, delivered=9 * MBIT)
    assert controller.next_probe(0.2) is None


def test_a_first_probe_on_a_slow_link_lowers_the_start() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=2 * MBIT))
    first = estimator.next_probe(0.0)
    assert first is not None
    interval = 1200 * 8 / first.bitrate
    arrival = 1200 * 8 / 500_000  # a 500 kbit/s link
    results = [PacketResult(SentPacket(i, i, i * interval, 1200, 1), 5.0 + i * arrival) for i in range(8)]
    estimate = estimator.on_feedback(results, 0.2)
    assert estimate.target_bitrate < 500_000


def test_a_probe_that_got_through_sets_the_estimate_and_that_one_did_not_is_discounted() -> None:
    estimator = ProbeBitrateEstimator()
    cluster = ProbeCluster(7, 8 * MBIT, 5, 15_000)
    estimator.on_probe(cluster)
    interval = 1200 * 8 / (8 * MBIT)
    results = [PacketResult(SentPacket(i, i, i * interval, 1200, 7), 1.0 + i * interval) for i in range(13)]
    got = [estimator.on_result(r) for r in results][-1]
    assert got is not None and got.bitrate == pytest.approx(8 * MBIT, rel=0.01) and not got.saturated
    estimator.on_probe(ProbeCluster(8, 8 * MBIT, 5, 15_000))
    slow = [PacketResult(SentPacket(i, i, i * interval, 1200, 8), 1.0 + i * interval * 2) for i in range(13)]
    got = [estimator.on_result(r) for r in slow][-1]
    assert got is not None and got.bitrate == pytest.approx(0.95 * 4 * MBIT, rel=0.01) and got.saturated
    assert estimator.on_result(PacketResult(SentPacket(99, 99, 0.0, 1200, None), 1.0)) is None


def test_remb_alone_sets_the_target_without_transport_feedback() -> None:
    estimator = SendSideEstimator()
    estimate = estimator.on_remb(2 * MBIT, 0.5)
    assert (estimate.target_bitrate, estimate.limited_by) == (2 * MBIT, "remb")
    assert estimator.next_probe(0.5) is None  # nothing could measure a probe's result
    assert estimator.on_remb(50 * MBIT, 1.0).limited_by == "max"


def test_remb_bounds_the_transport_cc_estimate() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=4 * MBIT))
    feed(estimator, trace(4 * MBIT, 1.0, 0.0))
    estimate = estimator.on_remb(1 * MBIT, 1.1)
    assert (estimate.target_bitrate, estimate.limited_by) == (1 * MBIT, "remb")


def test_receiver_report_loss_backs_off_without_transport_feedback() -> None:
    estimator = SendSideEstimator()
    estimator.on_remb(4 * MBIT, 0.0)
    estimator.on_rtt(0.05, 0.0)
    for i in range(1, 11):
        estimate = estimator.on_receiver_report(0.25, i * 0.5)
    assert estimate.limited_by == "loss"
    assert estimate.target_bitrate < 2 * MBIT
    assert estimate.loss_fraction == 0.25 and estimate.rtt == 0.05


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"min_bitrate": 5_000}, "10 kbit/s <= min"),
        ({"start_bitrate": 100_000}, "min <= start"),
        ({"max_bitrate": 1_000_000}, "start <= max"),
    ],
)
def test_config_refuses_inconsistent_bitrates(kwargs: dict[str, int], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        RateControlConfig(**kwargs)


def clumped_fifo(rate: float, capacity: float, start: float, end: float, first_seq: int) -> list[PacketResult]:
    """Packets of 1200 bytes sent at `rate` through a FIFO of `capacity` (from empty), with arrivals
    released in 4 ms clumps, as a relay or Wi-Fi aggregation hands them on."""
    interval, busy, results = 1200 * 8 / rate, 0.0, []
    for i in range(int((end - start) / interval)):
        sent = start + i * interval
        busy = max(sent, busy) + 1200 * 8 / capacity
        arrival = math.ceil((busy + 0.02) / 0.004) * 0.004
        results.append(PacketResult(SentPacket(first_seq + i, (first_seq + i) & 0xFFFF, sent, 1200), arrival))
    return results


def test_a_long_queue_delivering_under_half_the_target_is_overuse_before_the_trend_sees_it() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=16 * MBIT))
    estimator.on_rtt(0.01, 0.0)
    before = feed(estimator, clumped_fifo(16 * MBIT, 1e12, 0.0, 2.0, 0))[-1]
    assert before.delay_state == "normal" and before.target_bitrate >= 16 * MBIT
    # The link drops to 5 Mbit/s: two feedbacks later the queue is 70 ms and 8.9 Mbit/s was delivered.
    slow = clumped_fifo(16 * MBIT, 5 * MBIT, 2.0, 2.3, 100_000)
    first = estimator.on_feedback([r for r in slow if r.arrival is not None and r.arrival <= 2.07], 2.09)
    assert first.delay_state == "normal"  # 35 ms of queue: not yet
    second = estimator.on_feedback([r for r in slow if r.arrival is not None and 2.07 < r.arrival <= 2.12], 2.14)
    assert second.delay_state == "overusing"  # the trendline, over clumped arrivals, calls it a feedback later
    assert second.target_bitrate < 0.5 * before.target_bitrate


@pytest.mark.parametrize("drop", [10.0, 10.3, 10.6])
def test_loss_from_the_queue_a_drop_overflowed_does_not_cut_the_rate_again(drop: float) -> None:
    # The lab's buffer: tbf drops what would wait over 100 ms. The packets sent at 20 Mbit/s before
    # the backoff overflow it; counted by the loss-based bound they took the target to 3.2 Mbit/s.
    sim = LinkSim(SendSideEstimator(), Bottleneck(20 * MBIT, queue_limit=0.1))
    sim.run(drop)
    sim.link.capacity = 5 * MBIT
    sim.run(drop + 5.0)
    after = sim.between(drop + 0.5, drop + 5.0)
    assert {s.estimate.limited_by for s in after} == {"delay"}
    assert min(s.estimate.target_bitrate for s in after) >= 0.75 * 5 * MBIT


def test_loss_of_packets_sent_after_a_backoff_still_cuts_the_rate() -> None:
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=4 * MBIT))
    estimator.on_rtt(0.01, 0.0)
    feed(estimator, trace(4 * MBIT, 2.0, 0.0))
    feed(estimator, trace(4 * MBIT, 1.0, 0.1, start=2.0, first_seq=10_000))  # overuse: a backoff
    lossy = [
        PacketResult(r.sent, None if r.sent.sequence % 4 == 0 else r.arrival)
        for r in trace(3 * MBIT, 2.0, 0.0, start=3.0, first_seq=20_000)
    ]
    estimates = [
        estimator.on_feedback([r for r in lossy if at <= r.sent.send_time < at + 0.05], at + 0.07)
        for at in (3.0 + i * 0.05 for i in range(40))
    ]
    assert estimates[-1].limited_by == "loss" and estimates[-1].loss_fraction == pytest.approx(0.25, abs=0.02)


def standing_queue(queue: float, start: float, seconds: float, first_seq: int) -> list[PacketResult]:
    """1 Mbit/s of packets that each wait `queue` s: a queue that stands, neither growing nor draining."""
    return [
        PacketResult(r.sent, r.arrival + queue) for r in trace(1 * MBIT, seconds, 0.0, start, first_seq) if r.arrival
    ]


@pytest.mark.parametrize(("queue", "probes"), [(0.015, False), (0.004, True)])
def test_probes_wait_for_the_queue_to_be_under_10_ms(queue: float, probes: bool) -> None:
    # Application-limited (1 of 4 Mbit/s), so probes are due every 5 s; a probe on top of a standing
    # queue of a frame (15 ms) added its own length to it: spikes of 100-150 ms in the lab.
    estimator = SendSideEstimator(RateControlConfig(start_bitrate=4 * MBIT))
    while estimator.next_probe(0.0) is not None:
        pass
    feed(estimator, trace(1 * MBIT, 1.0, 0.0))
    asked = []
    results = standing_queue(queue, 1.0, 8.0, 10_000)
    for first in range(0, len(results), 5):
        batch = results[first : first + 5]
        now = batch[-1].sent.send_time + 0.05
        estimator.on_feedback(batch, now)
        if estimator.next_probe(now) is not None:
            asked.append(now)
    assert bool(asked) == probes, asked


def test_a_recovery_probe_is_short_whatever_the_jitter() -> None:
    controller = ProbeController(start_bps=16 * MBIT, max_bps=30 * MBIT)
    while controller.next_probe(0.0) is not None:
        pass
    for tick in range(40):
        controller.on_estimate(16 * MBIT, 1.0 + tick * 0.025, settled=True, delivered=16 * MBIT)
    controller.on_estimate(4 * MBIT, 2.0, settled=False, delivered=5 * MBIT)  # a drop
    controller.jitter = 0.0035  # a 5 Mbit/s link at capacity: our own frames queueing
    probe = None
    for tick in range(1, 100):
        controller.on_estimate(4 * MBIT, 2.0 + tick * 0.025, settled=True, delivered=4 * MBIT)
        probe = probe or controller.next_probe(2.0 + tick * 0.025)
    assert probe is not None and probe.bitrate == 8 * MBIT
    assert probe.min_bytes == 8 * MBIT * 15 // 8000  # 15 ms, not the 42 ms the jitter asks for


def test_a_probe_never_reads_faster_than_it_was_sent() -> None:
    # The pacer sends a 15 ms probe in 5 ms rounds, and a token bucket lets the burst through at
    # once: send and receive intervals both read short. Taken as it read, 4.2 Mbit/s read 6.1.
    estimator = ProbeBitrateEstimator()
    estimator.on_probe(ProbeCluster(3, 4.2 * MBIT, 5, 7875))
    rounds = [0.0, 0.0, 0.0, 0.005, 0.005, 0.010, 0.010]
    results = [PacketResult(SentPacket(i, i, at, 1200, 3), 1.0 + i * 0.0015) for i, at in enumerate(rounds)]
    got = [estimator.on_result(r) for r in results][-1]
    assert got is not None and got.bitrate == 4.2 * MBIT and not got.saturated


def test_a_probe_reads_the_rate_a_token_bucket_sustains_not_its_burst() -> None:
    # The lab's 5 Mbit/s tbf lets 6 KB through at line rate; a 15 ms probe at 8.2 Mbit/s then read
    # 6.3 Mbit/s, was believed, and the next probe of its chain queued 90 ms.
    estimator = ProbeBitrateEstimator()
    estimator.on_probe(ProbeCluster(4, 8.2 * MBIT, 5, 15_375))
    interval = 1200 * 8 / (8.2 * MBIT)
    arrivals, at = [], 1.0
    for i in range(13):
        at += 0.0001 if i < 5 else 1200 * 8 / (5 * MBIT)  # the bucket's burst, then the link's rate
        arrivals.append(PacketResult(SentPacket(i, i, i * interval, 1200, 4), at))
    got = [estimator.on_result(r) for r in arrivals][-1]
    assert got is not None and got.saturated and got.bitrate <= 5 * MBIT
