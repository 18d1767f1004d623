"""Attaching our sources and encoders to a peer connection that has the client's offer applied."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcpeerconnection import filter_preferred_codecs
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpSendParameters

from stream_app.media.audio_encoder import OpusFecEncoder
from stream_app.media.audio_source import AudioSource
from stream_app.media.config import MediaConfig
from stream_app.media.encoded_source import EncodedSource
from stream_app.media.encoders import LowLatencyH264Encoder, LowLatencyVp8Encoder, make_video_encoder
from stream_app.media.negotiation import (
    answer_header_extension,
    answer_rtcp_feedback,
    offered_codec_parameters,
    offered_rtcp_feedback,
)
from stream_app.media.playout_delay import offer_playout_delay
from stream_app.media.transport_cc import URI as TRANSPORT_CC_URI
from stream_app.media.video_sender import CongestionStats, VideoSender
from stream_app.media.video_source import FrameSource

logger = logging.getLogger(__name__)

# aiortc keeps a sender's encoder in this private attribute (RTCRtpSender.__encoder) and only
# creates its own default when it is None; pyproject pins aiortc to releases that do this.
_SENDER_ENCODER = "_RTCRtpSender__encoder"


class MediaNegotiationError(ValueError):
    """The client's offer cannot carry our media (no video section, or no codec we allow)."""


@dataclass(frozen=True)
class MediaStats:
    """A snapshot of one session's media pipeline."""

    codec: str  # video codec the sender uses: H264 or VP8
    passthrough: bool  # True for an EncodedSource (no encoding here)
    frames_delivered: int  # frames (or access units) the sender took from the source
    frames_dropped: int  # frames dropped before encoding (newest wins) or access units skipped
    frames_encoded: int  # frames encoded (or access units packetized)
    keyframes: int
    keyframe_requests: int  # PLI/FIR from the receiver, plus our own at start
    target_bitrate: int  # bps, after the receiver's REMB and our clamp
    encode_ms_last: float
    encode_ms_mean: float
    width: int
    height: int
    audio: bool  # an audio track is attached
    audio_fec_percent: int | None  # Opus FEC's expected-loss hint now; None: no FEC (not offered, or off)
    congestion: CongestionStats | None  # None with congestion_control=legacy


class MediaSession:
    """The media side of one peer connection, as returned by `attach_media`."""

    def __init__(
        self,
        video: FrameSource | EncodedSource,
        video_track: MediaStreamTrack,
        encoder: LowLatencyH264Encoder | LowLatencyVp8Encoder,
        audio_track: MediaStreamTrack | None,
    ) -> None:
        self.video = video
        self.video_track = video_track
        self.audio_track = audio_track
        self.encoder = encoder
        self.playout_delay = False  # the playout-delay extension was negotiated and is sent
        self.transport_cc = False  # transport-wide sequence numbers and feedback were negotiated
        self.video_sender: VideoSender | None = None  # the paced loop, once the sender started
        self.audio_encoder: OpusFecEncoder | None = None  # ours, when Opus FEC was negotiated
        self._closed = False

    @property
    def codec(self) -> str:
        """The negotiated video codec (H264 or VP8)."""
        return self.encoder.codec_name

    def stats(self) -> MediaStats:
        """Counters and the current bitrate target; cheap, call as often as you like."""
        encoder_stats = self.encoder.stats
        track = self.video_track
        return MediaStats(
            codec=self.codec,
            passthrough=isinstance(self.video, EncodedSource),
            frames_delivered=getattr(track, "delivered", 0),
            frames_dropped=getattr(track, "dropped", 0),
            frames_encoded=encoder_stats.frames_encoded,
            keyframes=encoder_stats.keyframes,
            keyframe_requests=encoder_stats.keyframe_requests,
            target_bitrate=encoder_stats.target_bitrate,
            encode_ms_last=encoder_stats.last_encode_ms,
            encode_ms_mean=encoder_stats.mean_encode_ms,
            width=encoder_stats.width,
            height=encoder_stats.height,
            audio=self.audio_track is not None,
            audio_fec_percent=self.audio_encoder.expected_loss_percent if self.audio_encoder else None,
            congestion=self.video_sender.stats() if self.video_sender is not None else None,
        )

    def request_keyframe(self) -> None:
        """Make the next video frame a keyframe (asks the producer in passthrough)."""
        self.encoder.request_keyframe()
        if isinstance(self.video, EncodedSource):
            self.video.request_keyframe()

    def close(self) -> None:
        """Stop this session's tracks and detach them from their sources; idempotent.

        Closing the peer connection stops them as well; this is for ending media earlier.
        """
        if self._closed:
            return
        self._closed = True
        self.video_track.stop()
        if self.audio_track is not None:
            self.audio_track.stop()


def attach_media(
    pc: RTCPeerConnection,
    video: FrameSource | EncodedSource,
    audio: AudioSource | None,
    config: MediaConfig,
) -> MediaSession:
    """Send `video` (and `audio`) on the transceivers the client's offer created, with our encoders.

    Call after `pc.setRemoteDescription(offer)` and before `pc.createAnswer()`. The first video
    transceiver becomes sendonly with a fresh track of `video`; its codecs are narrowed to those we
    allow (`config.codecs` for a FrameSource, H264 only for an EncodedSource) and ordered by the
    client's offer or by `config.codecs` (`config.codec_order`), so the answer names the codec the
    sender uses first. The first audio transceiver, if any and if `audio` is given, sends Opus.
    Raises `MediaNegotiationError` when the offer cannot carry the video.
    """
    if isinstance(video, FrameSource) and video.fps > config.max_fps:
        raise ValueError(f"the source's {video.fps:g} fps is above max_fps {config.max_fps}")
    video_transceiver = _first_transceiver(pc, "video")
    if video_transceiver is None:
        raise MediaNegotiationError("the offer has no video media section")
    allowed = ("H264",) if isinstance(video, EncodedSource) else config.codecs
    chosen = _narrow_codecs(video_transceiver, allowed, config.codec_order == "client")
    fps = video.fps if isinstance(video, FrameSource) else float(config.max_fps)
    encoder = make_video_encoder(chosen, config, fps)
    if isinstance(video, EncodedSource):
        source = video

        def tell_producer(bitrate: int) -> None:
            if source.on_target_bitrate is not None:
                source.on_target_bitrate(bitrate)

        encoder.on_target_bitrate = tell_producer
    video_track = video.track()
    _send_on(video_transceiver, video_track)
    session = MediaSession(video, video_track, encoder, None)
    if config.congestion_control == "transport-cc":
        session.transport_cc = _offer_transport_cc(pc, video_transceiver)
    _install_encoder(video_transceiver.sender, session, config, fps)
    if config.playout_delay_ms is not None:
        session.playout_delay = offer_playout_delay(pc, video_transceiver, 0, config.playout_delay_ms)

    if audio is not None:
        audio_transceiver = _first_transceiver(pc, "audio")
        if audio_transceiver is None:
            logger.info("the offer has no audio media section; sending video only")
        else:
            _narrow_codecs(audio_transceiver, ("OPUS",), prefer_offer_order=True)
            session.audio_track = audio.track()
            _send_on(audio_transceiver, session.audio_track)
            fec_offered = offered_codec_parameters(pc, audio_transceiver, "opus").get("useinbandfec") == 1
            if config.audio_fec and fec_offered:
                session.audio_encoder = OpusFecEncoder()
                _set_encoder(audio_transceiver.sender, session.audio_encoder)
    logger.info(
        "media: %s video%s%s, %s",
        session.codec,
        (" and Opus audio" + (" (in-band FEC)" if session.audio_encoder else "")) if session.audio_track else "",
        f", playout delay 0-{config.playout_delay_ms} ms asked" if session.playout_delay else "",
        _rate_control_words(config, session),
    )
    return session


def _offer_transport_cc(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver) -> bool:
    """Answer the offer's transport-wide sequence numbers and `transport-cc` feedback, if both are there."""
    offered = offered_rtcp_feedback(pc, transceiver)
    if "transport-cc" not in offered or answer_header_extension(pc, transceiver, TRANSPORT_CC_URI) is None:
        return False
    return answer_rtcp_feedback(transceiver, "transport-cc", offered)


def _rate_control_words(config: MediaConfig, session: MediaSession) -> str:
    if config.congestion_control == "legacy":
        return "aiortc's own loop (REMB, unpaced)"
    feedback = "transport-cc feedback" if session.transport_cc else "REMB (no transport-cc offered)"
    return f"paced, rate from {feedback}, degradation {config.degradation}"


def _first_transceiver(pc: RTCPeerConnection, kind: str) -> RTCRtpTransceiver | None:
    for transceiver in pc.getTransceivers():
        # The offer's direction as seen from here (aiortc keeps it privately): `recvonly` is a
        # section the client only sends on, such as its microphone; nothing can be sent there.
        receive_only = getattr(transceiver, "_offerDirection", None) == "recvonly"
        free = not transceiver.stopped and transceiver.sender.track is None
        if transceiver.kind == kind and free and not receive_only:
            return transceiver
    return None


def _send_on(transceiver: RTCRtpTransceiver, track: MediaStreamTrack) -> None:
    transceiver.sender.replaceTrack(track)
    transceiver.direction = "sendonly"


def _narrow_codecs(transceiver: RTCRtpTransceiver, allowed: tuple[str, ...], prefer_offer_order: bool) -> str:
    """Keep only `allowed` codecs (and their RTX) in the transceiver's negotiated list, ordered;
    returns the name of the codec the sender will use."""
    # setRemoteDescription already intersected our codecs with the offer, in the offer's order.
    negotiated: list[RTCRtpCodecParameters] = transceiver._codecs
    offered = [c for c in negotiated if not is_rtx(c)]
    usable = [c for c in offered if c.name.upper() in allowed]
    if not usable:
        names = ", ".join(dict.fromkeys(c.name for c in offered)) or "none"
        raise MediaNegotiationError(
            f"the offer's {transceiver.kind} codecs ({names}) include none we allow ({', '.join(allowed)})"
        )
    if not prefer_offer_order:
        usable.sort(key=lambda c: allowed.index(c.name.upper()))  # stable: offer order within a codec
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    preferences = [_capability(c, capabilities) for c in usable]
    preferences += [c for c in capabilities if is_rtx(c)]
    # Future offers (renegotiation) use these; the current one is narrowed by hand below because
    # aiortc applies preferences only inside setRemoteDescription, which has already run.
    transceiver.setCodecPreferences(preferences)
    transceiver._codecs = filter_preferred_codecs(negotiated, preferences)
    return str(usable[0].name.upper())


def _capability(codec: RTCRtpCodecParameters, capabilities: list[RTCRtpCodecCapability]) -> RTCRtpCodecCapability:
    for capability in capabilities:
        if capability.mimeType.lower() == codec.mimeType.lower() and capability.parameters == codec.parameters:
            return capability
    raise MediaNegotiationError(f"codec {codec.mimeType} {codec.parameters} is not one aiortc can send")


def _set_encoder(sender: RTCRtpSender, encoder: OpusFecEncoder) -> None:
    """Make `sender` encode with `encoder` instead of creating aiortc's default when it starts."""
    if not hasattr(sender, _SENDER_ENCODER):
        raise RuntimeError("this aiortc keeps its sender encoder elsewhere; stream_app.media needs aiortc 1.16")
    setattr(sender, _SENDER_ENCODER, encoder)


def _install_encoder(sender: RTCRtpSender, session: MediaSession, config: MediaConfig, fps: float) -> None:
    """Make this one sender use `session.encoder` and tell our side about keyframe requests.

    Both hooks are instance attributes of this sender: no aiortc module global is touched, so
    other peer connections (and aiortc's own tests) keep aiortc's behaviour.
    """
    if not hasattr(sender, _SENDER_ENCODER):
        raise RuntimeError("this aiortc keeps its sender encoder elsewhere; stream_app.media needs aiortc 1.16")
    original_send: Callable[[RTCRtpSendParameters], Awaitable[None]] = sender.send
    original_keyframe: Callable[[], None] = sender._send_keyframe

    async def send(parameters: RTCRtpSendParameters) -> None:
        # aiortc's RTP loop sends with parameters.codecs[0]; our encoder must match that codec
        # even if negotiation ended somewhere other than where attach_media pointed it.
        codec = parameters.codecs[0].name.upper()
        if codec != session.encoder.codec_name:
            logger.warning("sender uses %s, not %s as attached; switching encoders", codec, session.encoder.codec_name)
            replacement = make_video_encoder(codec, config, fps)
            replacement.on_target_bitrate = session.encoder.on_target_bitrate
            session.encoder = replacement
        if getattr(sender, _SENDER_ENCODER) is None:
            setattr(sender, _SENDER_ENCODER, session.encoder)
        if config.congestion_control == "transport-cc" and session.video_sender is None:
            session.video_sender = VideoSender(sender, session, config, fps, transport_cc=session.transport_cc)
            session.video_sender.install()  # before aiortc's send starts the RTP loop
        await original_send(parameters)

    def send_keyframe() -> None:
        original_keyframe()  # aiortc passes this to encode() as force_keyframe
        if isinstance(session.video, EncodedSource):
            session.encoder.stats.keyframe_requests += 1
            session.video.request_keyframe()  # encode() is not called in passthrough

    hooks: dict[str, Any] = {"send": send, "_send_keyframe": send_keyframe}
    for name, hook in hooks.items():
        setattr(sender, name, hook)
