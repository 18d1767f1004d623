"""Two aiortc peer connections on loopback: a server using `attach_media`, a receiving client.

Signaling is in-process (no WebSocket): the client offers recvonly video (and audio) and a data
channel, as the web client does; the server attaches media between applying the offer and
answering. Both gather ICE on 127.0.0.1 only, inside free port ranges.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtp import RTCP_PSFB_APP, RTCP_PSFB_PLI, RtcpPsfbPacket, pack_remb_fci

from benchmarks.ports import free_udp_port_range
from stream_app import stamp
from stream_app.ice import confine_to_range
from stream_app.media import AudioSource, EncodedSource, FrameSource, MediaConfig, MediaSession, attach_media
from stream_app.ports import PortRange


def loopback_pc() -> RTCPeerConnection:
    # An explicit empty server list: with None aiortc would use a public STUN server.
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


@dataclass
class Peers:
    server: RTCPeerConnection
    client: RTCPeerConnection
    media: MediaSession
    answer_sdp: str
    video: MediaStreamTrack
    audio: MediaStreamTrack | None

    @property
    def video_receiver(self) -> RTCRtpReceiver:
        return next(t.receiver for t in self.client.getTransceivers() if t.kind == "video")

    @property
    def sender_ssrc(self) -> int:
        return next(t.sender._ssrc for t in self.server.getTransceivers() if t.kind == "video")

    def answered_video_codec(self) -> str:
        """The codec of the first payload type of the answer's video section."""
        lines = self.answer_sdp.splitlines()
        m_line = next(line for line in lines if line.startswith("m=video"))
        first_pt = m_line.split()[3]
        rtpmap = next(line for line in lines if line.startswith(f"a=rtpmap:{first_pt} "))
        return rtpmap.split()[1].split("/")[0].upper()

    async def frames(self, count: int, timeout: float = 20.0) -> list[av.VideoFrame]:
        async def read() -> list[av.VideoFrame]:
            return [await self.video.recv() for _ in range(count)]

        return await asyncio.wait_for(read(), timeout)

    async def send_pli(self) -> None:
        receiver = self.video_receiver
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_PLI, ssrc=receiver._RTCRtpReceiver__rtcp_ssrc, media_ssrc=self.sender_ssrc
        )
        await receiver._send_rtcp(packet)

    async def send_remb(self, bitrate: int) -> None:
        receiver = self.video_receiver
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=receiver._RTCRtpReceiver__rtcp_ssrc,
            media_ssrc=0,
            fci=pack_remb_fci(bitrate, [self.sender_ssrc]),
        )
        await receiver._send_rtcp(packet)


def _with_video_extensions(sdp: str, extensions: dict[int, str]) -> str:
    lines = sdp.splitlines()
    video = next(i for i, line in enumerate(lines) if line.startswith("m=video"))
    at = next(i for i in range(video, len(lines)) if lines[i].startswith("a="))
    lines[at:at] = [f"a=extmap:{ext_id} {uri}" for ext_id, uri in extensions.items()]
    return "\r\n".join(lines) + "\r\n"


def _with_opus_fec(sdp: str) -> str:
    """The offer with `useinbandfec=1` on its Opus codec, as Chromium offers it."""
    lines = sdp.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lower().startswith("a=rtpmap:") and " opus/" in line.lower())
    payload_type = lines[at].split(":", 1)[1].split()[0]
    lines.insert(at + 1, f"a=fmtp:{payload_type} minptime=10;useinbandfec=1")
    return "\r\n".join(lines) + "\r\n"


def stamp_age_ms(frame: av.VideoFrame) -> float:
    return time.time() * 1000 - stamp.read(frame.to_ndarray(format="gray"))


@asynccontextmanager
async def connected(
    video: FrameSource | EncodedSource,
    audio: AudioSource | None = None,
    config: MediaConfig | None = None,
    *,
    client_codecs: tuple[str, ...] | None = None,
    offer_audio: bool = True,
    offer_video_extensions: dict[int, str] | None = None,
    offer_opus_fec: bool = False,
) -> AsyncIterator[Peers]:
    """A connected pair; `client_codecs` orders the client's offer (setCodecPreferences);
    `offer_video_extensions` ({id: uri}) are added to the offer's video section, and
    `offer_opus_fec` adds `useinbandfec=1` to its Opus, as a browser offers what aiortc's client
    does not."""
    config = config or MediaConfig()
    server, client = loopback_pc(), loopback_pc()
    try:
        video_transceiver = client.addTransceiver("video", direction="recvonly")
        if client_codecs is not None:
            capabilities = RTCRtpReceiver.getCapabilities("video").codecs
            video_transceiver.setCodecPreferences(
                [c for name in client_codecs for c in capabilities if c.mimeType.upper() == f"VIDEO/{name}"]
            )
        if offer_audio:
            client.addTransceiver("audio", direction="recvonly")
        client.createDataChannel("input")
        confine_to_range(client, PortRange(*free_udp_port_range(3)), ("127.0.0.1",))
        await client.setLocalDescription(await client.createOffer())
        offer = client.localDescription
        if offer_video_extensions:
            offer = RTCSessionDescription(_with_video_extensions(offer.sdp, offer_video_extensions), "offer")
        if offer_opus_fec:
            offer = RTCSessionDescription(_with_opus_fec(offer.sdp), "offer")
        await server.setRemoteDescription(offer)
        confine_to_range(server, PortRange(*free_udp_port_range(3)), ("127.0.0.1",))
        media = attach_media(server, video, audio, config)
        await server.setLocalDescription(await server.createAnswer())
        await client.setRemoteDescription(server.localDescription)
        tracks = {t.kind: t.receiver.track for t in client.getTransceivers()}
        yield Peers(
            server=server,
            client=client,
            media=media,
            answer_sdp=server.localDescription.sdp,
            video=tracks["video"],
            audio=tracks.get("audio") if media.audio_track is not None else None,
        )
    finally:
        await client.close()
        await server.close()
