"""RTCP transport feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01): parse and serialize.

The sender numbers every RTP packet it sends (all streams share one 16-bit counter, see
`transport_cc`); the receiver answers with RTCP transport feedback (RTPFB, PT 205, FMT 15) saying,
for a run of those numbers, which packets arrived and when, in 250 µs ticks relative to a 24-bit
reference time in 64 ms units::

    |V=2|P| FMT=15 |  PT=205  |  length  |
    | SSRC of packet sender              |
    | SSRC of media source               |
    | base sequence | packet status count|
    | reference time (24) | fb pkt count |
    | packet chunks (16 bits each) ...   |
    | receive deltas (1 or 2 bytes) ...  |  zero padding to 32 bits

A chunk is a run length (``0 SS length:13``, one status repeated) or a status vector of 14 one-bit
symbols (``1 0 ...``: not received / small delta) or 7 two-bit symbols (``1 1 ...``: 00 not
received, 01 small delta 0..63.75 ms in one unsigned byte, 10 large or negative delta in two signed
bytes, 11 reserved). Pure: no sockets, no aiortc.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

RTPFB = 205
FMT_TRANSPORT_FEEDBACK = 15
TICK_US = 250
REFERENCE_TIME_UNIT_US = 64_000
# A feedback packet may claim up to 65535 statuses in a few bytes (run-length chunks), so the
# parser refuses more than this: Chromium reports each 50-250 ms, which at 20 Mbit/s of 1200-byte
# packets is a few hundred statuses; 8192 leaves room for a long outage reported as lost.
MAX_PACKET_STATUS_COUNT = 8192

_NOT_RECEIVED, _SMALL, _LARGE = 0, 1, 2
_RUN_LENGTH_MAX = 0x1FFF
_ONE_BIT_CAPACITY = 14
_TWO_BIT_CAPACITY = 7
_HEADER = struct.Struct("!BBHIIHHI")  # common header, SSRCs, base, count, reference time | fb count


@dataclass(frozen=True)
class PacketStatus:
    """One reported packet: its 16-bit transport sequence and, if received, its receive delta.

    `delta_us` is the arrival time minus the previous received packet's in this feedback (the
    first one's: minus the reference time), a multiple of 250 µs; None when not received.
    """

    sequence: int
    received: bool
    delta_us: int | None = None


@dataclass(frozen=True)
class TransportFeedback:
    """One RTCP transport feedback packet, as the receiver reports it."""

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    feedback_count: int
    reference_time: int  # 24-bit signed, 64 ms units, on the receiver's clock
    packets: tuple[PacketStatus, ...]


def _symbol(status: PacketStatus) -> int:
    if not status.received:
        return _NOT_RECEIVED
    ticks = _ticks(status)
    return _SMALL if 0 <= ticks <= 0xFF else _LARGE


def _ticks(status: PacketStatus) -> int:
    if status.delta_us is None or status.delta_us % TICK_US:
        raise ValueError(f"packet {status.sequence}: a received packet needs a delta in multiples of {TICK_US} µs")
    ticks = status.delta_us // TICK_US
    if not -0x8000 <= ticks <= 0x7FFF:
        raise ValueError(f"packet {status.sequence}: delta {status.delta_us} µs does not fit in 16 signed bits")
    return ticks


class _ChunkBuilder:
    """Packs status symbols into chunks with libwebrtc's greedy rule, so our packets look like Chromium's.

    A chunk grows while it can: any symbol fits while it holds fewer than 7; up to 14 fit while none
    is a large delta (a one-bit vector); any number up to 8191 while all are the same (a run). When
    the next symbol does not fit, a uniform chunk becomes a run, 14 symbols a one-bit vector, and
    otherwise the first 7 a two-bit vector, the rest staying for the next chunk.
    """

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.all_same = True
        self.has_large = False

    def _fits(self, symbol: int) -> bool:
        size = len(self.pending)
        if size < _TWO_BIT_CAPACITY:
            return True
        if size < _ONE_BIT_CAPACITY and not self.has_large and symbol != _LARGE:
            return True
        return self.all_same and size < _RUN_LENGTH_MAX and symbol == self.pending[0]

    def _take(self, symbols: list[int]) -> None:
        self.pending = symbols
        self.all_same = all(s == symbols[0] for s in symbols)
        self.has_large = _LARGE in symbols

    def add(self, symbol: int) -> int | None:
        """Add one symbol; return a finished chunk if one had to be emitted to make room."""
        chunk = None
        if not self._fits(symbol):
            chunk = self._emit()
        if self.pending:
            self.all_same = self.all_same and symbol == self.pending[0]
        self.has_large = self.has_large or symbol == _LARGE
        self.pending.append(symbol)
        return chunk

    def _emit(self) -> int:
        symbols = self.pending
        if self.all_same:
            chunk = _run_length(symbols[0], len(symbols))
            self._take([])
        elif len(symbols) == _ONE_BIT_CAPACITY:
            chunk = _one_bit(symbols)
            self._take([])
        else:
            chunk = _two_bit(symbols[:_TWO_BIT_CAPACITY])
            self._take(symbols[_TWO_BIT_CAPACITY:])
        return chunk

    def last(self) -> int | None:
        """The final chunk for what is pending (None if nothing is)."""
        symbols = self.pending
        if not symbols:
            return None
        if self.all_same:
            return _run_length(symbols[0], len(symbols))
        return _two_bit(symbols) if len(symbols) <= _TWO_BIT_CAPACITY else _one_bit(symbols)


def _run_length(symbol: int, run: int) -> int:
    return (symbol << 13) | run


def _one_bit(symbols: list[int]) -> int:
    return 0x8000 | sum(s << (13 - i) for i, s in enumerate(symbols))


def _two_bit(symbols: list[int]) -> int:
    return 0xC000 | sum(s << (2 * (6 - i)) for i, s in enumerate(symbols))


def _chunks(symbols: list[int]) -> list[int]:
    builder = _ChunkBuilder()
    chunks = [c for c in map(builder.add, symbols) if c is not None]
    last = builder.last()
    return chunks if last is None else [*chunks, last]


def serialize_feedback(fb: TransportFeedback) -> bytes:
    """One RTCP transport feedback packet, chunked as Chromium does, padded (P bit set) to 32 bits."""
    if not 1 <= len(fb.packets) <= MAX_PACKET_STATUS_COUNT:
        raise ValueError(f"feedback must report 1..{MAX_PACKET_STATUS_COUNT} packets, got {len(fb.packets)}")
    if not -(1 << 23) <= fb.reference_time < (1 << 23):
        raise ValueError(f"reference time {fb.reference_time} does not fit in 24 signed bits")
    for i, status in enumerate(fb.packets):
        if status.sequence != (fb.base_sequence + i) & 0xFFFF:
            raise ValueError(f"packet {i} has sequence {status.sequence}, expected {(fb.base_sequence + i) & 0xFFFF}")
    symbols = [_symbol(s) for s in fb.packets]
    body = bytearray()
    for chunk in _chunks(symbols):
        body += chunk.to_bytes(2, "big")
    for status, symbol in zip(fb.packets, symbols, strict=True):
        if symbol == _SMALL:
            body.append(_ticks(status))
        elif symbol == _LARGE:
            body += _ticks(status).to_bytes(2, "big", signed=True)
    padding = -(len(body) + _HEADER.size) % 4
    if padding:
        body += bytes(padding - 1) + bytes([padding])
    words = (_HEADER.size + len(body)) // 4 - 1
    header = _HEADER.pack(
        0x80 | (0x20 if padding else 0) | FMT_TRANSPORT_FEEDBACK,
        RTPFB,
        words,
        fb.sender_ssrc,
        fb.media_ssrc,
        fb.base_sequence,
        len(fb.packets),
        ((fb.reference_time & 0xFFFFFF) << 8) | fb.feedback_count,
    )
    return header + bytes(body)


def _symbols(chunks: bytes, offset: int, count: int) -> tuple[list[int], int]:
    """Decode chunks from `offset` until `count` symbols; return them and the offset after the chunks."""
    symbols: list[int] = []
    while len(symbols) < count:
        if offset + 2 > len(chunks):
            raise ValueError(f"packet chunks end after {len(symbols)} of {count} statuses")
        chunk = int.from_bytes(chunks[offset : offset + 2], "big")
        offset += 2
        left = count - len(symbols)
        if not chunk & 0x8000:
            symbol = (chunk >> 13) & 0x3
            # A run may be longer than the statuses left (cut, as libwebrtc does) or empty (skipped).
            symbols += [symbol] * min(chunk & _RUN_LENGTH_MAX, left)
        elif not chunk & 0x4000:
            symbols += [(chunk >> (13 - i)) & 0x1 for i in range(min(_ONE_BIT_CAPACITY, left))]
        else:
            symbols += [(chunk >> (2 * (6 - i))) & 0x3 for i in range(min(_TWO_BIT_CAPACITY, left))]
    if 3 in symbols:
        raise ValueError(f"reserved status symbol 3 for packet {symbols.index(3)}")
    return symbols, offset


def parse_feedback(packet: bytes) -> TransportFeedback:
    """Parse one whole RTCP transport feedback packet; any malformed input raises ValueError."""
    if len(packet) < _HEADER.size:
        raise ValueError(f"transport feedback needs at least {_HEADER.size} bytes, got {len(packet)}")
    first, pt, words, sender, media, base, count, ref = _HEADER.unpack_from(packet)
    if first >> 6 != 2:
        raise ValueError(f"RTCP version must be 2, got {first >> 6}")
    if pt != RTPFB or first & 0x1F != FMT_TRANSPORT_FEEDBACK:
        raise ValueError(f"not transport feedback (PT {pt}, FMT {first & 0x1F}; want {RTPFB}, 15)")
    if (words + 1) * 4 != len(packet):
        raise ValueError(f"RTCP length field says {(words + 1) * 4} bytes, packet has {len(packet)}")
    end = len(packet)
    if first & 0x20:
        padding = packet[-1]
        if padding == 0 or padding > end - _HEADER.size:
            raise ValueError(f"bad RTCP padding count {padding}")
        end -= padding
    if not 1 <= count <= MAX_PACKET_STATUS_COUNT:
        raise ValueError(f"packet status count must be 1..{MAX_PACKET_STATUS_COUNT}, got {count}")
    body = packet[:end]
    symbols, offset = _symbols(body, _HEADER.size, count)
    statuses: list[PacketStatus] = []
    for i, symbol in enumerate(symbols):
        sequence = (base + i) & 0xFFFF
        if symbol == _NOT_RECEIVED:
            statuses.append(PacketStatus(sequence, False))
            continue
        size = 1 if symbol == _SMALL else 2
        if offset + size > end:
            raise ValueError(f"receive deltas end before packet {sequence}")
        ticks = int.from_bytes(body[offset : offset + size], "big", signed=size == 2)
        offset += size
        statuses.append(PacketStatus(sequence, True, ticks * TICK_US))
    if end - offset > 3:
        raise ValueError(f"{end - offset} bytes left after the receive deltas")
    reference = ref >> 8
    if reference & 0x800000:
        reference -= 1 << 24
    return TransportFeedback(sender, media, base, ref & 0xFF, reference, tuple(statuses))


def iter_feedback(compound: bytes) -> Iterator[TransportFeedback]:
    """Yield the transport feedback packets of a compound RTCP datagram, skipping its other packets."""
    offset = 0
    while offset < len(compound):
        if offset + 4 > len(compound):
            raise ValueError(f"{len(compound) - offset} stray bytes at the end of a compound RTCP packet")
        first, pt, words = struct.unpack_from("!BBH", compound, offset)
        if first >> 6 != 2:
            raise ValueError(f"RTCP version must be 2, got {first >> 6} at byte {offset}")
        size = (words + 1) * 4
        if offset + size > len(compound):
            raise ValueError(f"RTCP packet at byte {offset} claims {size} bytes, only {len(compound) - offset} left")
        if pt == RTPFB and first & 0x1F == FMT_TRANSPORT_FEEDBACK:
            yield parse_feedback(compound[offset : offset + size])
        offset += size
