"""Binding UDP sockets inside the media port range."""

import socket
from collections.abc import Iterator

import pytest

from stream_app.ports import PortRange, PortRangeError, PortRangeExhausted, bind_udp


def _free_udp_block(size: int) -> PortRange:
    """A block of consecutive UDP ports that are free right now, away from the NVCF range."""
    for first in range(40000, 46000, size):
        socks = []
        try:
            for port in range(first, first + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return PortRange(first, first + size - 1)
    raise RuntimeError("no free block of UDP ports")


@pytest.fixture
def block() -> Iterator[PortRange]:
    yield _free_udp_block(3)


def test_parse_reads_first_and_last() -> None:
    assert PortRange.parse("47998-48020") == PortRange(47998, 48020)
    assert len(PortRange.parse("47998-48020")) == 23


def test_parse_accepts_a_single_port() -> None:
    assert PortRange.parse("5000") == PortRange(5000, 5000)


@pytest.mark.parametrize("text", ["", "a-b", "48020-47998", "0-10", "1-70000", "1-2-3"])
def test_parse_refuses_what_is_not_a_range(text: str) -> None:
    with pytest.raises(PortRangeError):
        PortRange.parse(text)


def test_binds_the_first_free_port(block: PortRange) -> None:
    sock = bind_udp("127.0.0.1", block)
    try:
        assert sock.getsockname() == ("127.0.0.1", block.first)
    finally:
        sock.close()


def test_skips_ports_in_use(block: PortRange) -> None:
    taken = bind_udp("127.0.0.1", block)
    second = bind_udp("127.0.0.1", block)
    try:
        assert second.getsockname()[1] == block.first + 1
    finally:
        taken.close()
        second.close()


def test_exhaustion_is_a_clear_error_and_never_an_os_chosen_port(block: PortRange) -> None:
    held = [bind_udp("127.0.0.1", block) for _ in range(len(block))]
    try:
        with pytest.raises(PortRangeExhausted, match=rf"no free UDP port in {block} on 127.0.0.1; 3 in use"):
            bind_udp("127.0.0.1", block)
    finally:
        for s in held:
            s.close()


def test_binds_ipv6_loopback(block: PortRange) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        sock = bind_udp("::1", block)
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    try:
        assert sock.family == socket.AF_INET6 and sock.getsockname()[1] in block
    finally:
        sock.close()


def test_skips_the_ports_to_avoid(block: PortRange) -> None:
    sock = bind_udp("127.0.0.1", block, avoid=(block.first,))
    try:
        assert sock.getsockname()[1] == block.first + 1
    finally:
        sock.close()


def test_exhaustion_counts_the_avoided_ports_apart(block: PortRange) -> None:
    held = bind_udp("127.0.0.1", block)
    try:
        with pytest.raises(PortRangeExhausted, match=rf"in {block} on 127.0.0.1; 1 in use, 2 avoided"):
            bind_udp("127.0.0.1", block, avoid=(block.first + 1, block.last))
    finally:
        held.close()


def test_shuffled_binding_stays_in_range_and_reaches_every_port(block: PortRange) -> None:
    seen: set[int] = set()
    for _ in range(60):  # each port is missed 60 times in a row with probability (2/3)^60
        sock = bind_udp("127.0.0.1", block, shuffled=True)
        seen.add(sock.getsockname()[1])
        sock.close()
    assert seen == set(range(block.first, block.last + 1))
