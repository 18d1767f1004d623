"""The playout-delay RTP header extension: ask the browser to show each frame as soon as it is decoded.

`http://www.webrtc.org/experiments/rtp-hdrext/playout-delay` carries the sender's wish for the
receiver's playout delay as two 12-bit numbers of 10 ms units, minimum then maximum (3 bytes). A
browser that gets min 0 and max 0 renders every frame as soon as it is decoded ("render ASAP")
instead of scheduling it after its jitter estimate plus a fixed render delay; a small non-zero
maximum selects its low-latency renderer, which still smooths a little. The page alone cannot ask
for either: `RTCRtpReceiver.jitterBufferTarget = 0` lowers only the minimum.

Chromium offers the extension in every video section; aiortc neither answers nor writes it. For one
peer connection, `offer_playout_delay` adds it to the video transceiver's negotiated extensions (so
the answer carries it) and gives that transceiver's sender an extensions map that writes it into
every RTP packet. Nothing module-wide in aiortc is changed.
"""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, pack_header_extensions, unpack_header_extensions

from stream_app.media.config import PLAYOUT_DELAY_MAX_MS
from stream_app.media.negotiation import answer_header_extension

URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
UNIT_MS = 10
MAX_MS = PLAYOUT_DELAY_MAX_MS

# aiortc keeps a sender's header extension map in this private attribute; pyproject pins aiortc to
# releases that do (see also attach._SENDER_ENCODER).
_SENDER_MAP = "_RTCRtpSender__rtp_header_extensions_map"


def encode(min_ms: int, max_ms: int) -> bytes:
    """The extension's 3 bytes for a delay between `min_ms` and `max_ms` (rounded up to 10 ms)."""
    if not 0 <= min_ms <= max_ms <= MAX_MS:
        raise ValueError(f"playout delay must satisfy 0 <= min <= max <= {MAX_MS} ms, got {min_ms}, {max_ms}")
    low, high = -(-min_ms // UNIT_MS), -(-max_ms // UNIT_MS)
    return ((low << 12) | high).to_bytes(3, "big")


def decode(value: bytes) -> tuple[int, int]:
    """(min_ms, max_ms) from the extension's 3 bytes."""
    if len(value) != 3:
        raise ValueError(f"a playout delay is 3 bytes, got {len(value)}")
    number = int.from_bytes(value, "big")
    return (number >> 12) * UNIT_MS, (number & 0xFFF) * UNIT_MS


class PlayoutDelayExtensionsMap(HeaderExtensionsMap):
    """aiortc's map for one sender, plus the playout-delay extension on every packet it writes."""

    def __init__(self, value: bytes) -> None:
        super().__init__()
        self.value = value
        self.id: int | None = None

    def configure(self, parameters: RTCRtpParameters) -> None:
        super().configure(parameters)
        for extension in parameters.headerExtensions:
            if extension.uri == URI:
                self.id = extension.id

    def set(self, values: HeaderExtensions) -> tuple[int, bytes]:
        profile, data = super().set(values)
        if self.id is None:
            return profile, data
        extensions = unpack_header_extensions(profile, data) if data else []
        extensions.append((self.id, self.value))
        return pack_header_extensions(extensions)


def offer_playout_delay(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, min_ms: int, max_ms: int) -> bool:
    """Negotiate the extension on `transceiver` when the remote offer has it, and send it.

    Call after `setRemoteDescription(offer)` and before `createAnswer()`. Returns False (and changes
    nothing) when the offer does not offer the extension for this transceiver's media section.
    """
    value = encode(min_ms, max_ms)
    if not hasattr(transceiver.sender, _SENDER_MAP):
        raise RuntimeError("this aiortc keeps its header extension map elsewhere; stream_app.media needs aiortc 1.16")
    if answer_header_extension(pc, transceiver, URI) is None:
        return False
    setattr(transceiver.sender, _SENDER_MAP, PlayoutDelayExtensionsMap(value))
    return True
