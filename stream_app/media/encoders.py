"""Our video encoders, installed into aiortc's senders in place of its defaults.

aiortc's own encoders are tuned for video calls (libx264 at the medium preset, 30 fps, 0.5-3 Mbps,
a keyframe every 250 frames; VP8 at 0.25-1.5 Mbps). These keep aiortc's `Encoder` interface
(`encode` runs in aiortc's thread pool, `pack` packetizes pre-encoded data, `target_bitrate` is
set from REMB) but encode for interactive streaming: the source's frame rate, a configurable
bitrate range up to 50 Mbps and more, keyframes on request, and no frame held back for lookahead.
"""

from __future__ import annotations

import fractions
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder as _AiortcH264
from aiortc.codecs.vpx import Vp8Encoder as _AiortcVp8
from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase

from stream_app.media.config import MediaConfig

VIDEO_CLOCK_RATE = 90_000
# Receivers repeat PLI while they wait; honouring each one would make a keyframe storm. A request
# inside this interval after the last keyframe is kept and served when the interval ends.
KEYFRAME_MIN_INTERVAL = 0.2
# VP8 through PyAV cannot change its bitrate while open (libx264 can), so following REMB means
# reopening the encoder, which costs a keyframe: at most this often, and only for a real change.
VP8_REOPEN_MIN_INTERVAL = 2.0
VP8_REOPEN_MIN_CHANGE = 0.15
# See LowLatencyH264Encoder._open: the H.264 VBV buffer holds VBV_FRAMES frames at VBV_RATE.
VBV_RATE = 10_000_000
VBV_FRAMES = 4
# FFmpeg's encoder-stats side data: quality is the quantizer times FF_QP2LAMBDA; the fifth byte
# is the picture type (AV_PICTURE_TYPE_I, P, B...).
_QP2LAMBDA = 118
_PICTURE_TYPES = range(1, 8)
# Largest access unit passed through; an H.264 frame beyond this is almost certainly garbage.
MAX_ACCESS_UNIT = 8 * 1024 * 1024


@dataclass
class EncoderStats:
    """What one sender's encoder has done; written by the encoding thread, read by anyone."""

    codec: str
    target_bitrate: int
    frames_encoded: int = 0
    keyframes: int = 0
    keyframe_requests: int = 0
    reopens: int = 0
    last_encode_ms: float = 0.0
    total_encode_ms: float = 0.0
    width: int = 0
    height: int = 0
    qp: float | None = None  # the encoder's quantizer, averaged over recent frames (None: not reported)

    @property
    def mean_encode_ms(self) -> float:
        return self.total_encode_ms / self.frames_encoded if self.frames_encoded else 0.0


class _VideoEncoder(Encoder):
    """What both codecs share: the bitrate clamp, keyframe requests, timing and pts hygiene."""

    codec_name = ""

    def __init__(self, config: MediaConfig, fps: float) -> None:
        self.config = config
        self.fps = min(float(fps), float(config.max_fps))
        self.stats = EncoderStats(codec=self.codec_name, target_bitrate=config.clamp_bitrate(config.bitrate_start))
        self._lock = threading.Lock()
        self._keyframe_wanted = False
        self._last_keyframe = -1e9
        self._last_pts: int | None = None
        self._context: av.VideoCodecContext | None = None
        # Told every new target (REMB), e.g. so an app's own encoder can follow it in passthrough.
        self.on_target_bitrate: Callable[[int], None] | None = None
        # Told each frame's encode time in seconds, on the encoding thread (the stream app's metrics).
        self.on_encoded: Callable[[float], None] | None = None

    @property
    def target_bitrate(self) -> int:
        """Bits per second the encoder aims for; setting it clamps to the configured range."""
        return self.stats.target_bitrate

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        self.stats.target_bitrate = self.config.clamp_bitrate(bitrate)
        if self.on_target_bitrate is not None:
            self.on_target_bitrate(self.stats.target_bitrate)

    def request_keyframe(self) -> None:
        """Make the next frame a keyframe (rate-limited, see KEYFRAME_MIN_INTERVAL)."""
        with self._lock:
            self._keyframe_wanted = True
            self.stats.keyframe_requests += 1

    def encode(self, frame: av.frame.Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        """Encode one frame into RTP payloads; aiortc calls this in its thread pool."""
        assert isinstance(frame, av.VideoFrame)
        if force_keyframe:
            self.request_keyframe()
        started = time.perf_counter()
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        time_base = frame.time_base or VIDEO_TIME_BASE
        timestamp = convert_timebase(frame.pts, time_base, VIDEO_TIME_BASE) if frame.pts is not None else 0
        # The encoders refuse a pts that does not increase; a repeated capture time must not stop video.
        pts = timestamp if self._last_pts is None or timestamp > self._last_pts else self._last_pts + 1
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        if self._context is not None and (frame.width != self._context.width or frame.height != self._context.height):
            self._context = None  # a new size needs a new encoder, which starts with a keyframe
        opened = self._context is None
        if self._context is None:
            self._context = self._open(frame.width, frame.height, pts, frame)
            self.stats.reopens += 1
            self.stats.width, self.stats.height = frame.width, frame.height
        self._follow_target_bitrate()
        now = time.monotonic()
        with self._lock:
            force = opened or (self._keyframe_wanted and now - self._last_keyframe >= KEYFRAME_MIN_INTERVAL)
            if force:
                self._keyframe_wanted = False
        frame.pict_type = av.video.frame.PictureType.I if force else av.video.frame.PictureType.NONE
        packets = self._context.encode(frame)
        self._follow_qp(packets)
        data = b"".join(bytes(p) for p in packets)
        if any(p.is_keyframe for p in packets):
            self._last_keyframe = now
            self.stats.keyframes += 1
            with self._lock:
                self._keyframe_wanted = False  # a keyframe we made anyway (new encoder, GOP) serves it
        payloads = self._packetize(data) if data else []
        elapsed = (time.perf_counter() - started) * 1000
        self.stats.frames_encoded += 1
        self.stats.last_encode_ms = elapsed
        self.stats.total_encode_ms += elapsed
        if self.on_encoded is not None:
            self.on_encoded(elapsed / 1000)
        return payloads, pts

    def _open(self, width: int, height: int, pts: int, first: av.VideoFrame | None = None) -> av.VideoCodecContext:
        """A new encoder for `width` x `height`, whose first frame will be `first` (at `pts`) if known."""
        raise NotImplementedError

    def _follow_qp(self, packets: list[av.Packet[Any]]) -> None:
        """Average the quantizer FFmpeg reports per packet (its encoder-stats side data): how hard
        the encoder has to squeeze, which the degradation ladder reads."""
        if self.codec_name != "H264":
            return  # VP8's quantizer runs on another scale; the ladder reads H.264's only
        for packet in packets:
            for side_data in packet.iter_sidedata():
                raw = bytes(side_data)
                if len(raw) >= 5 and raw[4] in _PICTURE_TYPES:  # quality (int32 LE), picture type
                    qp = struct.unpack_from("<i", raw)[0] / _QP2LAMBDA
                    self.stats.qp = qp if self.stats.qp is None else self.stats.qp * 0.9 + qp * 0.1

    def _follow_target_bitrate(self) -> None:
        raise NotImplementedError

    def _packetize(self, data: bytes) -> list[bytes]:
        raise NotImplementedError

    def _base_context(self, name: str, width: int, height: int) -> av.VideoCodecContext:
        context = av.CodecContext.create(name, "w")
        assert isinstance(context, av.VideoCodecContext)
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.time_base = VIDEO_TIME_BASE
        context.framerate = fractions.Fraction(self.fps).limit_denominator(1001)
        context.bit_rate = self.target_bitrate
        context.thread_count = self._threads()
        return context

    def _threads(self) -> int:
        if self.config.encoder_threads:
            return self.config.encoder_threads
        cpus = os.cpu_count() or 1
        # On 2 CPUs shared with the app, a second encoder thread waits behind other work and
        # every frame waits for it (VP8 720p p95 went from 11 ms to 270 ms in our measurement).
        return 1 if cpus <= 2 else min(8, cpus // 2)


class LowLatencyH264Encoder(_VideoEncoder):
    """libx264, `tune=zerolatency`, the configured preset, Constrained Baseline for browsers.

    The bitrate follows `target_bitrate` on the open encoder (libx264 reconfigures its rate
    control in place when VBV is on), so REMB never costs a keyframe. `pack` forwards pre-encoded
    Annex B access units (EncodedSource) through the same RTP packetizer.
    """

    codec_name = "H264"

    def _open(self, width: int, height: int, pts: int, first: av.VideoFrame | None = None) -> av.VideoCodecContext:
        context = self._base_context("libx264", width, height)
        context.profile = "Baseline"  # the profile browsers negotiate (42e01f / 42001f)
        ceiling = self.config.bitrate_max
        # libx264 follows a new bit_rate on an open encoder only in CBR mode (opened with
        # bit_rate == maxrate), and only below that maxrate: so open at our ceiling.
        context.bit_rate = ceiling
        keyint = str(self.config.gop) if self.config.gop else "infinite"
        context.options = {
            "preset": self.config.x264_preset,
            "tune": "zerolatency",
            "forced-idr": "1",  # a requested keyframe is an IDR a receiver can start from
            "maxrate": str(ceiling),
            # The VBV buffer bounds the largest frame, and a keyframe is sent as one burst: sized
            # for 50 Mbit/s a 720p keyframe of a textured scene was 205 kB (330 ms on a 5 Mbit/s
            # link). Four frames at VBV_RATE keep it near 30 kB at a 4 Mbit/s target and 77 kB at
            # 17 (31 ms at 20 Mbit/s). Two frames kept it at 35 kB, but starved the rate control:
            # at 14-17 Mbit/s targets the textured scene came out at 10 Mbit/s (15 with four),
            # so a link restored to 20 Mbit/s carried half of it.
            "bufsize": str(int(min(ceiling, VBV_RATE) * VBV_FRAMES / self.fps)),
            # scenecut=0: no extra keyframes at scene changes, they would only spike the bitrate.
            "x264-params": f"keyint={keyint}:min-keyint={self.config.gop or 1}:scenecut=0:bframes=0:cabac=0",
        }
        # A bit_rate change before the first encoded frame leaves libx264 deaf to all later ones
        # (measured with FFmpeg 8 / PyAV 18), and the first frame would be sized for the ceiling.
        # So prime the encoder with a copy of the first frame (output discarded); the caller then
        # sets the real target and forces the first real frame to be an IDR. A copy, not a black
        # frame: after a black primer libx264 took the content for trivial and made the first IDR
        # as large as the VBV buffer lets it (77 kB at a 1.5 Mbit/s target, 300 ms on a 2 Mbit/s link).
        if first is None:
            black = np.zeros((height * 3 // 2, width), dtype=np.uint8)
            black[height:] = 128
            primer = av.VideoFrame.from_ndarray(black, format="yuv420p")
        else:
            primer = av.VideoFrame.from_ndarray(first.to_ndarray(), format="yuv420p")
        primer.pts, primer.time_base = pts - 1, VIDEO_TIME_BASE
        context.encode(primer)
        return context

    def _follow_target_bitrate(self) -> None:
        assert self._context is not None
        if self._context.bit_rate != self.target_bitrate:
            self._context.bit_rate = self.target_bitrate

    def _packetize(self, data: bytes) -> list[bytes]:
        return _AiortcH264._packetize(_AiortcH264._split_bitstream(data))

    def pack(self, packet: av.Packet[Any]) -> tuple[list[bytes], int]:
        """RTP payloads of one pre-encoded Annex B access unit, and its 90 kHz timestamp."""
        assert isinstance(packet, av.Packet)
        data = bytes(packet)
        timestamp = convert_timebase(packet.pts or 0, packet.time_base, VIDEO_TIME_BASE)
        self.stats.frames_encoded += 1
        if packet.is_keyframe:
            self.stats.keyframes += 1
        return self._packetize(data), timestamp


class LowLatencyVp8Encoder(_VideoEncoder):
    """libvpx VP8 with the realtime deadline, high cpu-used, error resilience and no lag."""

    codec_name = "VP8"

    def __init__(self, config: MediaConfig, fps: float) -> None:
        super().__init__(config, fps)
        self._picture_id = 0
        self._opened_at = -1e9

    def _open(self, width: int, height: int, pts: int, first: av.VideoFrame | None = None) -> av.VideoCodecContext:
        context = self._base_context("libvpx", width, height)
        context.gop_size = self.config.gop or (1 << 30)
        context.qmin, context.qmax = 2, 56
        rate = str(self.target_bitrate)
        context.options = {
            "deadline": "realtime",
            "cpu-used": "16",
            "lag-in-frames": "0",
            "error-resilient": "1",
            "auto-alt-ref": "0",
            "keyint_min": str(self.config.gop or (1 << 30)),
            # CBR (minrate = maxrate = bitrate) with a 250 ms buffer: no large frame bursts.
            "minrate": rate,
            "maxrate": rate,
            "bufsize": str(self.target_bitrate // 4),
            "undershoot-pct": "95",
            "overshoot-pct": "15",
            "static-thresh": "1",
        }
        self._opened_at = time.monotonic()
        return context

    def _follow_target_bitrate(self) -> None:
        assert self._context is not None
        current = self._context.bit_rate or self.target_bitrate
        change = abs(self.target_bitrate - current) / current
        if change > VP8_REOPEN_MIN_CHANGE and time.monotonic() - self._opened_at >= VP8_REOPEN_MIN_INTERVAL:
            self._context = self._open(self._context.width, self._context.height, 0)
            self.stats.reopens += 1

    def _packetize(self, data: bytes) -> list[bytes]:
        payloads = _AiortcVp8._packetize(data, self._picture_id)
        self._picture_id = (self._picture_id + 1) % (1 << 15)
        return payloads

    def pack(self, packet: av.Packet[Any]) -> tuple[list[bytes], int]:
        """RTP payloads of one pre-encoded VP8 frame."""
        timestamp = convert_timebase(packet.pts or 0, packet.time_base, VIDEO_TIME_BASE)
        return self._packetize(bytes(packet)), timestamp


def make_video_encoder(codec: str, config: MediaConfig, fps: float) -> LowLatencyH264Encoder | LowLatencyVp8Encoder:
    """Our encoder for a negotiated codec name (`H264` or `VP8`)."""
    if codec.upper() == "H264":
        return LowLatencyH264Encoder(config, fps)
    if codec.upper() == "VP8":
        return LowLatencyVp8Encoder(config, fps)
    raise ValueError(f"no encoder for codec {codec!r}; supported: H264, VP8")


def h264_nvenc_available() -> tuple[bool, str]:
    """Whether NVENC H.264 encoding works here, and why not when it does not.

    PyAV's wheels are built with NVENC, so `av.codec.Codec("h264_nvenc", "w")` succeeds even on a
    machine with no NVIDIA GPU; only opening an encoder tells. Use this before choosing a hardware
    producer for `EncodedSource`.
    """
    try:
        av.codec.Codec("h264_nvenc", "w")
    except Exception as exc:  # PyAV raises several types for an unknown codec
        return False, f"this FFmpeg has no h264_nvenc encoder ({exc})"
    try:
        context = av.CodecContext.create("h264_nvenc", "w")
        context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
        context.time_base = fractions.Fraction(1, 30)
        context.open()
    except Exception as exc:  # no driver, no GPU, or a GPU without NVENC
        return False, f"h264_nvenc cannot open an encoder: {exc}"
    return True, "h264_nvenc works"
