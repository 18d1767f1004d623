"""Transport-wide congestion control on the wire: the sequence extension, RTCP transport feedback, the send history."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.media.transport_cc import (
    URI,
    PacketResult,
    PacketStatus,
    SendHistory,
    SentPacket,
    TransportFeedback,
    decode_sequence,
    encode_sequence,
    iter_feedback,
    parse_feedback,
    serialize_feedback,
)
from stream_app.media.transport_feedback import MAX_PACKET_STATUS_COUNT

# Transport feedback as browsers send it (test vectors of pion/rtcp, transport_layer_cc_test.go).
ONE_PACKET = bytes.fromhex("afcd0005 fa17fa17 43032fa0 00990001 3de80217 20019401")
SEVEN_PACKETS = bytes.fromhex("afcd0007 fa17fa17 193dd8bb 00040007 10636e01 20074c24 24100c0c 10000003")
# A two-bit vector, then a run of "not received" longer than the status count (Chromium pads the last run).
LONG_LAST_RUN = bytes.fromhex("afcd0007 9b74f61f 9371dcbc 853c0009 63f916b3 d5520030 9baa6aaa 7b010901")


def feedback(base: int, statuses: Sequence[int | None], reference: int = 100, count: int = 0) -> TransportFeedback:
    """Feedback for consecutive sequences from `base`; each status a delta in µs, None = lost."""
    packets = tuple(PacketStatus((base + i) & 0xFFFF, delta is not None, delta) for i, delta in enumerate(statuses))
    return TransportFeedback(0x1234, 0x5678, base & 0xFFFF, count, reference, packets)


def chunks(packet: bytes, n: int) -> list[int]:
    return [int.from_bytes(packet[20 + 2 * i : 22 + 2 * i], "big") for i in range(n)]


def test_sequence_extension_is_two_bytes_big_endian_and_wraps() -> None:
    assert URI == "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    assert encode_sequence(0x1234) == b"\x12\x34"
    assert encode_sequence(0x10001) == b"\x00\x01"
    assert decode_sequence(encode_sequence(65535)) == 65535
    with pytest.raises(ValueError, match="2 bytes"):
        decode_sequence(b"\x01")


def test_browser_packets_parse_and_serialize_back_byte_for_byte() -> None:
    one = parse_feedback(ONE_PACKET)
    assert (one.sender_ssrc, one.media_ssrc, one.base_sequence) == (4195875351, 1124282272, 153)
    assert (one.reference_time, one.feedback_count) == (4057090, 23)
    assert one.packets == (PacketStatus(153, True, 37000),)
    seven = parse_feedback(SEVEN_PACKETS)
    assert [p.delta_us for p in seven.packets] == [19000, 9000, 9000, 4000, 3000, 3000, 4000]
    assert serialize_feedback(one) == ONE_PACKET
    assert serialize_feedback(seven) == SEVEN_PACKETS


def test_a_last_run_longer_than_the_status_count_is_cut_to_the_count() -> None:
    fb = parse_feedback(LONG_LAST_RUN)
    assert len(fb.packets) == 9
    assert [p.received for p in fb.packets] == [True] * 5 + [False, True, False, False]
    assert [p.delta_us for p in fb.packets if p.received] == [38750, 42500, 26500, 42500, 30750, 66250]
    assert parse_feedback(serialize_feedback(fb)) == fb


def test_uniform_statuses_become_one_run_length_chunk() -> None:
    packet = serialize_feedback(feedback(10, [1000] * 300))
    assert chunks(packet, 1) == [(1 << 13) | 300]
    assert parse_feedback(packet) == feedback(10, [1000] * 300)


def test_mixed_small_and_lost_become_one_bit_vectors() -> None:
    statuses: list[int | None] = [500, None, 750, 0, None, None, 250] * 2
    packet = serialize_feedback(feedback(7, statuses))
    (chunk,) = chunks(packet, 1)
    assert chunk & 0xC000 == 0x8000
    assert chunk == 0b1_0_10110011011001
    assert parse_feedback(packet) == feedback(7, statuses)


def test_large_and_negative_deltas_use_two_bit_vectors_and_two_bytes() -> None:
    statuses: list[int | None] = [250, -250, 64_000, None, 8_191_750, -8_192_000, 0, 1000]
    packet = serialize_feedback(feedback(1, statuses))
    first, second = chunks(packet, 2)
    assert first & 0xC000 == 0xC000 and first == 0b11_01_10_10_00_10_10_01
    assert second == (1 << 13) | 1  # the one left over: a run of one small delta
    assert parse_feedback(packet) == feedback(1, statuses)


def test_a_long_run_then_a_large_delta_keeps_the_run() -> None:
    statuses = [1000] * 10 + [-1000] + [1000] * 3
    packet = serialize_feedback(feedback(0, statuses))
    assert chunks(packet, 2) == [(1 << 13) | 10, 0b11_10_01_01_01_00_00_00]
    assert parse_feedback(packet) == feedback(0, statuses)


def test_sequences_wrap_within_one_feedback() -> None:
    fb = feedback(65533, [250, None, 500, 750, 1000])
    parsed = parse_feedback(serialize_feedback(fb))
    assert [p.sequence for p in parsed.packets] == [65533, 65534, 65535, 0, 1]
    assert parsed == fb


def test_negative_reference_time_round_trips() -> None:
    fb = feedback(0, [250], reference=-(1 << 23))
    assert parse_feedback(serialize_feedback(fb)).reference_time == -(1 << 23)


def test_serialize_refuses_what_the_format_cannot_say() -> None:
    with pytest.raises(ValueError, match="multiples of 250"):
        serialize_feedback(feedback(0, [100]))
    with pytest.raises(ValueError, match="16 signed bits"):
        serialize_feedback(feedback(0, [8_192_250]))
    with pytest.raises(ValueError, match=r"1\.\.8192"):
        serialize_feedback(feedback(0, []))
    with pytest.raises(ValueError, match="24 signed bits"):
        serialize_feedback(feedback(0, [250], reference=1 << 23))
    gap = TransportFeedback(1, 2, 5, 0, 0, (PacketStatus(5, True, 250), PacketStatus(7, True, 250)))
    with pytest.raises(ValueError, match="expected 6"):
        serialize_feedback(gap)


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"", "at least 20 bytes"),
        (bytes.fromhex("4fcd0004") + bytes(16), "version must be 2"),
        (bytes.fromhex("8fc90004") + bytes(16), "not transport feedback"),
        (ONE_PACKET[:-4], "length field"),
        (bytes.fromhex("afcd0004") + bytes(15) + b"\xff", "padding"),
        (bytes.fromhex("8fcd0004") + bytes(16), r"status count must be 1\.\.8192"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00000001 00000000 00000000"), "end after 0 of 1"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00000002 00000000 20010000"), "end after 1 of 2"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00000001 00000000 60010000"), "reserved status symbol"),
        (bytes.fromhex("afcd0005 00000001 00000002 00000001 00000000 40010002"), "receive deltas end"),
        (bytes.fromhex("8fcd0006 00000001 00000002 00000001 00000000 20010100 00000000"), "bytes left after"),
    ],
)
def test_malformed_feedback_is_refused_with_a_reason(packet: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_feedback(packet)


def test_a_hostile_status_count_is_refused_before_anything_is_built() -> None:
    # Eight run-length chunks could claim 65535 statuses in 16 bytes.
    body = struct.pack("!IIHHI", 1, 2, 0, 0xFFFF, 0) + bytes.fromhex("1fff") * 8 + bytes(4)
    packet = struct.pack("!BBH", 0x8F, 205, (4 + len(body)) // 4 - 1) + body
    with pytest.raises(ValueError, match=rf"1\.\.{MAX_PACKET_STATUS_COUNT}"):
        parse_feedback(packet)


def test_compound_rtcp_yields_only_the_transport_feedback() -> None:
    receiver_report = bytes.fromhex("80c90001 00000001")
    remb = bytes.fromhex("8fce0005 00000001 00000000 52454d42 01000000 00000001")
    compound = receiver_report + ONE_PACKET + remb + SEVEN_PACKETS
    assert list(iter_feedback(compound)) == [parse_feedback(ONE_PACKET), parse_feedback(SEVEN_PACKETS)]
    assert list(iter_feedback(receiver_report)) == []


@pytest.mark.parametrize(
    ("compound", "reason"),
    [
        (bytes.fromhex("80c90003 00000001"), "claims 16 bytes"),
        (bytes.fromhex("80c90001 00000001 80"), "stray bytes"),
        (bytes.fromhex("00c90001 00000001"), "version must be 2"),
    ],
)
def test_compound_rtcp_with_a_broken_length_is_refused(compound: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        list(iter_feedback(compound))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_value_error(data: bytes) -> None:
    for packet in (data, bytes.fromhex("8fcd") + len(data).to_bytes(2, "big")[:2] + data):
        try:
            parse_feedback(packet)
        except ValueError:
            pass
        try:
            list(iter_feedback(packet))
        except ValueError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=16, max_size=200))
def test_random_bodies_behind_a_valid_header_raise_only_value_error(body: bytes) -> None:
    body = body[: len(body) // 4 * 4]
    packet = struct.pack("!BBH", 0x8F, 205, len(body) // 4) + body
    try:
        parse_feedback(packet)
    except ValueError:
        pass


statuses = st.lists(
    st.one_of(
        st.none(),
        st.integers(0, 255).map(lambda t: t * 250),
        st.integers(-0x8000, 0x7FFF).map(lambda t: t * 250),
    ),
    min_size=1,
    max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 0xFFFF),
    statuses,
    st.integers(-(1 << 23), (1 << 23) - 1),
    st.integers(0, 255),
    st.integers(0, 0xFFFFFFFF),
)
def test_serialize_then_parse_is_identity(
    base: int, deltas: list[int | None], reference: int, count: int, ssrc: int
) -> None:
    fb = feedback(base, deltas, reference, count)
    fb = TransportFeedback(ssrc, fb.media_ssrc, fb.base_sequence, count, reference, fb.packets)
    packet = serialize_feedback(fb)
    assert len(packet) % 4 == 0
    assert parse_feedback(packet) == fb


def test_history_reports_arrivals_on_the_receivers_clock() -> None:
    history = SendHistory()
    sent = [history.send(1200, 10.0 + i * 0.001) for i in range(3)]
    assert history.in_flight_bytes() == 3600
    results = history.on_feedback(feedback(0, [1000, None, 2500], reference=2), now=10.05)
    base = 2 * 0.064
    assert results == [
        PacketResult(sent[0], pytest.approx(base + 0.001)),
        PacketResult(sent[1], None),
        PacketResult(sent[2], pytest.approx(base + 0.0035)),
    ]
    assert history.in_flight_bytes() == 0


def test_history_ignores_duplicated_feedback_and_reports_a_late_arrival_once() -> None:
    history = SendHistory()
    sent = [history.send(1000, i * 0.001) for i in range(2)]
    first = feedback(0, [1000, None])
    assert len(history.on_feedback(first, now=0.05)) == 2
    assert history.on_feedback(first, now=0.06) == []
    late = history.on_feedback(feedback(1, [4000], reference=100), now=0.07)
    assert late == [PacketResult(sent[1], pytest.approx(6.4 + 0.004))]
    assert history.on_feedback(feedback(1, [4000], reference=100), now=0.08) == []


def test_history_unwraps_sequences_across_65536() -> None:
    history = SendHistory()
    # Skip ahead without sending 65k packets: record() takes any increasing sequence.
    start = 65_534
    packets = [SentPacket(start + i, (start + i) & 0xFFFF, i * 0.001, 500) for i in range(4)]
    for packet in packets:
        history.record(packet)
    results = history.on_feedback(feedback(start, [250, 250, 250, 250]), now=0.01)
    assert [r.sent.sequence for r in results] == [65_534, 65_535, 65_536, 65_537]
    assert [r.sent.wire_sequence for r in results] == [65_534, 65_535, 0, 1]


def test_history_ignores_unknown_and_expired_sequences_and_stays_bounded() -> None:
    history = SendHistory(max_age=2.0, max_packets=100)
    for i in range(300):
        history.send(1000, i * 0.01)
    assert history.in_flight_bytes() == 100 * 1000
    assert history.on_feedback(feedback(0, [250] * 50), now=3.0) == []  # long forgotten
    assert history.on_feedback(feedback(5000, [250] * 10), now=3.0) == []  # never sent
    history.send(1000, 10.0)
    assert history.in_flight_bytes() == 1000  # older than 2 s: dropped with their in-flight bytes


def test_history_unwraps_the_reference_time() -> None:
    history = SendHistory()
    a = history.send(100, 0.0)
    b = history.send(100, 0.01)
    top = (1 << 23) - 1
    first = history.on_feedback(feedback(0, [0], reference=top), now=0.1)
    second = history.on_feedback(feedback(1, [0], reference=-(1 << 23)), now=0.2)  # one unit later, wrapped
    assert first == [PacketResult(a, pytest.approx(top * 0.064))]
    assert second == [PacketResult(b, pytest.approx((top + 1) * 0.064))]


def test_history_refuses_sequences_that_go_backwards() -> None:
    history = SendHistory()
    history.send(100, 0.0)
    with pytest.raises(ValueError, match="not newer"):
        history.record(SentPacket(0, 0, 0.1, 100))
    with pytest.raises(ValueError, match="mod 2"):
        history.record(SentPacket(70_000, 5, 0.1, 100))
