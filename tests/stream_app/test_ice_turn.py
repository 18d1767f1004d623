"""stream_app.ice: the TURN relay candidate, gathered from a socket inside the range, with a real coturn."""

from __future__ import annotations

import aioice
from aioice.ice import TransportPolicy

from benchmarks.ports import free_udp_port_range
from deploy.coturn import RunningCoturn
from stream_app.ice import RangeBoundConnection
from stream_app.ports import PortRange


async def _relay_candidates(coturn: RunningCoturn, port_range: PortRange) -> tuple[aioice.Connection, list[str]]:
    connection = aioice.Connection(
        ice_controlling=True,
        turn_server=(coturn.host, coturn.port),
        turn_username=coturn.user,
        turn_password=coturn.password,
        transport_policy=TransportPolicy.RELAY,
    )
    RangeBoundConnection.adopt(connection, port_range, ())
    await connection.gather_candidates()
    return connection, [c.type for c in connection.local_candidates]


async def test_a_session_right_after_another_still_gets_a_relay_candidate(coturn: RunningCoturn) -> None:
    # coturn keeps a deleted allocation's 5-tuple for about 2 s and answers 437 to a new one from
    # it; the second gather binds the same first free port, so it must move to another one.
    port_range = PortRange(*free_udp_port_range(4))
    first, first_types = await _relay_candidates(coturn, port_range)
    assert first_types == ["relay"]
    await first.close()
    second, second_types = await _relay_candidates(coturn, port_range)
    try:
        assert second_types == ["relay"]
    finally:
        await second.close()
