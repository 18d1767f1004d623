"""One streaming session: the signaling conversation over the sign-in WebSocket and its peer connection."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from aiohttp import WSMsgType, web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import candidate_from_sdp

from stream_app import signaling
from stream_app.config import StreamAppConfig
from stream_app.creds import Creds
from stream_app.ice import confine_to_range
from stream_app.ports import PortRangeExhausted

logger = logging.getLogger(__name__)

# WebSocket close codes the stream app uses (docs/protocol.md section 3).
CLOSE_BUSY = 1013
CLOSE_MEDIA_FAILED = 1011


class SessionSlot:
    """The one session the stream app serves at a time (NVCF semantics)."""

    def __init__(self) -> None:
        self._current: StreamingSession | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> StreamingSession | None:
        return self._current

    def claim(self, session: StreamingSession) -> bool:
        """Take the slot for `session`; False when another session holds it."""
        if self._current is not None:
            return False
        self._current = session
        return True

    def release(self, session: StreamingSession) -> None:
        if self._current is session:
            self._current = None


class StreamingSession:
    """Answers the client's offer with a video track and applies its trickled candidates.

    A bad message gets an `error` reply and changes nothing; the session ends when the
    WebSocket closes or the media connection fails, and then releases every port it held.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        config: StreamAppConfig,
        creds: Creds | None,
        make_track: Callable[[], MediaStreamTrack],
    ) -> None:
        self.id = uuid.uuid4().hex
        self._ws = ws
        self._config = config
        self._creds = creds
        self._make_track = make_track
        self._track: MediaStreamTrack | None = None
        self._rtc_config = RTCConfiguration(
            # An explicit list: with None aiortc falls back to a public STUN server.
            iceServers=creds.rtc_ice_servers() if creds else [],
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
        self._pc = self._new_peer_connection()

    def _new_peer_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._rtc_config)
        pc.on("connectionstatechange", self._on_connection_state)
        return pc

    async def run(self) -> None:
        """Talk to the client until the WebSocket closes, then tear everything down."""
        ice_servers = self._creds.ice_servers() if self._creds else []
        await self._ws.send_str(signaling.serialize(signaling.Hello(self.id, ice_servers)))
        try:
            async for msg in self._ws:
                if msg.type is WSMsgType.TEXT:
                    await self._handle_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self._reply_error("bad-message", "binary messages are not part of the signaling protocol")
        finally:
            await self.close()

    async def close(self) -> None:
        await self._pc.close()
        if self._track is not None:
            self._track.stop()
        if not self._ws.closed:
            await self._ws.close()

    async def _reply_error(self, code: str, reason: str) -> None:
        logger.info("session %s: rejected a message (%s): %s", self.id, code, reason)
        if not self._ws.closed:
            await self._ws.send_str(signaling.serialize(signaling.Error(code, reason)))

    async def _handle_text(self, text: str) -> None:
        try:
            message = signaling.parse_client_message(text)
        except signaling.SignalingError as exc:
            await self._reply_error(exc.code, exc.reason)
            return
        if isinstance(message, signaling.Offer):
            await self._handle_offer(message)
        elif isinstance(message, signaling.IceCandidate):
            await self._handle_candidate(message)
        else:
            await self._handle_end_of_candidates()

    async def _handle_offer(self, offer: signaling.Offer) -> None:
        if self._pc.remoteDescription is not None:
            await self._reply_error("bad-state", "an offer was already received in this session")
            return
        if not any(line.startswith("m=video") for line in offer.sdp.splitlines()):
            await self._reply_error("bad-sdp", "the offer has no video media section")
            return
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        except (ValueError, AssertionError, KeyError, IndexError) as exc:  # aiortc's parser asserts
            await self._reply_error("bad-sdp", f"the offer could not be applied: {exc}")
            await self._reset_peer_connection()
            return
        confine_to_range(self._pc, self._config.port_range, self._config.ice_addresses)
        self._track = self._make_track()
        self._pc.addTrack(self._track)
        try:
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        except PortRangeExhausted as exc:
            logger.error("session %s: %s", self.id, exc.strerror)
            await self._reply_error("no-ports", str(exc.strerror))
            await self._ws.close(code=CLOSE_BUSY, message=b"no free media port")
            return
        await self._ws.send_str(signaling.serialize(signaling.Answer(self._pc.localDescription.sdp)))
        logger.info("session %s: answered the offer", self.id)

    async def _reset_peer_connection(self) -> None:
        """After a rejected offer, start over with a fresh peer connection so a retry can work."""
        await self._pc.close()
        self._pc = self._new_peer_connection()

    async def _handle_candidate(self, message: signaling.IceCandidate) -> None:
        if self._pc.remoteDescription is None:
            await self._reply_error("bad-state", "a candidate arrived before the offer")
            return
        text = message.candidate.removeprefix("candidate:")
        if not text:
            return  # An empty candidate is the browser's end-of-candidates marker.
        try:
            candidate = candidate_from_sdp(text)
        except (ValueError, IndexError, AssertionError) as exc:  # aiortc's parser asserts
            await self._reply_error("bad-candidate", f"the candidate could not be parsed: {exc}")
            return
        if candidate.ip.endswith(".local"):
            # Resolving mDNS would bind UDP 5353 outside the port range; the browser's checks
            # reach us anyway and ICE learns its address as peer-reflexive.
            logger.debug("session %s: ignoring mDNS candidate", self.id)
            return
        candidate.sdpMid = message.sdp_mid
        candidate.sdpMLineIndex = message.sdp_mline_index
        try:
            await self._pc.addIceCandidate(candidate)
        except ValueError as exc:
            await self._reply_error("bad-candidate", str(exc))

    async def _handle_end_of_candidates(self) -> None:
        if self._pc.remoteDescription is None:
            await self._reply_error("bad-state", "end of candidates arrived before the offer")
            return
        # aiortc has no public end-of-candidates call; its ICE checks do not wait for it.

    async def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        logger.info("session %s: connection %s", self.id, state)
        if state == "failed" and not self._ws.closed:
            await self._ws.close(code=CLOSE_MEDIA_FAILED, message=b"media connection failed")
