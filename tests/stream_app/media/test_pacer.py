"""The pacer's schedule: rate, priorities, no bursts, probes and padding (pure, clock passed in)."""

from __future__ import annotations

import pytest

from stream_app.media.pacer import INTERVAL, Pacer, Priority
from stream_app.media.probes import ProbeCluster

PACKET = 1200


def drain(pacer: Pacer[str], start: float, until: float) -> list[tuple[float, str]]:
    """Run the pacer as the shell would, waking when it says; (time sent, item) for every packet."""
    sent: list[tuple[float, str]] = []
    now = start
    while now <= until:
        sent += [(now, queued.item) for queued in pacer.pop_ready(now)]
        wakeup = pacer.next_wakeup(now)
        if wakeup is None:
            break
        now = max(wakeup, now + 1e-4)
    return sent


def test_a_frame_leaves_at_the_pacing_rate_not_in_one_burst() -> None:
    pacer: Pacer[str] = Pacer(8_000_000, now=0.0)  # 1 MB/s: a 1200-byte packet every 1.2 ms
    for index in range(50):
        pacer.push(f"p{index}", PACKET, Priority.VIDEO, now=0.0)
    sent = drain(pacer, 0.0, 1.0)
    assert [item for _, item in sent] == [f"p{index}" for index in range(50)]
    last = sent[-1][0]
    assert 50 * PACKET / 1_000_000 * 0.9 <= last <= 50 * PACKET / 1_000_000 * 1.1 + INTERVAL
    # Never more than one interval's budget (plus one packet) in any interval.
    for start, _ in sent:
        in_window = [t for t, _ in sent if start <= t < start + INTERVAL]
        assert len(in_window) * PACKET <= 1_000_000 * INTERVAL + 2 * PACKET


def test_retransmissions_and_audio_go_before_queued_video() -> None:
    pacer: Pacer[str] = Pacer(1_000_000, now=0.0)
    for index in range(5):
        pacer.push(f"video{index}", PACKET, Priority.VIDEO, now=0.0)
    pacer.push("rtx", PACKET, Priority.RETRANSMISSION, now=0.0)
    pacer.push("audio", 100, Priority.AUDIO, now=0.0)
    order = [item for _, item in drain(pacer, 0.0, 1.0)]
    assert order[:2] == ["audio", "rtx"]
    assert order[2:] == [f"video{index}" for index in range(5)]


def test_idle_time_does_not_save_up_a_burst() -> None:
    pacer: Pacer[str] = Pacer(8_000_000, now=0.0)
    pacer.pop_ready(10.0)  # ten idle seconds
    for index in range(20):
        pacer.push(f"p{index}", PACKET, Priority.VIDEO, now=10.0)
    at_once = pacer.pop_ready(10.0)
    assert len(at_once) * PACKET <= 1_000_000 * INTERVAL + PACKET


def test_queue_time_is_what_the_queued_bytes_need_at_the_rate() -> None:
    pacer: Pacer[str] = Pacer(1_000_000, now=0.0)
    assert pacer.queue_time() == 0 and pacer.oldest() is None and pacer.next_wakeup(0.0) is None
    for index in range(10):
        pacer.push(f"p{index}", 1250, Priority.VIDEO, now=0.5)
    assert pacer.queue_time() == pytest.approx(0.1)
    assert pacer.oldest() == 0.5
    assert pacer.drop_video() == 10 and pacer.queued_bytes == 0


def test_a_probe_runs_at_its_rate_and_asks_for_padding_when_media_runs_out() -> None:
    pacer: Pacer[str] = Pacer(1_000_000, now=0.0)
    pacer.start_probe(ProbeCluster(id=7, bitrate=8_000_000, min_bytes=10_000, min_packets=5), now=0.0)
    assert pacer.bitrate == 8_000_000 and pacer.probe_cluster == 7
    pacer.push("media", PACKET, Priority.VIDEO, now=0.0)
    sent = pacer.pop_ready(0.001)  # 1 ms at 8 Mbit/s earns 1000 bytes
    assert [q.item for q in sent] == ["media"] and sent[0].probe_cluster == 7
    now, padded = 0.001, PACKET
    while pacer.probe_cluster is not None and now < 0.1:
        now += 0.001
        wanted = pacer.padding_wanted(now)
        if wanted:
            assert pacer.sent_padding(min(wanted, 1000)) == 7
            padded += min(wanted, 1000)
    assert pacer.probe_cluster is None and padded >= 10_000
    # ~10 kB at 8 Mbit/s takes about 10 ms, not the 80 ms it would at the pacing rate.
    assert now <= 0.02
    assert pacer.bitrate == 1_000_000


def test_padding_is_asked_only_while_a_probe_runs_and_the_queues_are_empty() -> None:
    pacer: Pacer[str] = Pacer(1_000_000, now=0.0)
    assert pacer.padding_wanted(1.0) == 0
    pacer.start_probe(ProbeCluster(id=1, bitrate=4_000_000, min_packets=5, min_bytes=5000), now=1.0)
    pacer.push("media", PACKET, Priority.VIDEO, now=1.0)
    assert pacer.padding_wanted(1.01) == 0  # media first
    pacer.pop_ready(1.01)
    assert pacer.padding_wanted(1.02) > 0
    pacer.end_probe()
    assert pacer.padding_wanted(1.03) == 0 and pacer.next_wakeup(1.03) is None


@pytest.mark.parametrize("bitrate", [0, -5])
def test_a_pacing_rate_must_be_positive(bitrate: int) -> None:
    with pytest.raises(ValueError, match="pacing rate must be positive"):
        Pacer(bitrate, now=0.0)
    with pytest.raises(ValueError, match="pacing rate must be positive"):
        Pacer(1000, now=0.0).set_bitrate(bitrate, now=0.0)
