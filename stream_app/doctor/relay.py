"""Reaching the STUN/TURN server: a STUN binding and a TURN allocation, as the stream app makes them.

The probes speak STUN and TURN through aioice (its `stun.Transaction` and TURN client) from a UDP
socket bound inside the media port range, where the stream app's own sockets are, so a firewall
that lets only the range out is met as the app meets it. Each socket is connected to the server,
so an ICMP "port unreachable" ends a probe at once instead of after its timeout. Each probe returns what happened as a
value; `judge_stun` and `judge_turn` turn that into words with the fix.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any, cast

from aioice import stun, turn

from stream_app.doctor.findings import Finding, fail, ok, warn
from stream_app.ports import PortRange, PortRangeExhausted, bind_udp

# Deleting the probe's allocation is a courtesy; the server frees it at its expiry anyway.
_DELETE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Answered:
    """The server answered: the address it saw us at and, for TURN, the relayed address."""

    local_port: int
    mapped: tuple[str, int]
    relayed: tuple[str, int] | None = None


@dataclass(frozen=True)
class NoAnswer:
    """Nothing came back within `timeout` seconds (or ICMP said nothing listens: `refused`)."""

    local_port: int
    timeout: float
    refused: bool = False


@dataclass(frozen=True)
class Refused:
    """The server answered with a STUN error code."""

    local_port: int
    code: int
    reason: str


@dataclass(frozen=True)
class Unreachable:
    """No request could be sent: the name does not resolve, no route, no socket."""

    reason: str


Outcome = Answered | NoAnswer | Refused | Unreachable


async def _resolve(host: str, port: int) -> tuple[str, int]:
    addresses = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    return str(addresses[0][4][0]), port


def _client_socket(server_ip: str, port_range: PortRange, avoid: frozenset[int] = frozenset()) -> socket.socket:
    """A UDP socket on a random free port of the range (where the app's sockets bind), else anywhere.

    Random, not first-free as the app binds: a TURN server keeps a deleted allocation's 5-tuple for
    about 2 s and answers 437 to a new allocation from it. A random port is seldom the one the
    app's next session takes (the first free), and a 437 left by the probe's own previous run is
    tried again from another port (`turn_allocate`).
    """
    wildcard = "::" if ":" in server_ip else "0.0.0.0"
    try:
        return bind_udp(wildcard, port_range, avoid=avoid, shuffled=True)
    except PortRangeExhausted:  # the range is full (the port check says so): probe from anywhere
        sock = socket.socket(socket.AF_INET6 if wildcard == "::" else socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((wildcard, 0))
        sock.setblocking(False)
        return sock


async def _connected_socket(
    host: str, port: int, port_range: PortRange, avoid: frozenset[int]
) -> tuple[socket.socket, tuple[str, int]] | Unreachable:
    """A client socket connected to the server (resolving its name), or why there is none."""
    try:
        server = await _resolve(host, port)
        sock = _client_socket(server[0], port_range, avoid)
    except OSError as exc:
        return Unreachable(f"{type(exc).__name__}: {exc.strerror or exc}")
    try:
        sock.connect(server)
    except OSError as exc:
        sock.close()
        return Unreachable(f"{type(exc).__name__}: {exc.strerror or exc}")
    return sock, server


class _StunClient(asyncio.DatagramProtocol):
    """Sends aioice STUN transactions on a connected socket; ICMP errors end them early."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.transactions: dict[bytes, stun.Transaction] = {}
        self.icmp_error: asyncio.Future[OSError] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(bytes(message))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        transaction = self.transactions.get(message.transaction_id)
        if transaction is not None:
            transaction.response_received(message, addr)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and not self.icmp_error.done():
            self.icmp_error.set_result(exc)


class _TurnClient(turn.TurnClientUdpProtocol):
    """aioice's TURN client, noticing ICMP errors (a closed port) instead of retrying into them."""

    def __init__(self, server: tuple[str, int], username: str, password: str) -> None:
        super().__init__(
            server,
            username=username,
            password=password,
            lifetime=turn.DEFAULT_ALLOCATION_LIFETIME,
            channel_refresh_time=turn.DEFAULT_CHANNEL_REFRESH_TIME,
        )
        self.icmp_error: asyncio.Future[OSError] = asyncio.get_running_loop().create_future()

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and not self.icmp_error.done():
            self.icmp_error.set_result(exc)


async def _first(work: asyncio.Future[Any], icmp_error: asyncio.Future[OSError], timeout: float) -> bool | None:
    """Wait for `work` or an ICMP error: True when `work` finished, False on ICMP, None on timeout."""
    done, _ = await asyncio.wait((work, icmp_error), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if work in done:
        return True
    work.cancel()
    return False if icmp_error in done else None


async def stun_binding(host: str, port: int, port_range: PortRange, timeout: float) -> Outcome:
    """Send a STUN Binding request (retransmitted as RFC 8489 says) and report what came back."""
    loop = asyncio.get_running_loop()
    connected = await _connected_socket(host, port, port_range, frozenset())
    if isinstance(connected, Unreachable):
        return connected
    sock, server = connected
    local_port = int(sock.getsockname()[1])
    transport, client = await loop.create_datagram_endpoint(_StunClient, sock=sock)
    try:
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        transaction = stun.Transaction(request, server, client)
        client.transactions[request.transaction_id] = transaction
        work = asyncio.ensure_future(transaction.run())
        finished = await _first(work, client.icmp_error, timeout)
        if not finished:
            return NoAnswer(local_port, timeout, refused=finished is False)
        try:
            response, _ = work.result()
        except stun.TransactionFailed as exc:
            code, reason = exc.response.attributes.get("ERROR-CODE", (0, "no error code"))
            return Refused(local_port, int(code), str(reason))
        except stun.TransactionTimeout:
            return NoAnswer(local_port, timeout)
        return Answered(local_port, response.attributes["XOR-MAPPED-ADDRESS"])
    finally:
        transport.close()


async def turn_allocate(
    host: str, port: int, username: str, password: str, port_range: PortRange, timeout: float
) -> Outcome:
    """Ask for a TURN allocation over UDP with long-term credentials, then give it back.

    A 437 (an allocation on this 5-tuple already) is tried once more from another port.
    """
    outcome = await _allocate_once(host, port, username, password, port_range, timeout, frozenset())
    if isinstance(outcome, Refused) and outcome.code == 437:
        outcome = await _allocate_once(
            host, port, username, password, port_range, timeout, frozenset({outcome.local_port})
        )
    return outcome


async def _allocate_once(
    host: str, port: int, username: str, password: str, port_range: PortRange, timeout: float, avoid: frozenset[int]
) -> Outcome:
    loop = asyncio.get_running_loop()
    connected = await _connected_socket(host, port, port_range, avoid)
    if isinstance(connected, Unreachable):
        return connected
    sock, server = connected
    local_port = int(sock.getsockname()[1])
    transport, client = await loop.create_datagram_endpoint(lambda: _TurnClient(server, username, password), sock=sock)
    allocated = False
    try:
        work = asyncio.ensure_future(client.connect())
        finished = await _first(work, client.icmp_error, timeout)
        if not finished:
            return NoAnswer(local_port, timeout, refused=finished is False)
        try:
            relayed = work.result()
        except stun.TransactionFailed as exc:
            code, reason = exc.response.attributes.get("ERROR-CODE", (0, "no error code"))
            return Refused(local_port, int(code), str(reason))
        except stun.TransactionTimeout:
            return NoAnswer(local_port, timeout)
        except ConnectionError as exc:  # a success answer without the attributes RFC 8656 requires
            return Refused(local_port, 0, str(exc))
        allocated = True
        assert client.mapped_address is not None
        return Answered(local_port, client.mapped_address, relayed)
    finally:
        if allocated:
            try:
                await asyncio.wait_for(client.delete(), _DELETE_TIMEOUT)
            except TimeoutError:
                pass
        transport.close()


# What a TURN server means by each error code (RFC 8656 section 19, RFC 8489 section 14.8), and the fix.
_TURN_ERRORS: dict[int, tuple[str, str]] = {
    300: ("redirects to another server (Try Alternate)", "use the server it names, or ask its operator"),
    400: (
        "found the request malformed (Bad Request)",
        "a server this far from the standard is not a usable TURN server",
    ),
    401: (
        "refused the credentials (Unauthorized)",
        "the username or password is wrong, or expired (REST credentials carry their expiry in the user name); "
        "NVCF pushes fresh ones to /v1/streaming/creds, and nvcf-local's come from --turn-user/"
        "NVCF_LOCAL_TURN_PASSWORD or --turn-secret, which must match coturn's",
    ),
    403: (
        "forbids this allocation (Forbidden)",
        "the server's policy refuses this user or this client address; ask its operator",
    ),
    437: ("has another allocation for this address and port (Allocation Mismatch)", "run doctor again"),
    438: ("kept calling the nonce stale (Stale Nonce)", "run doctor again; if it persists, check the server's clock"),
    441: ("refused the credentials for this allocation (Wrong Credentials)", "run doctor again"),
    442: ("does not relay UDP (Unsupported Transport Protocol)", "use a TURN server that relays UDP"),
    486: (
        "has reached this user's allocation quota (Allocation Quota Reached)",
        "end sessions still holding allocations with these credentials, or wait for them to expire; "
        "raise the server's per-user quota (coturn: --user-quota)",
    ),
    508: (
        "has no relay port left (Insufficient Capacity)",
        "widen the server's relay port range (coturn: --min-port/--max-port) or wait for allocations to expire",
    ),
}


def _no_answer(kind: str, server: str, outcome: NoAnswer) -> Finding:
    if outcome.refused:
        return fail(
            kind,
            f"no {kind.upper()} answer from {server}: ICMP says nothing listens on that port.",
            "check stunIp and stunPort (what NVCF pushed to /v1/streaming/creds, or what you passed); "
            "the server may be down.",
        )
    return fail(
        kind,
        f"no {kind.upper()} answer from {server} within {outcome.timeout:g} s (sent from local UDP "
        f"{outcome.local_port}): UDP to it is blocked, or nothing answers at that address.",
        "allow outbound UDP from the container to that address and port (and its answers back); "
        "check stunIp and stunPort.",
    )


def judge_stun(server: str, outcome: Outcome) -> Finding:
    """The STUN binding's outcome in words."""
    if isinstance(outcome, Answered):
        return ok(
            "stun",
            f"STUN server {server} answers; it sees this container at {outcome.mapped[0]}:{outcome.mapped[1]} "
            f"(from local UDP {outcome.local_port}).",
        )
    if isinstance(outcome, NoAnswer):
        return _no_answer("stun", server, outcome)
    if isinstance(outcome, Refused):
        return fail(
            "stun",
            f"STUN server {server} answered the binding request with error {outcome.code} {outcome.reason}.",
            "check that stunIp and stunPort name a STUN/TURN server.",
        )
    return fail(
        "stun", f"cannot send to STUN server {server}: {outcome.reason}.", "check stunIp (name or address) and routes."
    )


def judge_turn(server: str, username: str, outcome: Outcome, relay_only: bool) -> Finding:
    """The TURN allocation's outcome in words; without a relay a relay-only app cannot stream at all."""
    if isinstance(outcome, Answered):
        assert outcome.relayed is not None
        return ok(
            "turn",
            f"TURN server {server} allocated a relay at {outcome.relayed[0]}:{outcome.relayed[1]} for user "
            f"{username!r} (mapped address {outcome.mapped[0]}:{outcome.mapped[1]}).",
        )
    if isinstance(outcome, NoAnswer):
        return _no_answer("turn", server, outcome)
    if isinstance(outcome, Refused):
        meaning, fix = _TURN_ERRORS.get(
            outcome.code, (f"refused the allocation ({outcome.reason})", "see the server's log for why")
        )
        consequence = " Relay only is on, so no media can flow." if relay_only else ""
        return fail(
            "turn",
            f"TURN server {server} {meaning}: error {outcome.code} for user {username!r}.{consequence}",
            fix + ".",
        )
    return fail(
        "turn", f"cannot send to TURN server {server}: {outcome.reason}.", "check stunIp (name or address) and routes."
    )


def not_checked(relay_only: bool, has_server: bool) -> Finding:
    """What to say when no (or no complete) credentials were given."""
    how = (
        "pass --creds FILE (the JSON body NVCF posts to /v1/streaming/creds), or --stun-ip, --stun-port, "
        "--username and the password in DOCTOR_TURN_PASSWORD; a running stream app does not give out "
        "the credentials NVCF pushed to it."
    )
    what = (
        "no username and password given: the TURN allocation was not tried."
        if has_server
        else "no STUN/TURN server given: STUN and TURN were not tried."
    )
    if relay_only:
        what += " Relay only is on: media flows only through that TURN server."
    return warn("turn" if has_server else "stun", what, how)
