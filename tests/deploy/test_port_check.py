"""Ports picked for servers lie outside the kernel's ephemeral range and are free when handed out."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from benchmarks.ports import free_ports, free_udp_port_range
from deploy.nvcf_local.deployment import PortBook
from deploy.port_check import ephemeral_range, is_port_free, outside_ephemeral


def test_the_ephemeral_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("40000\t50000\n")
    assert ephemeral_range(str(ranges)) == (40000, 50000)


def test_an_unreadable_range_falls_back_to_linux_default(tmp_path: Path) -> None:
    assert ephemeral_range(str(tmp_path / "missing")) == (32768, 60999)
    garbled = tmp_path / "garbled"
    garbled.write_text("many\n")
    assert ephemeral_range(str(garbled)) == (32768, 60999)


def test_outside_ephemeral_includes_both_ends_of_the_range() -> None:
    assert not outside_ephemeral(32768, (32768, 60999))
    assert not outside_ephemeral(60999, (32768, 60999))
    assert outside_ephemeral(32767, (32768, 60999))
    assert outside_ephemeral(61000, (32768, 60999))


def test_free_ports_are_distinct_outside_the_ephemeral_range_and_bindable() -> None:
    ephemeral = ephemeral_range()
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        assert outside_ephemeral(port, ephemeral)
        assert is_port_free("127.0.0.1", port, socket.SOCK_STREAM)
        assert is_port_free("127.0.0.1", port, socket.SOCK_DGRAM)


def test_a_udp_range_is_consecutive_and_outside_the_ephemeral_range() -> None:
    ephemeral = ephemeral_range()
    first, last = free_udp_port_range(5)
    assert last - first == 4
    assert all(outside_ephemeral(port, ephemeral) for port in range(first, last + 1))


def test_the_port_book_gives_neither_a_port_of_an_instance_nor_one_another_socket_holds() -> None:
    held, given, free = free_ports(3)
    book = PortBook(taken={given})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        listening.bind(("127.0.0.1", held))
        listening.listen()
        for port in (held, given):
            book.span = (port, port)
            with pytest.raises(RuntimeError, match=f"{port}-{port}"):
                book.fresh("127.0.0.1")
    book.span = (free, free)
    assert book.fresh("127.0.0.1") == free
