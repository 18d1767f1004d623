"""Answering what the browser's offer has and aiortc does not: header extensions and RTCP feedback.

aiortc answers only the RTP header extensions and RTCP feedback types it knows itself. Chromium
offers more (playout delay, transport-wide sequence numbers, `transport-cc` feedback); these
functions add one of them to a transceiver's negotiated parameters, with the id the offer gave it,
after `setRemoteDescription(offer)` and before `createAnswer()`, so the answer carries it and the
sender's parameters list it. Nothing module-wide in aiortc is changed.
"""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.sdp import MediaDescription, SessionDescription


def answer_header_extension(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, uri: str) -> int | None:
    """Negotiate the header extension `uri` on `transceiver` when the remote offer has it.

    Returns the extension's id, or None (and changes nothing) when the offer does not offer it for
    this transceiver's media section.
    """
    offered = _offered_extension_id(pc, transceiver, uri)
    if offered is None:
        return None
    negotiated: list[RTCRtpHeaderExtensionParameters] = transceiver._headerExtensions
    for extension in negotiated:
        if extension.uri == uri:
            return int(extension.id)
    negotiated.append(RTCRtpHeaderExtensionParameters(id=offered, uri=uri))
    return offered


def answer_rtcp_feedback(transceiver: RTCRtpTransceiver, feedback_type: str, offered: set[str]) -> bool:
    """Add RTCP feedback `feedback_type` to every negotiated media codec when `offered` has it."""
    if feedback_type not in offered:
        return False
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    for codec in codecs:
        if not is_rtx(codec) and not any(f.type == feedback_type for f in codec.rtcpFeedback):
            codec.rtcpFeedback.append(RTCRtcpFeedback(type=feedback_type))
    return True


def offered_rtcp_feedback(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver) -> set[str]:
    """The RTCP feedback types (`nack`, `transport-cc`, ...) the offer lists for this media section."""
    media = _offered_media(pc, transceiver)
    if media is None:
        return set()
    return {feedback.type for codec in media.rtp.codecs for feedback in codec.rtcpFeedback}


def offered_codec_parameters(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, name: str) -> dict[str, object]:
    """The `fmtp` parameters the offer gives the first codec called `name` (case-insensitive) in
    this media section; empty when it has none or no such codec. aiortc's negotiated codecs carry
    its own parameters, not the offer's."""
    media = _offered_media(pc, transceiver)
    if media is None:
        return {}
    for codec in media.rtp.codecs:
        if codec.name.lower() == name.lower():
            return dict(codec.parameters)
    return {}


def _offered_extension_id(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, uri: str) -> int | None:
    media = _offered_media(pc, transceiver)
    if media is None:
        return None
    for extension in media.rtp.headerExtensions:
        if extension.uri == uri:
            return int(extension.id)
    return None


def _offered_media(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver) -> MediaDescription | None:
    description = pc.remoteDescription
    if description is None or description.type != "offer":
        return None
    for media in SessionDescription.parse(description.sdp).media:
        if media.kind == transceiver.kind and (transceiver.mid is None or media.rtp.muxId == transceiver.mid):
            return media
    return None
