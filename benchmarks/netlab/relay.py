"""A UDP impairment relay: the browser's TURN server address, forwarding to the real one.

It listens on one address:port. Each client (source address) gets its own upstream socket towards
the target (coturn), so the target sees one 5-tuple per client as it would without the relay; what
comes back on that socket goes back to the client. Each direction passes through its own
`Impairer` (delay, jitter, loss, burst loss, reordering) and a bounded queue of datagrams waiting
for their delivery time; a datagram that finds the queue full is dropped and counted.

`python -m benchmarks.netlab.relay --listen HOST:PORT --target HOST:PORT` runs it as a process
(in a network namespace: ``ip netns exec NS python -m ...``). It prints one JSON line
``{"listening": [host, port]}`` and then reads JSON lines on stdin, answering each with one line:

    {"up": {...}, "down": {...}}   set the impairment of either direction (fields of `Impairment`)
                                   -> {"ok": true}
    {"counters": true}             -> {"counters": {"up": {...}, "down": {...}, "clients": n}}
    anything else                  -> {"error": "reason"}

End of stdin stops it (so it never outlives the harness that drives it). `RelayProcess` is that
driver; `ImpairmentRelay` is the same relay in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, cast

from benchmarks.netlab.impairment import Impairer, Impairment, ImpairmentError

MAX_PENDING = 4096
"""Datagrams waiting for their delivery time, per direction: about 2 s of 20 Mbit/s media."""
MAX_CLIENTS = 64
SOCKET_BUFFER = 4 << 20
"""Bytes of kernel buffer per relay socket: a burst of frames must wait in the relay's queue (counted),
not overflow a default-sized socket buffer while the relay is descheduled (lost without a trace)."""
IDLE_CLIENT_S = 120.0
"""A client silent this long loses its upstream socket (a TURN allocation refreshes every few minutes,
but its media and consent checks never pause this long)."""

Address = tuple[str, int]


@dataclass
class DirectionCounters:
    """What one direction saw: received, forwarded, dropped by the impairment, dropped on a full queue."""

    received: int = 0
    sent: int = 0
    dropped: int = 0
    overflow: int = 0
    bytes_sent: int = 0


class _Direction:
    """One direction's impairer, queue bound and counters."""

    def __init__(self, impairment: Impairment, seed: int) -> None:
        self.impairer = Impairer(impairment, seed)
        self.counters = DirectionCounters()
        self.pending = 0

    def forward(self, loop: asyncio.AbstractEventLoop, data: bytes, send: Any) -> None:
        self.counters.received += 1
        now = loop.time()
        at = self.impairer.decide(now)
        if at is None:
            self.counters.dropped += 1
            return
        if at <= now:
            self._send(data, send)
            return
        if self.pending >= MAX_PENDING:
            self.counters.overflow += 1
            return
        self.pending += 1
        loop.call_at(at, self._deliver, data, send)

    def _deliver(self, data: bytes, send: Any) -> None:
        self.pending -= 1
        self._send(data, send)

    def _send(self, data: bytes, send: Any) -> None:
        try:
            send(data)
        except OSError:
            return  # a closed socket or unreachable peer: the datagram is lost, as on a network
        self.counters.sent += 1
        self.counters.bytes_sent += len(data)


class _Upstream(asyncio.DatagramProtocol):
    """The socket one client's datagrams leave from towards the target."""

    def __init__(self, relay: ImpairmentRelay, client: Address) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.last_seen = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector loop's is no subclass

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_target(data, self.client)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from the target: nothing to do for a datagram relay


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: ImpairmentRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass


class ImpairmentRelay:
    """The relay in-process: `start`, change impairments with `set`, read `counters`, `close`."""

    def __init__(self, target: Address, up: Impairment | None = None, down: Impairment | None = None, seed: int = 1):
        self.target = target
        self._up = _Direction(up or Impairment(), seed)
        self._down = _Direction(down or Impairment(), seed + 1)
        self._clients: dict[Address, _Upstream] = {}
        self._opening: dict[Address, list[bytes]] = {}
        self._listener: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.refused_clients = 0

    async def start(self, host: str, port: int = 0) -> Address:
        """Listen on host:port (0: any free port); returns the address bound."""
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(lambda: _Listener(self), local_addr=(host, port))
        _enlarge_buffers(transport)
        self._listener = transport
        self._sweeper = asyncio.create_task(self._sweep())
        bound = transport.get_extra_info("sockname")
        return str(bound[0]), int(bound[1])

    def set(self, up: Impairment | None = None, down: Impairment | None = None) -> None:
        """Change either direction's impairment from the next datagram on."""
        if up is not None:
            self._up.impairer.set(up)
        if down is not None:
            self._down.impairer.set(down)

    def counters(self) -> dict[str, Any]:
        """Per-direction counts (``up``: client to target) and the clients served now."""
        return {
            "up": asdict(self._up.counters),
            "down": asdict(self._down.counters),
            "clients": len(self._clients),
            "refused_clients": self.refused_clients,
        }

    def close(self) -> None:
        """Stop listening and close every upstream socket."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._listener is not None:
            self._listener.close()
        for upstream in self._clients.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self._clients.clear()

    def _from_client(self, data: bytes, client: Address) -> None:
        assert self._loop is not None
        upstream = self._clients.get(client)
        if upstream is None or upstream.transport is None:
            if client in self._opening:
                if len(self._opening[client]) < 64:
                    self._opening[client].append(data)
                return
            if len(self._clients) + len(self._opening) >= MAX_CLIENTS:
                self.refused_clients += 1
                return
            self._opening[client] = [data]
            self._loop.create_task(self._open(client))
            return
        upstream.last_seen = time.monotonic()
        self._up.forward(self._loop, data, upstream.transport.sendto)

    async def _open(self, client: Address) -> None:
        assert self._loop is not None
        try:
            transport, protocol = await self._loop.create_datagram_endpoint(
                lambda: _Upstream(self, client), remote_addr=self.target
            )
            _enlarge_buffers(transport)
        except OSError:
            self._opening.pop(client, None)
            return
        self._clients[client] = protocol
        for data in self._opening.pop(client, []):
            self._from_client(data, client)

    def _from_target(self, data: bytes, client: Address) -> None:
        assert self._loop is not None and self._listener is not None
        listener = self._listener
        self._down.forward(self._loop, data, lambda d: listener.sendto(d, client))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CLIENT_S / 4)
            cutoff = time.monotonic() - IDLE_CLIENT_S
            for client, upstream in list(self._clients.items()):
                if upstream.last_seen < cutoff and upstream.transport is not None:
                    upstream.transport.close()
                    del self._clients[client]


# Linux's SO_RCVBUFFORCE / SO_SNDBUFFORCE (root may exceed net.core.rmem_max); Python names neither.
_SO_RCVBUFFORCE, _SO_SNDBUFFORCE = 33, 32


def _enlarge_buffers(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)  # root: past net.core.rmem_max
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)


def handle_control(relay: ImpairmentRelay, line: str) -> dict[str, Any]:
    """One control line (JSON) applied to `relay`; the answer to print."""
    try:
        message = json.loads(line)
    except ValueError:
        return {"error": "control lines must be JSON objects"}
    if not isinstance(message, dict) or not message:
        return {"error": "control lines must be non-empty JSON objects"}
    if message.get("counters") is True and len(message) == 1:
        return {"counters": relay.counters()}
    unknown = set(message) - {"up", "down"}
    if unknown:
        return {"error": f"unknown control field(s): {', '.join(sorted(unknown))}"}
    try:
        up = Impairment.from_json(message["up"]) if "up" in message else None
        down = Impairment.from_json(message["down"]) if "down" in message else None
    except ImpairmentError as exc:
        return {"error": str(exc)}
    relay.set(up, down)
    return {"ok": True}


def _address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _impairment(text: str) -> Impairment:
    try:
        return Impairment.from_json(json.loads(text))
    except (ValueError, ImpairmentError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def _serve(args: argparse.Namespace) -> None:
    relay = ImpairmentRelay(args.target, args.up, args.down, args.seed)
    host, port = await relay.start(*args.listen)
    print(json.dumps({"listening": [host, port]}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if line.strip():
                print(json.dumps(handle_control(relay, line.decode("utf-8", "replace"))), flush=True)
    finally:
        relay.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the relay until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.netlab.relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=_address, required=True, help="HOST:PORT to listen on (port 0: any)")
    parser.add_argument("--target", type=_address, required=True, help="HOST:PORT to forward to (the TURN server)")
    parser.add_argument("--up", type=_impairment, default=Impairment(), help="JSON impairment, client to target")
    parser.add_argument("--down", type=_impairment, default=Impairment(), help="JSON impairment, target to client")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the impairments [1]")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(_serve(args))


class RelayError(RuntimeError):
    """The relay process did not start or did not answer."""


class RelayProcess:
    """Drives a relay child over its stdin/stdout (see the module docstring for the lines)."""

    def __init__(self, process: asyncio.subprocess.Process, address: Address) -> None:
        self.process = process
        self.address = address
        self._lock = asyncio.Lock()

    async def _ask(self, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            await self.process.stdin.drain()
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RelayError(f"the relay exited (status {self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RelayError(f"the relay refused {message}: {answer['error']}")
        return answer

    async def set(self, up: Impairment | None = None, down: Impairment | None = None) -> None:
        """Change the impairments (None: leave that direction as it is)."""
        message: dict[str, Any] = {}
        if up is not None:
            message["up"] = up.to_json()
        if down is not None:
            message["down"] = down.to_json()
        if message:
            await self._ask(message)

    async def counters(self) -> dict[str, Any]:
        """The relay's counters (`ImpairmentRelay.counters`)."""
        counters: dict[str, Any] = (await self._ask({"counters": True}))["counters"]
        return counters


@asynccontextmanager
async def running_relay(
    listen: Address, target: Address, *, prefix: Sequence[str] = (), seed: int = 1, start_timeout: float = 10.0
) -> AsyncIterator[RelayProcess]:
    """The relay as a child process (`prefix`, e.g. ``ip netns exec NS``, before the command); stopped on exit."""
    argv = [*prefix, sys.executable, "-m", "benchmarks.netlab.relay", "--listen", f"{listen[0]}:{listen[1]}"]
    argv += ["--target", f"{target[0]}:{target[1]}", "--seed", str(seed)]
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None
    )
    try:
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), start_timeout)
            host, port = json.loads(line)["listening"]
        except (TimeoutError, ValueError, KeyError, TypeError) as exc:
            raise RelayError(f"the relay did not start ({exc!r}, status {process.returncode})") from None
        yield RelayProcess(process, (str(host), int(port)))
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()  # end of stdin: it stops by itself
            try:
                await asyncio.wait_for(process.wait(), 3.0)
            except TimeoutError:
                process.kill()
                await process.wait()


if __name__ == "__main__":
    main()
