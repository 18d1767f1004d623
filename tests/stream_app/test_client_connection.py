"""Streaming sessions end to end between the stream app and a scripted WebRTC client, over real UDP."""

import asyncio
import json
import logging
import socket
import time

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from support.scripted_client import candidate_ports, negotiate, open_session, sign_in
from support.stream_app_harness import RunningStreamApp, running_stream_app

from deploy.coturn import RunningCoturn
from stream_app.creds import Creds
from stream_app.ice import TURN_DELETE_TIMEOUT
from stream_app.ports import PortRange

NVCF_RANGE = PortRange(47998, 48020)


async def _ready_status(http: aiohttp.ClientSession, app: RunningStreamApp) -> int:
    async with http.get(f"{app.control_url}/v1/streaming/ready") as response:
        return response.status


async def _wait_ready(http: aiohttp.ClientSession, app: RunningStreamApp, status: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _ready_status(http, app) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"ready never answered {status}")


async def test_session_delivers_stamped_frames_with_sub_second_latency(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    session = await open_session(http, app.sign_in_url)
    try:
        latencies = await session.latencies(30)
    finally:
        await session.close()
    assert len(latencies) == 30
    assert all(0 < latency < 1000 for latency in latencies), latencies


async def test_every_candidate_lies_in_the_port_range_on_the_configured_address(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    session = await open_session(http, app.sign_in_url)
    try:
        candidates = candidate_ports(session.answer_sdp)
    finally:
        await session.close()
    assert candidates
    assert all(host == "127.0.0.1" and port in NVCF_RANGE for host, port, _ in candidates), candidates


async def test_hello_lists_no_ice_servers_before_creds_arrive(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    ws, hello = await sign_in(http, app.sign_in_url)
    await ws.close()
    assert hello["iceServers"] == [] and hello["v"] == 1 and hello["sessionId"]


async def test_hello_lists_stun_and_turn_from_the_pushed_creds(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    await http.post(
        f"{app.control_url}/v1/streaming/creds",
        json={"stunIp": "127.0.0.1", "stunPort": 9, "username": "u", "password": "p"},
    )
    ws, hello = await sign_in(http, app.sign_in_url)
    await ws.close()
    assert hello["iceServers"] == Creds("127.0.0.1", 9, "u", "p").ice_servers()


async def test_ready_answers_500_during_a_session_and_200_after(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    assert await _ready_status(http, app) == 200
    ws, _ = await sign_in(http, app.sign_in_url)
    assert await _ready_status(http, app) == 500
    await ws.close()
    await _wait_ready(http, app, 200)


async def test_second_sign_in_is_refused_with_1013_while_a_session_runs(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    first, _ = await sign_in(http, app.sign_in_url)
    second = await http.ws_connect(app.sign_in_url)
    msg = await second.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013 and msg.extra == "stream app busy"
    assert not first.closed
    await first.close()


async def test_bad_messages_get_errors_and_the_session_goes_on(
    app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    ws, hello = await sign_in(http, app.sign_in_url)
    bad = [
        ("not json", "bad-json"),
        (json.dumps({"v": 7, "type": "offer", "sdp": ""}), "unsupported-version"),
        (json.dumps({"v": 1, "type": "launch"}), "unknown-type"),
        (
            json.dumps(
                {
                    "v": 1,
                    "type": "candidate",
                    "candidate": {
                        "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                        "sdpMid": "0",
                        "sdpMLineIndex": 0,
                    },
                }
            ),
            "bad-state",
        ),
        (json.dumps({"v": 1, "type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}), "bad-sdp"),
        (json.dumps({"v": 1, "type": "offer", "sdp": "m=video garbage"}), "bad-sdp"),
    ]
    for text, code in bad:
        await ws.send_str(text)
        reply = json.loads((await ws.receive(timeout=5)).data)
        assert (reply["type"], reply["code"]) == ("error", code), (text, reply)
    await ws.send_bytes(b"\x00\x01")
    assert json.loads((await ws.receive(timeout=5)).data)["code"] == "bad-message"
    session = await negotiate(ws, hello)
    try:
        await ws.send_str(json.dumps({"v": 1, "type": "candidate", "candidate": {"candidate": "candidate:garbage"}}))
        assert json.loads((await ws.receive(timeout=5)).data)["code"] == "bad-candidate"
        assert len(await session.latencies(10)) == 10
    finally:
        await session.close()


async def test_ports_are_released_when_the_session_ends(app: RunningStreamApp, http: aiohttp.ClientSession) -> None:
    session = await open_session(http, app.sign_in_url)
    await session.latencies(3)
    used = [port for _, port, kind in candidate_ports(session.answer_sdp) if kind == "host"]
    await session.close()
    await _wait_ready(http, app, 200)
    for port in used:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", port))
        finally:
            probe.close()


async def test_two_gathers_at_once_get_distinct_ports_in_a_two_port_range(http: aiohttp.ClientSession) -> None:
    tight = _free_block(2)
    async with running_stream_app(tight) as one, running_stream_app(tight) as two:
        first, second = await asyncio.gather(open_session(http, one.sign_in_url), open_session(http, two.sign_in_url))
        try:
            ports = {port for s in (first, second) for _, port, kind in candidate_ports(s.answer_sdp) if kind == "host"}
            assert ports == {tight.first, tight.last}
        finally:
            await first.close()
            await second.close()


async def test_exhausted_range_is_reported_to_the_client_and_closes_with_1013(http: aiohttp.ClientSession) -> None:
    tight = _free_block(1)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", tight.first))
    try:
        async with running_stream_app(tight) as app:
            ws, hello = await sign_in(http, app.sign_in_url)
            with pytest.raises(AssertionError):
                await negotiate(ws, hello)
            # negotiate() consumed the error reply; the close follows it.
            msg = await ws.receive(timeout=5)
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1013
            await _wait_ready(http, app, 200)
    finally:
        holder.close()


def _free_block(size: int) -> PortRange:
    """Consecutive UDP ports free on 127.0.0.1 right now, outside NVCF's range."""
    for first in range(41000, 46000, size):
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(size)]
        try:
            for offset, s in enumerate(socks):
                s.bind(("127.0.0.1", first + offset))
            return PortRange(first, first + size - 1)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP block")


async def test_relay_only_client_streams_through_coturn_and_the_turn_socket_is_in_range(
    coturn: RunningCoturn, app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    creds = {"stunIp": coturn.host, "stunPort": coturn.port, "username": coturn.user, "password": coturn.password}
    await http.post(f"{app.control_url}/v1/streaming/creds", json=creds)
    session = await open_session(http, app.sign_in_url, relay_only=True)
    try:
        latencies = await session.latencies(10)
        relay_lines = [line for line in session.answer_sdp.splitlines() if " typ relay " in line]
    finally:
        await session.close()
    assert all(0 < latency < 1000 for latency in latencies)
    # The server allocated its own relay; "rport" is the TURN client socket it bound.
    assert len(relay_lines) == 1, session.answer_sdp
    turn_client_port = int(relay_lines[0].split(" rport ")[1].split()[0])
    assert turn_client_port in NVCF_RANGE


async def test_a_vanished_turn_server_does_not_hold_up_the_end_of_a_session(
    coturn: RunningCoturn, app: RunningStreamApp, http: aiohttp.ClientSession
) -> None:
    creds = {"stunIp": coturn.host, "stunPort": coturn.port, "username": coturn.user, "password": coturn.password}
    await http.post(f"{app.control_url}/v1/streaming/creds", json=creds)
    ws, hello = await sign_in(http, app.sign_in_url)
    # The client skips TURN: only the stream app's own allocation is under test.
    session = await negotiate(ws, hello, use_ice_servers=False)
    await session.latencies(3)
    await coturn.stop()
    closed = time.monotonic()
    await session.close()
    await _wait_ready(http, app, 200, timeout=10)
    # aioice alone would retry the TURN deallocation for about 30 s.
    assert time.monotonic() - closed < TURN_DELETE_TIMEOUT + 2


async def test_hello_offers_turn_over_udp_and_tcp(app: RunningStreamApp, http: aiohttp.ClientSession) -> None:
    await http.post(
        f"{app.control_url}/v1/streaming/creds",
        json={"stunIp": "127.0.0.1", "stunPort": 3478, "username": "u", "password": "p"},
    )
    ws, hello = await sign_in(http, app.sign_in_url)
    await ws.close()
    turn = [s for s in hello["iceServers"] if any(u.startswith("turn:") for u in s["urls"])]
    assert turn == [
        {
            "urls": ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"],
            "username": "u",
            "credential": "p",
        }
    ]
    assert hello["iceTransportPolicy"] == "all"


async def test_relay_only_answers_with_relay_candidates_only_and_streams_through_coturn(
    coturn: RunningCoturn, http: aiohttp.ClientSession
) -> None:
    async with running_stream_app(relay_only=True) as app:
        creds = {"stunIp": coturn.host, "stunPort": coturn.port, "username": coturn.user, "password": coturn.password}
        await http.post(f"{app.control_url}/v1/streaming/creds", json=creds)
        ws, hello = await sign_in(http, app.sign_in_url)
        assert hello["iceTransportPolicy"] == "relay"
        session = await negotiate(ws, hello, relay_only=True)
        try:
            latencies = await session.latencies(5)
        finally:
            await session.close()
    kinds = {kind for _, _, kind in candidate_ports(session.answer_sdp)}
    assert kinds == {"relay"}, session.answer_sdp
    assert " raddr 0.0.0.0 " in session.answer_sdp  # the host address is not revealed
    assert all(0 < latency < 1000 for latency in latencies)


async def test_a_client_gone_before_the_answer_is_one_info_line_and_the_session_waits(
    app: RunningStreamApp, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ws, _ = await sign_in(http, app.sign_in_url)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send_str(json.dumps({"v": 1, "type": "offer", "sdp": pc.localDescription.sdp}))
    # Gone without a close frame, as a killed tab: the app finds out when it writes the answer,
    # which takes it several turns of the loop (ICE gathering) after the offer arrives.
    assert ws._response is not None and ws._response.connection is not None
    ws._response.connection.transport.close()  # type: ignore[union-attr]
    await pc.close()
    deadline = time.monotonic() + 10
    while app.state.slot.current is None or not app.state.slot.current.waiting:
        assert time.monotonic() < deadline, "the session never started waiting for a resume"
        await asyncio.sleep(0.05)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    gone = [r.getMessage() for r in caplog.records if "client went away" in r.getMessage()]
    assert len(gone) == 1 and "mid-answer" in gone[0]
