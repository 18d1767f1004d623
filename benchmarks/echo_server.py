"""`python -m benchmarks.echo_server --port P`: a WebSocket echo upstream on loopback for the proxy benchmark.

Accepts a WebSocket on any path (the proxy opens ``/sign_in``), offers ``nvcf-stream-v1`` back when
asked, and sends every message back unchanged. Prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Sequence

from aiohttp import WSMsgType, web

from proxy.subprotocols import APP_PROTOCOL as SUBPROTOCOL


async def _echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), compress=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def make_app() -> web.Application:
    """The echo server's application: one catch-all WebSocket route."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _echo)
    return app


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (1,000 connections need ~3,000 fds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.echo_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    args = parser.parse_args(argv)
    raise_fd_limit()
    web.run_app(
        make_app(),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        backlog=2048,
        print=lambda _: print("ready", flush=True),
    )


if __name__ == "__main__":
    main()
