"""One client connection of a session: the signaling over the sign-in WebSocket, its peer
connection, the input data channels and the app channel. The session it belongs to
(`session.AppSession`) outlives it when the client comes back within the resume window."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import candidate_from_sdp
from OpenSSL import SSL

from stream_app import app_messages, input_protocol, signaling
from stream_app.app_channel import AppInbox, ErrorReplies
from stream_app.closecodes import CloseCode
from stream_app.creds import Creds
from stream_app.ice import confine_to_range
from stream_app.input_receiver import InputReceiver
from stream_app.media import MediaNegotiationError, MediaSession, attach_media
from stream_app.media_reports import MediaReporter
from stream_app.microphone import receive_microphone
from stream_app.ports import PortRangeExhausted
from stream_app.session import REASON_CLIENT, AppSession

logger = logging.getLogger(__name__)


class ClientConnection:
    """Answers the client's offer with the app's media and applies its trickled candidates.

    A bad message gets an `error` reply and changes nothing. `run()` returns when the WebSocket
    closes or the client says `bye`; `close()` releases the peer connection and every port.
    """

    def __init__(self, ws: web.WebSocketResponse, session: AppSession, creds: Creds | None, resumed: bool) -> None:
        self.id = session.id
        self._ws = ws
        self._session = session
        self._config = session.config
        self._creds = creds
        self._resumed = resumed
        self._media: MediaSession | None = None
        self._reporter: MediaReporter | None = None
        self._said_bye = False
        self._closed = False
        self._fatal: str | None = None
        self._microphone: asyncio.Task[None] | None = None
        self._input = InputReceiver(
            session.id, session.input_counters, self._config.input_rate, self._config.input_burst
        )
        self._app_channel: RTCDataChannel | None = None
        self._replies = ErrorReplies(session.app_outbox.reply)
        self._app_inbox = AppInbox(
            session.id, session.app_counters, self._replies, self._config.message_rate, self._config.message_burst
        )
        self._rtc_config = RTCConfiguration(
            # An explicit list: with None aiortc falls back to a public STUN server.
            iceServers=creds.rtc_ice_servers() if creds else [],
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
        self._pc = self._new_peer_connection()

    def _new_peer_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._rtc_config)

        async def on_connection_state() -> None:
            await self._on_connection_state(pc)

        pc.on("connectionstatechange", on_connection_state)
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        return pc

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio" or (self._microphone is not None and not self._microphone.done()):
            return
        self._microphone = asyncio.create_task(
            receive_microphone(self.id, track, self._session.deliver_microphone), name=f"microphone {self.id}"
        )

    async def run(self) -> str | None:
        """Talk to the client until the WebSocket closes.

        Returns why the session must end for good (the client's `bye` or close with 1000, or a
        failure that a resume cannot fix), or None when the client was merely lost.
        """
        try:
            return await self._talk()
        except ConnectionResetError as exc:
            # The client went away while we were answering (aiohttp: "Cannot write to closing
            # transport"): an ordinary disconnect, which the resume window is there for.
            logger.info("session %s: client went away mid-answer (%s)", self.id, exc)
            return self._fatal

    async def _talk(self) -> str | None:
        ice_servers = self._creds.ice_servers() if self._creds else []
        hello = signaling.Hello(
            self.id,
            ice_servers,
            resumed=self._resumed,
            ice_transport_policy="relay" if self._config.relay_only else "all",
        )
        if self._config.relay_only and not self._creds:
            logger.warning("session %s: relay-only, but no TURN credentials have been pushed yet", self.id)
        await self._ws.send_str(signaling.serialize(hello))
        async for msg in self._ws:
            if msg.type is WSMsgType.TEXT:
                await self._handle_text(msg.data)
                if self._said_bye:
                    return REASON_CLIENT
            elif msg.type is WSMsgType.BINARY:
                await self._reply_error("bad-message", "binary messages are not part of the signaling protocol")
        if self._fatal is not None:
            return self._fatal
        if not self._closed and self._ws.close_code == CloseCode.NORMAL:
            return REASON_CLIENT
        return None

    @property
    def media(self) -> MediaSession | None:
        """The media sent on this connection, once the offer has been answered."""
        return self._media

    @property
    def peer_connection(self) -> RTCPeerConnection:
        """This connection's peer connection (read-only use: statistics)."""
        return self._pc

    @property
    def ws_closed(self) -> bool:
        """True once the client's WebSocket has closed (the session may not have heard yet)."""
        return self._ws.closed

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close the WebSocket with `code` and `reason`, the peer connection and the media; idempotent."""
        self._closed = True
        self._replies.close()
        if self._app_channel is not None:
            self._session.app_outbox.detach(self._app_channel)
        if self._reporter is not None:
            await self._reporter.stop()
        # The close frame goes out first; waiting for the client's reply to it (up to the
        # WebSocket's close timeout) does not hold up releasing the ports.
        if self._ws.closed:
            await self._pc.close()
        else:
            await asyncio.gather(self._ws.close(code=code, message=reason.encode()), self._pc.close())
        if self._media is not None:
            self._media.close()
        if self._microphone is not None:
            self._microphone.cancel()

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
        if isinstance(message, signaling.Bye):
            self._said_bye = True
        elif isinstance(message, signaling.Offer):
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
        confine_to_range(
            self._pc, self._config.port_range, self._config.ice_addresses, relay_only=self._config.relay_only
        )
        try:
            app = self._session.app
            self._media = attach_media(self._pc, app.video(), app.audio(), self._config.media)
        except MediaNegotiationError as exc:
            await self._reply_error("bad-sdp", str(exc))
            await self._reset_peer_connection()
            return
        except Exception:
            logger.exception("session %s: the app could not provide its media", self.id)
            await self._reply_error("media-failed", "the app could not provide its media")
            self._fatal = "media failed"
            await self._ws.close(code=CloseCode.MEDIA_FAILED, message=b"media failed")
            return
        try:
            await self._pc.setLocalDescription(await self._pc.createAnswer())
        except PortRangeExhausted as exc:
            logger.error("session %s: %s", self.id, exc.strerror)
            await self._reply_error("no-ports", str(exc.strerror))
            self._fatal = "no free media port"
            await self._ws.close(code=CloseCode.BUSY, message=b"no free media port")
            return
        await self._ws.send_str(signaling.serialize(signaling.Answer(self._pc.localDescription.sdp)))
        logger.info("session %s: answered the offer", self.id)
        self._reporter = MediaReporter(self.id, self._media, self._send_report)
        self._reporter.start()

    async def _send_report(self, message: signaling.MediaReport) -> None:
        if not self._ws.closed:
            await self._ws.send_str(signaling.serialize(message))

    async def _reset_peer_connection(self) -> None:
        """After a rejected offer, start over with a fresh peer connection so a retry can work."""
        # The new one first: the old one's `closed` is then ours, not a lost media path.
        old, self._pc = self._pc, self._new_peer_connection()
        await old.close()

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

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        label = channel.label
        if label == app_messages.CHANNEL:
            self._on_app_channel(channel)
            return
        if label not in input_protocol.CHANNELS:
            logger.info("session %s: closing data channel %r, which is neither input nor app", self.id, label)
            channel.close()
            return

        def on_message(data: str | bytes) -> None:
            event = self._input.receive(label, data)
            if event is not None:
                self._session.deliver_input(event)

        channel.on("message", on_message)
        if label == input_protocol.ORDERED_CHANNEL:
            # The key-ups and button-ups travel on this channel: without it nothing held can be let go.
            channel.on("close", self._on_input_channel_closed)

    def _on_input_channel_closed(self) -> None:
        # An old connection closing after a resume must not let go of keys held on the new one.
        if self._session.connection is self:
            self._session.release_held_input()

    def _on_app_channel(self, channel: RTCDataChannel) -> None:
        outbox = self._session.app_outbox
        if self._app_channel is not None:
            logger.info("session %s: closing a second app channel", self.id)
            channel.close()
            return
        self._app_channel = channel

        def on_message(data: str | bytes) -> None:
            message = self._app_inbox.receive(data)
            if message is not None:
                self._session.deliver_message(message)

        channel.on("message", on_message)
        channel.on("close", lambda: outbox.detach(channel))
        if channel.readyState == "open":
            outbox.attach(channel)
        else:
            channel.on("open", lambda: outbox.attach(channel))

    async def _on_connection_state(self, pc: RTCPeerConnection) -> None:
        state = pc.connectionState
        logger.info("session %s: connection %s", self.id, state)
        if pc is not self._pc or self._closed or self._ws.closed:
            return
        # `closed` that we did not ask for: aiortc closes the connection itself when its ICE
        # consent checks (RFC 7675) go unanswered, about 30 s after the path died. Without this a
        # client that never closes its WebSocket would hold the session and its instance. A peer
        # that closed on purpose (its tab closed or reloaded: a DTLS close_notify) is not a lost
        # path: its signaling says what comes next (a resume, or the end of the session).
        if state == "failed" or (state == "closed" and not closed_by_peer(pc)):
            await self._ws.close(code=CloseCode.MEDIA_FAILED, message=b"media connection failed")


def closed_by_peer(pc: RTCPeerConnection) -> bool:
    """Whether the remote end closed the connection on purpose: it sent a DTLS close_notify.

    aiortc closes a peer connection both when the peer shuts DTLS down and when the ICE path dies;
    only the first leaves OpenSSL's received-shutdown flag set (`RTCDtlsTransport._ssl`, private:
    pyproject pins aiortc to a minor that has it).
    """
    transports = {t.sender.transport for t in pc.getTransceivers()}
    if pc.sctp is not None:
        transports.add(pc.sctp.transport)
    for dtls in transports:
        connection = getattr(dtls, "_ssl", None)
        if connection is not None and connection.get_shutdown() & SSL.RECEIVED_SHUTDOWN:
            return True
    return False
