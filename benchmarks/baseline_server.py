"""`python -m benchmarks.baseline_server`: stock aiortc streaming the stamped test pattern, the baseline.

It serves the same web client page and speaks the same signaling (docs/protocol.md section 3) on
``/sign_in``, directly, without the proxy or nvcf-local. Everything media-related is aiortc's
default: a plain `VideoStreamTrack` subclass (which paces itself at aiortc's 30 fps) returning
the stream app's stamped pattern frames, a default `RTCPeerConnection`, default encoders and
bitrates. Two departures, both needed to stay on this machine: ``iceServers=[]`` (aiortc's default
is a public STUN server) and ICE host candidates on 127.0.0.1 (aioice skips loopback by default).

In the network lab (`benchmarks/network.py`) it listens on the lab's server address, gathers its
host candidate there, tells the page about the lab's TURN server (``--turn``, credentials in
``BASELINE_TURN_USER``/``BASELINE_TURN_PASSWORD``: a command line is readable by any local user) and
sends the textured scene (``--scene``, `benchmarks.scene`) instead of the pattern.

Input latency, for the suite's input benchmark: messages on a data channel named ``input`` are
timed on arrival (client ``t`` to this process's clock); ``GET /bench/input`` returns the samples.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

import web_client
from proxy.subprotocols import APP_PROTOCOL as SUBPROTOCOL
from stream_app import signaling

_WEB_KINDS = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
"""The web client's files the baseline serves: every page, module and style sheet of its directory
(the client imports more modules as it grows; a fixed list broke the baseline once)."""
_INPUT: web.AppKey[list[dict[str, float | str]]] = web.AppKey("input_samples", list)
_SIZE: web.AppKey[tuple[int, int]] = web.AppKey("size", tuple)
_SCENE: web.AppKey[bool] = web.AppKey("scene", bool)
_ICE_SERVERS: web.AppKey[list[dict[str, Any]]] = web.AppKey("ice_servers", list)


def _host_only(address: str) -> None:
    import aioice.ice

    # aioice gathers host candidates on every non-loopback address; this machine's tests and
    # benchmarks keep all traffic on 127.0.0.1 (or inside the network lab's namespaces).
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


def make_track(width: int, height: int, scene: bool = False) -> Any:
    """A stock `VideoStreamTrack` whose frames are the stream app's stamped test pattern (or the scene)."""
    from aiortc import VideoStreamTrack

    from benchmarks.scene import TexturedScene
    from stream_app.media.pattern_source import StampedPattern

    class StampedPatternTrack(VideoStreamTrack):
        """aiortc's own pacing (`next_timestamp`, 30 fps) with the stream app's stamped picture."""

        def __init__(self) -> None:
            super().__init__()
            self._picture = TexturedScene(width, height) if scene else StampedPattern(width, height)
            self._index = 0

        async def recv(self) -> Any:
            """The next stamped frame, when aiortc's clock says it is due."""
            pts, time_base = await self.next_timestamp()
            # The scene moves on a 60 fps clock (as in the stream app); the pattern one step a frame.
            frame = self._picture.draw(self._index * (2 if scene else 1), int(time.time() * 1000))
            frame.pts, frame.time_base = pts, time_base
            self._index += 1
            return frame

    return StampedPatternTrack()


async def _sign_in(request: web.Request) -> web.WebSocketResponse:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.sdp import candidate_from_sdp

    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
    await ws.prepare(request)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    samples = request.app[_INPUT]

    @pc.on("datachannel")
    def on_datachannel(channel: Any) -> None:
        if channel.label != "input":
            return

        @channel.on("message")  # type: ignore[untyped-decorator]
        def on_message(data: Any) -> None:
            received = time.time() * 1000
            try:
                message = json.loads(data)
                samples.append(
                    {
                        "t": float(message["t"]),
                        "received": received,
                        "seq": float(message["seq"]),
                        "type": str(message.get("type", "")),
                    }
                )
            except (ValueError, KeyError, TypeError):
                pass

    width, height = request.app[_SIZE]
    await ws.send_str(signaling.serialize(signaling.Hello(uuid.uuid4().hex, request.app[_ICE_SERVERS])))
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                message = signaling.parse_client_message(msg.data)
            except signaling.SignalingError as exc:
                await ws.send_str(signaling.serialize(signaling.Error(exc.code, exc.reason)))
                continue
            if isinstance(message, signaling.Offer):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=message.sdp, type="offer"))
                pc.addTrack(make_track(width, height, request.app[_SCENE]))
                await pc.setLocalDescription(await pc.createAnswer())
                await ws.send_str(signaling.serialize(signaling.Answer(pc.localDescription.sdp)))
            elif isinstance(message, signaling.IceCandidate):
                text = message.candidate.removeprefix("candidate:")
                if not text or pc.remoteDescription is None:
                    continue
                candidate = candidate_from_sdp(text)
                if candidate.ip.endswith(".local"):
                    continue
                candidate.sdpMid, candidate.sdpMLineIndex = message.sdp_mid, message.sdp_mline_index
                await pc.addIceCandidate(candidate)
    finally:
        await pc.close()
    return ws


async def _web_file(request: web.Request) -> web.FileResponse:
    name = request.match_info.get("name") or "index.html"
    path = Path(web_client.__file__).parent / name
    # `{name}` holds no '/', so the file is in the client's own directory.
    if path.suffix not in _WEB_KINDS or not path.is_file():
        raise web.HTTPNotFound()
    kind = _WEB_KINDS[path.suffix]
    return web.FileResponse(path, headers={"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"})


async def _input_samples(request: web.Request) -> web.Response:
    return web.json_response(request.app[_INPUT])


def make_app(
    width: int, height: int, *, scene: bool = False, ice_servers: list[dict[str, Any]] | None = None
) -> web.Application:
    """The baseline server: the web client's files, ``/sign_in`` and ``/bench/input``.

    `ice_servers` are what the page is told in ``hello`` (none by default: host candidates only).
    """
    app = web.Application()
    app[_INPUT] = []
    app[_SIZE] = (width, height)
    app[_SCENE] = scene
    app[_ICE_SERVERS] = ice_servers or []
    app.router.add_get("/sign_in", _sign_in)
    app.router.add_get("/bench/input", _input_samples)
    app.router.add_get("/", _web_file)
    app.router.add_get("/{name}", _web_file)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until killed; prints ``ready`` once listening."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen and gather ICE on [127.0.0.1]")
    parser.add_argument("--width", type=int, default=1280, help="pattern width [1280]")
    parser.add_argument("--height", type=int, default=720, help="pattern height [720]")
    parser.add_argument("--scene", action="store_true", help="send the textured scene instead of the pattern")
    parser.add_argument(
        "--turn",
        metavar="HOST:PORT",
        help="TURN server the page is told to use (user and password in BASELINE_TURN_USER/_PASSWORD)",
    )
    args = parser.parse_args(argv)
    _host_only(args.host)
    ice_servers: list[dict[str, Any]] = []
    if args.turn:
        ice_servers = [
            {
                "urls": [f"turn:{args.turn}?transport=udp"],
                "username": os.environ.get("BASELINE_TURN_USER", ""),
                "credential": os.environ.get("BASELINE_TURN_PASSWORD", ""),
            }
        ]
    web.run_app(
        make_app(args.width, args.height, scene=args.scene, ice_servers=ice_servers),
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda _: print("ready", flush=True),
    )


if __name__ == "__main__":
    main()
