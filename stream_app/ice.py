"""ICE gathering confined to NVCF's media port range, on the addresses we choose.

aioice binds every host candidate to an OS-chosen port and skips loopback; NVCF only forwards
UDP ports 47998-48020 to the container, and our tests run on loopback. `RangeBoundConnection`
replaces aioice's gathering for one connection: host sockets and the TURN client socket are bound
inside the range (see `ports.bind_udp`), on the configured addresses. Nothing else changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import cast

import aioice
from aioice import stun, turn
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, TransportPolicy, server_reflexive_candidate
from aiortc import RTCPeerConnection
from aiortc.rtcicetransport import RTCIceGatherer

from stream_app.ports import PortRange, bind_udp

logger = logging.getLogger(__name__)

_GATHER_TIMEOUT = 5.0
ALLOCATION_MISMATCH = 437
"""TURN's answer to an allocation from a 5-tuple it still holds: coturn keeps a deleted
allocation's 5-tuple for about 2 s, and the app binds the first free port of the range, so a
session that starts right after another ended meets it from the port the last one used."""
# aioice retries a TURN deallocation for about half a minute; a session's ports and the app's
# readiness must not wait that long on a TURN server that has gone away.
TURN_DELETE_TIMEOUT = 2.0


class _PromptTurnClientProtocol(turn.TurnClientUdpProtocol):
    """aioice's TURN client, giving up deallocation after `TURN_DELETE_TIMEOUT`.

    Safe to cut short: aioice closes the socket even when the deletion is cancelled, and the
    server frees an allocation that is not refreshed once it expires.
    """

    async def delete(self) -> None:
        try:
            await asyncio.wait_for(super().delete(), TURN_DELETE_TIMEOUT)
        except TimeoutError:
            logger.info("TURN allocation not confirmed deleted within %.0f s; socket closed", TURN_DELETE_TIMEOUT)


def _udp_candidate(
    kind: str, component: int, address: tuple[str, int], related: tuple[str, int] | None = None
) -> Candidate:
    """A UDP candidate of `kind` ("host" or "relay") at `address`, built as aioice builds its own."""
    return Candidate(
        foundation=candidate_foundation(kind, "udp", address[0]),
        component=component,
        transport="udp",
        priority=candidate_priority(component, kind),
        host=address[0],
        port=address[1],
        type=kind,
        related_address=related[0] if related else None,
        related_port=related[1] if related else None,
    )


class RangeBoundConnection(aioice.Connection):
    """An aioice `Connection` whose every UDP socket is bound inside a port range."""

    _port_range: PortRange
    _host_addresses: tuple[str, ...]

    @classmethod
    def adopt(
        cls, connection: aioice.Connection, port_range: PortRange, host_addresses: tuple[str, ...]
    ) -> RangeBoundConnection:
        """Turn an existing, not yet gathering connection into a range-bound one.

        aiortc creates the connection itself and keeps references to it, so it is changed in
        place rather than replaced.
        """
        if isinstance(connection, RangeBoundConnection):
            return connection
        if connection._local_candidates_start:
            raise RuntimeError("candidate gathering has already started on this connection")
        connection.__class__ = cls
        adopted = cast(RangeBoundConnection, connection)
        adopted._port_range = port_range
        adopted._host_addresses = host_addresses
        return adopted

    async def get_component_candidates(self, component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        """Gather host, server-reflexive and relayed candidates, binding only inside the range."""
        # With the relay policy aioice passes no addresses, and host candidates must not be used.
        if self._transport_policy == TransportPolicy.ALL and self._host_addresses:
            addresses = list(self._host_addresses)
        loop = asyncio.get_running_loop()
        candidates: list[Candidate] = []
        host_protocols: list[StunProtocol] = []
        try:
            for address in addresses:
                sock = bind_udp(address, self._port_range)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
                _, protocol = await loop.create_datagram_endpoint(lambda: StunProtocol(self), sock=sock)
                protocol.local_candidate = _udp_candidate(
                    "host", component, protocol.transport.get_extra_info("sockname")
                )
                host_protocols.append(protocol)
                candidates.append(protocol.local_candidate)
        except OSError:
            for protocol in host_protocols:
                protocol.transport.close()
            raise
        self._protocols += host_protocols

        tasks: list[asyncio.Task[tuple[Candidate, StunProtocol | None]]] = []
        if self.stun_server:
            for protocol in host_protocols:
                if ipaddress.ip_address(protocol.local_candidate.host).version == 4:
                    tasks.append(asyncio.create_task(server_reflexive_candidate(protocol, self.stun_server)))
        if self.turn_server:
            tasks.append(asyncio.create_task(self._relayed_candidate(component)))
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=min(timeout, _GATHER_TIMEOUT))
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    logger.warning("candidate gathering failed: %s", task.exception())
                    continue
                candidate, relay_protocol = task.result()
                candidates.append(candidate)
                if relay_protocol is not None:
                    self._protocols.append(relay_protocol)
        return candidates

    async def _relayed_candidate(self, component: int) -> tuple[Candidate, StunProtocol | None]:
        """Allocate a TURN relay through a client socket bound inside the range.

        An allocation refused with 437 is asked for once more from another port of the range.
        """
        assert self.turn_server is not None
        loop = asyncio.get_running_loop()
        addresses = await loop.getaddrinfo(self.turn_server[0], self.turn_server[1], type=socket.SOCK_DGRAM)
        server_addr = (str(addresses[0][4][0]), self.turn_server[1])
        try:
            protocol = await self._allocate(server_addr, avoid=())
        except _AllocationMismatch as mismatch:
            logger.info("TURN server still holds port %d's last allocation; allocating from another", mismatch.port)
            protocol = await self._allocate(server_addr, avoid=(mismatch.port,))
        relayed = protocol.transport.get_extra_info("sockname")
        related = protocol.transport.get_extra_info("related_address")
        if self._transport_policy == TransportPolicy.RELAY:
            # Do not reveal the host address through the related address (RFC 9429 3.5.3).
            related = ("0.0.0.0", 9) if ipaddress.ip_address(relayed[0]).version == 4 else ("::", 9)
        protocol.local_candidate = _udp_candidate("relay", component, relayed, related)
        return protocol.local_candidate, protocol

    async def _allocate(self, server_addr: tuple[str, int], avoid: tuple[int, ...]) -> StunProtocol:
        """One TURN allocation from a socket bound inside the range, skipping the ports in `avoid`."""
        loop = asyncio.get_running_loop()
        local_ip = "0.0.0.0" if ipaddress.ip_address(server_addr[0]).version == 4 else "::"
        sock = bind_udp(local_ip, self._port_range, avoid=avoid)
        local_port = int(sock.getsockname()[1])
        try:
            sock.connect(server_addr)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
            inner_transport, inner_protocol = await loop.create_datagram_endpoint(
                lambda: _PromptTurnClientProtocol(
                    server_addr,
                    username=self.turn_username,
                    password=self.turn_password,
                    lifetime=turn.DEFAULT_ALLOCATION_LIFETIME,
                    channel_refresh_time=turn.DEFAULT_CHANNEL_REFRESH_TIME,
                ),
                sock=sock,
            )
        except BaseException:
            sock.close()
            raise
        try:
            protocol = StunProtocol(self)
            await turn.TurnTransport(inner_protocol)._connect(protocol)
        except stun.TransactionFailed as exc:
            inner_transport.close()
            code = exc.response.attributes.get("ERROR-CODE", (0, ""))[0]
            if code == ALLOCATION_MISMATCH and not avoid:
                raise _AllocationMismatch(local_port) from exc
            raise
        except BaseException:
            inner_transport.close()
            raise
        return protocol


class _AllocationMismatch(Exception):
    """The TURN server refused an allocation from `port` with 437."""

    def __init__(self, port: int) -> None:
        super().__init__(f"TURN allocation mismatch (437) from port {port}")
        self.port = port


def ice_gatherers(pc: RTCPeerConnection) -> list[RTCIceGatherer]:
    """Every ICE gatherer the peer connection has created so far (one with max-bundle)."""
    gatherers: list[RTCIceGatherer] = []
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for dtls in transports:
        gatherer = dtls.transport.iceGatherer
        if all(gatherer is not seen for seen in gatherers):
            gatherers.append(gatherer)
    return gatherers


def confine_to_range(
    pc: RTCPeerConnection, port_range: PortRange, host_addresses: tuple[str, ...], *, relay_only: bool = False
) -> None:
    """Make every ICE gatherer of `pc` bind inside `port_range`, on `host_addresses` if given.

    With `relay_only` no host or server-reflexive candidates are gathered: only the TURN relay
    (aiortc has no `iceTransportPolicy`; aioice's connection has the policy, so it is set there).
    Call after `setRemoteDescription` (which creates the gatherers) and before
    `setLocalDescription` (which starts gathering).
    """
    for gatherer in ice_gatherers(pc):
        connection = RangeBoundConnection.adopt(gatherer._connection, port_range, host_addresses)
        if relay_only:
            connection._transport_policy = TransportPolicy.RELAY
