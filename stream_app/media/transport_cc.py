"""Transport-wide congestion control, sender side: number packets, remember them, read the feedback.

Every RTP packet the sender sends carries a transport-wide sequence number (one 16-bit counter for
all streams) in the header extension named by `URI`; `SendHistory` remembers when each was sent
and how big it was, and turns the receiver's RTCP transport feedback (`transport_feedback`) into
`PacketResult`s, send time beside arrival time, which the rate controller reads. Pure: the clock
is passed in (seconds, monotonic), nothing here touches a socket.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from stream_app.media.transport_feedback import (
    REFERENCE_TIME_UNIT_US,
    PacketStatus,
    TransportFeedback,
    iter_feedback,
    parse_feedback,
    serialize_feedback,
)

__all__ = [
    "URI",
    "PacketResult",
    "PacketStatus",
    "SendHistory",
    "SentPacket",
    "TransportFeedback",
    "decode_sequence",
    "encode_sequence",
    "iter_feedback",
    "parse_feedback",
    "serialize_feedback",
]

URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

_REFERENCE_PERIOD_US = (1 << 24) * REFERENCE_TIME_UNIT_US  # the 24-bit reference time wraps after ~18 min


def encode_sequence(seq: int) -> bytes:
    """The header extension's 2 bytes for transport-wide sequence number `seq` (taken modulo 2^16)."""
    return (seq & 0xFFFF).to_bytes(2, "big")


def decode_sequence(data: bytes) -> int:
    """The 16-bit sequence number in a header extension value."""
    if len(data) != 2:
        raise ValueError(f"transport-wide sequence extension must be 2 bytes, got {len(data)}")
    return int.from_bytes(data, "big")


@dataclass(frozen=True)
class SentPacket:
    """One RTP packet as sent: `sequence` counts from 0 without wrapping, `wire_sequence` is its low 16 bits.

    `size` is the whole RTP packet (headers included) in bytes; `probe_cluster` the id of the
    probe it was sent for, if any.
    """

    sequence: int
    wire_sequence: int
    send_time: float
    size: int
    probe_cluster: int | None = None


@dataclass(frozen=True)
class PacketResult:
    """What the feedback said of one sent packet: its arrival on the receiver's clock (s), None if lost."""

    sent: SentPacket
    arrival: float | None


_UNREPORTED, _LOST, _RECEIVED = 0, 1, 2


class SendHistory:
    """The packets sent recently, by transport sequence, until feedback reports them or they age out.

    Memory is bounded: a packet older than `max_age` seconds, or beyond the newest `max_packets`,
    is forgotten (feedback for it is then ignored). `max_packets` stays below half the 16-bit
    sequence space so a wire sequence always names one packet. The default age lets feedback
    through a queue of a few seconds still count, since that is when the estimator needs it most.
    """

    def __init__(self, max_age: float = 3.0, max_packets: int = 16_384) -> None:
        if not 0 < max_packets <= 1 << 15:
            raise ValueError(f"max_packets must be 1..32768, got {max_packets}")
        self._max_age = max_age
        self._max_packets = max_packets
        self._order: deque[int] = deque()
        self._packets: dict[int, SentPacket] = {}
        self._state: dict[int, int] = {}
        self._next = 0
        self._in_flight = 0
        self._reference_us: int | None = None

    def send(self, size: int, now: float, probe_cluster: int | None = None) -> SentPacket:
        """Number and record the next packet; write `encode_sequence(p.wire_sequence)` into it."""
        packet = SentPacket(self._next, self._next & 0xFFFF, now, size, probe_cluster)
        self.record(packet)
        return packet

    def record(self, packet: SentPacket) -> None:
        """Remember a packet numbered elsewhere (sequences must increase)."""
        if packet.sequence < self._next:
            raise ValueError(f"sequence {packet.sequence} is not newer than {self._next - 1}")
        if packet.wire_sequence != packet.sequence & 0xFFFF:
            raise ValueError(f"wire sequence {packet.wire_sequence} is not sequence {packet.sequence} mod 2^16")
        self._next = packet.sequence + 1
        self._order.append(packet.sequence)
        self._packets[packet.sequence] = packet
        self._state[packet.sequence] = _UNREPORTED
        self._in_flight += packet.size
        self._expire(packet.send_time)

    def in_flight_bytes(self) -> int:
        """Bytes sent and not yet reported (received or lost) by feedback, among those remembered."""
        return self._in_flight

    def on_feedback(self, fb: TransportFeedback, now: float) -> list[PacketResult]:
        """The results a feedback packet newly tells, in sequence order.

        A packet already reported received is not reported again (duplicated feedback); one
        reported lost and later received is reported again with its arrival. Statuses for
        sequences not remembered (never sent, or expired) are ignored.
        """
        self._expire(now)
        reference_us = self._unwrap_reference(fb.reference_time * REFERENCE_TIME_UNIT_US)
        arrival_us = reference_us
        results: list[PacketResult] = []
        for status in fb.packets:
            if status.received and status.delta_us is not None:
                arrival_us += status.delta_us
            sequence = self._unwrap(status.sequence)
            state = self._state.get(sequence)
            if state is None or state == _RECEIVED or (state == _LOST and not status.received):
                continue
            if state == _UNREPORTED:
                self._in_flight -= self._packets[sequence].size
            self._state[sequence] = _RECEIVED if status.received else _LOST
            arrival = arrival_us / 1e6 if status.received else None
            results.append(PacketResult(self._packets[sequence], arrival))
        return results

    def _unwrap(self, wire: int) -> int:
        newest = self._next - 1
        return newest - ((newest - wire) & 0xFFFF)

    def _unwrap_reference(self, reference_us: int) -> int:
        if self._reference_us is not None:
            # The nearest copy of the reference time, modulo its wrap period, to the previous one.
            offset = (reference_us - self._reference_us) % _REFERENCE_PERIOD_US
            if offset >= _REFERENCE_PERIOD_US // 2:
                offset -= _REFERENCE_PERIOD_US
            reference_us = self._reference_us + offset
        self._reference_us = reference_us
        return reference_us

    def _expire(self, now: float) -> None:
        while self._order:
            oldest = self._order[0]
            packet = self._packets[oldest]
            if len(self._order) <= self._max_packets and packet.send_time >= now - self._max_age:
                break
            self._order.popleft()
            if self._state.pop(oldest) == _UNREPORTED:
                self._in_flight -= packet.size
            del self._packets[oldest]
