"""Our Opus encoder: in-band forward error correction that follows the link's loss.

A lost audio packet is otherwise concealed (the decoder extrapolates the last 20 ms), which on a
voice or a game's effects is an audible smear. With in-band FEC, each packet also carries a
low-bitrate copy of the one before it (SILK's LBRR frame), and the browser's NetEq rebuilds a lost
packet from the next one. Chromium offers `useinbandfec=1` in its Opus `fmtp` (RFC 7587: it can
decode FEC); only then is the copy worth its bits.

libopus sizes the copy by an expected-loss hint, and with the hint at 0 it sends none: so, as
libwebrtc does, the hint follows the loss the link shows (`FecLossHint`, pure), and a clean link
keeps CELT's full quality. With loss, libopus itself decides whether the content is speech-like
enough to switch to hybrid mode and carry copies. PyAV cannot change libopus' options on an open
encoder, so a new hint means a new libopus context (at most once a second, rarely: the hint moves
in steps); the RTP timestamp is our own count of samples, so it runs on across the change.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass
from typing import Any

from aiortc.codecs.base import Encoder
from av import AudioFrame, AudioResampler, CodecContext

__all__ = ["FecLossHint", "OpusFecEncoder", "opus_options"]

SAMPLE_RATE = 48_000
SAMPLES_PER_PACKET = 960  # 20 ms
BITRATE = 96_000  # aiortc's
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
# Expected-loss hints (percent) libopus is given: the measured loss rounded down to one of these.
HINT_STEPS = (0, 1, 5, 10, 20)


def opus_options(expected_loss_percent: int) -> dict[str, str]:
    """libopus options (FFmpeg's names): aiortc's `voip` application, plus FEC sized for the loss."""
    options = {"application": "voip"}
    if expected_loss_percent > 0:
        options |= {"fec": "1", "packet_loss": str(expected_loss_percent)}
    return options


@dataclass
class FecLossHint:
    """The expected-loss hint (percent) for libopus from the measured loss: up at once, down only
    after `down_after_s` below the current step, and changed at most every `min_interval_s`."""

    down_after_s: float = 5.0
    min_interval_s: float = 1.0
    percent: int = 0
    _below_since: float | None = None
    _changed_at: float = -1e9

    def update(self, loss_fraction: float, now: float) -> int:
        """The hint for `loss_fraction` (0..1) measured now."""
        wanted = max(step for step in HINT_STEPS if step <= max(loss_fraction, 0.0) * 100)
        if wanted >= self.percent:
            self._below_since = None
        elif self._below_since is None:
            self._below_since = now
        lower = self._below_since is not None and now - self._below_since >= self.down_after_s
        if (wanted > self.percent or lower) and now - self._changed_at >= self.min_interval_s:
            self.percent, self._changed_at, self._below_since = wanted, now, None
        return self.percent


class OpusFecEncoder(Encoder):
    """48 kHz stereo Opus at 96 kbit/s in 20 ms packets (aiortc's format), with in-band FEC sized by
    `expected_loss_percent`, which the sender sets from the loss it measures."""

    def __init__(self) -> None:
        self.expected_loss_percent = 0
        self.rebuilds = 0  # libopus contexts opened after the first (a hint change)
        self._resampler = AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE, frame_size=SAMPLES_PER_PACKET)
        self._open_percent = 0
        self._codec = self._open(0)
        self._timestamp = 0

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        """20 ms packets for `frame` (aiortc runs this in its thread pool) and the first's timestamp."""
        if not isinstance(frame, AudioFrame):
            raise TypeError(f"Opus encodes audio frames, not {type(frame).__name__}")
        if self.expected_loss_percent != self._open_percent:
            self._codec = self._open(self.expected_loss_percent)
            self.rebuilds += 1
        packets: list[bytes] = []
        for resampled in self._resampler.resample(frame):
            packets += [bytes(p) for p in self._codec.encode(resampled)]
        if not packets:
            return [], self._timestamp  # libopus holds its lookahead before the first packet
        timestamp = self._timestamp
        self._timestamp += SAMPLES_PER_PACKET * len(packets)
        return packets, timestamp

    def pack(self, packet: Any) -> tuple[list[bytes], int]:
        raise NotImplementedError("pre-encoded audio is not supported")

    def _open(self, percent: int) -> Any:
        codec = CodecContext.create("libopus", "w")
        codec.bit_rate = BITRATE
        codec.format = "s16"
        codec.layout = "stereo"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = TIME_BASE
        codec.options = opus_options(percent)
        self._open_percent = percent
        return codec
