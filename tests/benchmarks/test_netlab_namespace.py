"""The lab's namespaces: created and always removed, isolated, and the tbf cap really caps UDP."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from benchmarks.netlab.namespace import Lab, lab_namespaces, lab_unavailable, network_lab

pytestmark = pytest.mark.skipif(lab_unavailable() is not None, reason=lab_unavailable() or "")


def _udp_socket(lab: Lab, namespace: str, bind: tuple[str, int]) -> socket.socket:
    with lab.entered(namespace):  # a socket belongs to the namespace it was made in
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(bind)
    return sock


def _throughput_bps(lab: Lab, offered_bps: int, seconds: float = 1.6, settle: float = 0.4) -> float:
    """Offer `offered_bps` of 1,200-byte datagrams client -> server; the rate received after `settle`."""
    receiver = _udp_socket(lab, lab.server, (lab.server_address, 0))
    sender = _udp_socket(lab, lab.client, (lab.client_address, 0))
    sender.setblocking(False)
    receiver.settimeout(0.3)
    arrivals: list[tuple[float, int]] = []

    def receive() -> None:
        while True:
            try:
                data = receiver.recv(2048)
            except TimeoutError:
                return
            arrivals.append((time.monotonic(), len(data)))

    thread = threading.Thread(target=receive)
    thread.start()
    payload = b"x" * 1200
    interval = len(payload) * 8 / offered_bps
    start = time.monotonic()
    sent = 0
    try:
        while (now := time.monotonic()) < start + seconds:
            while sent * interval <= now - start:
                try:
                    sender.sendto(payload, receiver.getsockname())
                except BlockingIOError:
                    pass  # the qdisc's queue is full: dropped, as the link would
                sent += 1
            time.sleep(interval / 2)
    finally:
        thread.join(5)
        sender.close()
        receiver.close()
    window = [n for at, n in arrivals if start + settle <= at < start + seconds]
    # Bytes on the wire: payload + UDP/IP/Ethernet headers.
    return sum(n + 42 for n in window) * 8 / (seconds - settle)


def test_the_namespaces_come_up_linked_and_are_removed_after() -> None:
    with network_lab() as lab:
        assert {lab.client, lab.server} <= set(lab_namespaces())
        assert _throughput_bps(lab, 2_000_000, seconds=0.6, settle=0.1) > 1_000_000
        routes = subprocess.run(
            ["ip", "-n", lab.client, "route", "show", "default"], capture_output=True, text=True, check=True
        )
        assert routes.stdout.strip() == ""  # no way out of the lab
    assert not {lab.client, lab.server} & set(lab_namespaces())


def test_the_namespaces_are_removed_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), network_lab() as lab:
        raise RuntimeError("boom")
    assert not {lab.client, lab.server} & set(lab_namespaces())


def test_the_tbf_cap_caps_udp_and_can_be_changed_live() -> None:
    with network_lab() as lab:
        lab.set_rate(4_000_000)
        assert "rate 4Mbit" in lab.qdisc(lab.client, lab.client_if)
        capped = _throughput_bps(lab, 12_000_000)
        lab.set_rate(8_000_000)
        raised = _throughput_bps(lab, 12_000_000)
        lab.set_rate(None)
        assert "tbf" not in lab.qdisc(lab.client, lab.client_if)
    assert 3_000_000 <= capped <= 5_000_000
    assert 6_000_000 <= raised <= 10_000_000


def test_entering_a_namespace_that_does_not_exist_is_an_error() -> None:
    with network_lab() as lab:
        gone = Lab("nsk-none-c", "nsk-none-s", lab.client_if, lab.server_if)
        with pytest.raises(FileNotFoundError), gone.entered(gone.client):
            pass
