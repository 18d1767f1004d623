"""The video sender's repair decision: one keyframe per loss episode."""

from __future__ import annotations

from stream_app.media.repair import KeyframeGate


def test_repeated_nacks_for_lost_packets_ask_for_one_keyframe_not_a_storm() -> None:
    gate = KeyframeGate()
    assert gate.ask(packet_sent_at=1.0, now=1.6)  # the first packet lost for good
    # The receiver repeats its NACKs for it and for its neighbours: the keyframe asked covers them.
    assert not gate.ask(1.0, 1.7)
    assert not gate.ask(1.05, 1.8)
    gate.on_keyframe(1.62)
    assert not gate.ask(1.5, 2.0)  # sent before the keyframe was made
    assert gate.ask(1.9, 2.5)  # lost after it: the picture needs a new one


def test_a_keyframe_the_encoder_made_on_its_own_covers_older_losses() -> None:
    gate = KeyframeGate()
    gate.on_keyframe(5.0)
    assert not gate.ask(4.9, 5.5)
    assert gate.ask(5.1, 5.7)
