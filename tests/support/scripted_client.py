"""A scripted WebRTC client speaking the signaling protocol, standing in for the browser in tests.

It is aiortc on the client side, connecting over real UDP on loopback; it reads the stamp of each
frame it decodes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from stream_app import stamp


@dataclass
class ScriptedSession:
    """An open session: the WebSocket, the peer connection, and what arrived on them."""

    ws: aiohttp.ClientWebSocketResponse
    pc: RTCPeerConnection
    hello: dict[str, Any]
    answer_sdp: str
    track: asyncio.Future[MediaStreamTrack] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    channels: dict[str, RTCDataChannel] = field(default_factory=dict)
    app_messages: list[str] = field(default_factory=list)
    """Every message that arrived on the `app` channel, as text, in order."""
    _seq: dict[str, itertools.count[int]] = field(default_factory=dict)

    def send_app(self, kind: str = "message", **fields: Any) -> None:
        """Send one app-channel message (protocol.md section 7) with the next `seq` of that channel."""
        seq = next(self._seq.setdefault("app", itertools.count()))
        self.send_raw("app", json.dumps({"v": 1, "type": kind, "seq": seq, **fields}))

    async def wait_for_app_messages(self, count: int, timeout: float = 10.0) -> list[str]:
        """Wait until `count` messages arrived on the `app` channel; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.app_messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.app_messages)} app messages in {timeout} s: {self.app_messages}")
            await asyncio.sleep(0.02)
        return list(self.app_messages)

    async def channels_open(self, timeout: float = 10.0) -> None:
        """Wait until every input data channel is open."""
        deadline = time.monotonic() + timeout
        while any(c.readyState != "open" for c in self.channels.values()):
            if time.monotonic() > deadline:
                raise AssertionError({label: c.readyState for label, c in self.channels.items()})
            await asyncio.sleep(0.02)

    def send_input(self, kind: str, channel: str | None = None, **fields: Any) -> None:
        """Send one input message (protocol.md section 5) with the next `seq` of its channel."""
        if channel is None:
            motion = kind in ("mouse_move", "mouse_motion") or (kind == "touch" and fields.get("phase") == "move")
            channel = "input-motion" if motion else "input"
        seq = next(self._seq.setdefault(channel, itertools.count()))
        self.send_raw(channel, json.dumps({"v": 1, "type": kind, "seq": seq, "t": time.time() * 1000, **fields}))

    def send_raw(self, channel: str, data: str | bytes) -> None:
        """Send anything on an input data channel."""
        self.channels[channel].send(data)

    async def bye(self) -> None:
        """End the session for good, as the protocol's `bye`."""
        await self.ws.send_str(json.dumps({"v": 1, "type": "bye"}))

    async def latencies(self, frames: int, timeout: float = 20.0) -> list[float]:
        """Receive `frames` frames and return now minus each frame's stamp, in milliseconds."""
        track = await asyncio.wait_for(asyncio.shield(self.track), timeout)

        async def read() -> list[float]:
            out = []
            for _ in range(frames):
                frame = await track.recv()
                out.append(time.time() * 1000 - stamp.read(frame.to_ndarray(format="gray")))
            return out

        return await asyncio.wait_for(read(), timeout)

    async def close(self) -> None:
        """Close cleanly (WebSocket code 1000): the session ends for good."""
        await self.pc.close()
        await self.ws.close()

    async def drop(self, code: int = 1001) -> None:
        """Go away as a closing tab or a broken network does: the session waits to be resumed."""
        await self.pc.close()
        await self.ws.close(code=code)


async def sign_in(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    protocols: tuple[str, ...] = ("nvcf-stream-v1",),
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Open the sign-in WebSocket and read the server's `hello`."""
    ws = await http.ws_connect(url, protocols=protocols, headers=headers)
    msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.TEXT, f"expected hello, got {msg.type} {msg.data!r} {msg.extra!r}"
    hello = json.loads(msg.data)
    assert hello["type"] == "hello", hello
    return ws, hello


async def negotiate(
    ws: aiohttp.ClientWebSocketResponse,
    hello: dict[str, Any],
    *,
    relay_only: bool = False,
    use_ice_servers: bool = True,
    input_channels: bool = False,
    app_channel: bool = False,
    microphone: MediaStreamTrack | None = None,
) -> ScriptedSession:
    """Offer to receive video and apply the answer; media starts flowing after this.

    With `use_ice_servers` False the client ignores the servers in `hello` (host candidates only).
    With `input_channels` the offer carries the two input data channels of protocol.md section 5,
    with `app_channel` the app channel of section 7 (what arrives on it is kept in `app_messages`);
    with `microphone` the client sends that audio track as a page with `mic=1` does.
    """
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in (hello["iceServers"] if use_ice_servers else [])
    ]
    pc = RTCPeerConnection(
        RTCConfiguration(
            iceServers=servers,
            iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL,
        )
    )
    pc.addTransceiver("video", direction="recvonly")
    if microphone is not None:
        pc.addTransceiver(microphone, direction="sendonly")
    channels: dict[str, RTCDataChannel] = {}
    if input_channels:
        channels["input"] = pc.createDataChannel("input")
        channels["input-motion"] = pc.createDataChannel("input-motion", ordered=False, maxRetransmits=0)
    received: list[str] = []
    if app_channel:
        channels["app"] = pc.createDataChannel("app")
        channels["app"].on("message", lambda data: received.append(data if isinstance(data, str) else data.decode()))
    session_track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    pc.on("track", lambda track: session_track.done() or session_track.set_result(track))
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send_str(json.dumps({"v": 1, "type": "offer", "sdp": pc.localDescription.sdp}))
    answer = json.loads((await ws.receive(timeout=10)).data)
    assert answer["type"] == "answer", answer
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return ScriptedSession(
        ws=ws,
        pc=pc,
        hello=hello,
        answer_sdp=answer["sdp"],
        track=session_track,
        channels=channels,
        app_messages=received,
    )


async def open_session(
    http: aiohttp.ClientSession,
    url: str,
    *,
    relay_only: bool = False,
    headers: dict[str, str] | None = None,
    input_channels: bool = False,
    app_channel: bool = False,
    microphone: MediaStreamTrack | None = None,
) -> ScriptedSession:
    """Sign in and negotiate in one step."""
    ws, hello = await sign_in(http, url, headers=headers)
    return await negotiate(
        ws,
        hello,
        relay_only=relay_only,
        input_channels=input_channels,
        app_channel=app_channel,
        microphone=microphone,
    )


def candidate_ports(sdp: str) -> list[tuple[str, int, str]]:
    """(address, port, type) of every candidate line in an SDP."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            out.append((parts[4], int(parts[5]), parts[7]))
    return out
