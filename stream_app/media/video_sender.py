"""The video sender's RTP loop with congestion control: a thin shell over aiortc's RTCRtpSender.

aiortc's own loop takes a frame, encodes it and writes all its packets at once, and follows only
the receiver's REMB estimate. This loop, installed on one sender (instance attributes only, as
`attach._install_encoder` does), keeps aiortc's packetization, SRTP, RTCP reports and keyframe
handling, and adds what a narrow or lossy link needs:

- every packet carries a transport-wide sequence number (when the browser offered `transport-cc`),
  the browser reports when each one arrived (RTCP transport feedback), and `rate_control`'s
  send-side estimator turns those reports into a target bitrate for the encoder;
- packets leave through `pacer.Pacer` at the pacing rate, retransmissions first, with probe
  clusters padded by retransmitting recent packets on RTX;
- a frame is not encoded while the pacer still holds more than a frame interval of older video
  (it would only arrive later than the next one): the newest frame wins, as at the source;
- a NACKed packet is retransmitted only while it can still help (`RETRANSMIT_MAX_AGE`), once per
  round trip, and within a retransmission budget;
- the degradation ladder (`degradation.py`) lowers frame rate or resolution when the estimate
  cannot carry the source at a sane quality.

The decisions live in the pure modules; this file only moves packets, times and numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import av
from aiortc import RTCRtpSender, clock
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
    wrap_rtx,
)
from aiortc.utils import random16, random32, uint16_add, uint32_add

from stream_app.media.audio_encoder import FecLossHint
from stream_app.media.degradation import DegradationLadder, Step
from stream_app.media.pacer import Pacer, Priority, Queued
from stream_app.media.rate_control import Estimate, RateControlConfig, SendSideEstimator
from stream_app.media.rate_meter import RateMeter
from stream_app.media.recovery_ceiling import RecoveryCeiling
from stream_app.media.repair import KeyframeGate
from stream_app.media.send_rate import RETRANSMIT_WINDOW_S, media_bitrate
from stream_app.media.transport_cc import SendHistory, TransportFeedback, iter_feedback

if TYPE_CHECKING:
    from stream_app.media.attach import MediaSession
    from stream_app.media.config import MediaConfig

logger = logging.getLogger(__name__)

# How often the estimator's clock ticks (time-based growth, probes) and the target is applied.
TICK = 0.025
# A NACKed packet older than this is not sent again: by then the receiver has asked for a
# keyframe, or the frame would be shown so late that skipping to the next is better.
RETRANSMIT_MAX_AGE = 0.5
# Retransmissions may use at most this share of the target on top of it.
RETRANSMIT_SHARE = 0.5
# Packets kept for retransmission and padding (about 1 s of 20 Mbit/s video).
HISTORY_PACKETS = 2048
# The ladder treats the content as the limit while the encoder makes less than this share of its
# target over the last OUTPUT_WINDOW seconds.
CONTENT_LIMITED_SHARE = 0.7
OUTPUT_WINDOW = 1.0
# ...or while its quantizer stays below this: the picture is fine at this bitrate (libwebrtc's
# quality scaler lowers resolution for H.264 above a QP of 37 and raises it below 24).
CONTENT_LIMITED_QP = 30.0
# ...or while the link has shown no congestion (delay overuse, or loss above 2%) for this long: a
# low estimate the link never pushed down is the content's, not the link's.
CONGESTION_MEMORY = 5.0
CONGESTION_LOSS = 0.02
# A frame is skipped while the pacer still needs longer than this many frame intervals for the
# video already queued (a keyframe may take a few; a steady excess means the target is too high).
QUEUE_FRAMES = 1.5
PADDING_PACKET = 1000  # bytes of RTX padding per probe packet, at most

_RTCP_RR_LOSS_SCALE = 256

_PRIVATE = "_RTCRtpSender__"


@dataclass(frozen=True)
class CongestionStats:
    """What the congestion control is doing, for the stats overlay, the logs and the metrics."""

    transport_cc: bool  # the browser reports arrivals (else REMB is followed)
    estimate_bitrate: int  # the estimator's target
    target_bitrate: int  # what the encoder is asked for (the estimate less what audio and RTX need)
    pacing_bitrate: int
    acknowledged_bitrate: int
    delay_state: str
    limited_by: str
    loss_fraction: float
    rtt_ms: float
    pacer_queue_ms: float
    frames_skipped_congestion: int  # not encoded because the pacer held older video
    retransmissions: int
    retransmissions_refused: int  # too old, too soon again, or over the budget
    probes: int
    width: int
    height: int
    fps: float  # the frame rate the degradation ladder allows now


@dataclass
class _Sent:
    packet: RtpPacket
    first_sent: float
    last_sent: float


class _Budget:
    """A token bucket of bytes per second for retransmissions."""

    def __init__(self, now: float) -> None:
        self.rate = 0.0
        self.tokens = 0.0
        self.updated = now

    def take(self, size: int, now: float) -> bool:
        self.tokens = min(self.tokens + (now - self.updated) * self.rate, self.rate * 0.25)
        self.updated = now
        if self.tokens < size:
            return False
        self.tokens -= size
        return True


class VideoSender:
    """Congestion-controlled sending for one aiortc video sender; see the module docstring."""

    def __init__(
        self,
        sender: RTCRtpSender,
        session: MediaSession,
        config: MediaConfig,
        source_fps: float,
        *,
        transport_cc: bool,
        clock_: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sender = sender
        self.session = session
        self.config = config
        self.transport_cc = transport_cc
        self.now = clock_
        now = clock_()
        self.estimator = SendSideEstimator(
            RateControlConfig(
                min_bitrate=config.bitrate_min, start_bitrate=config.bitrate_start, max_bitrate=config.bitrate_max
            ),
        )
        self.estimate: Estimate | None = None
        self.history = SendHistory()
        self.pacer: Pacer[RtpPacket] = Pacer(int(config.bitrate_start * 2.5), now)
        self.ladder = DegradationLadder(config.degradation, source_fps)
        self.step: Step = self.ladder.step
        self._wake = asyncio.Event()
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._rtx_sequence = random16()
        self._retransmit_budget = _Budget(now)
        self._retransmitted = RateMeter(RETRANSMIT_WINDOW_S)  # RTX sent: the encoder gets the target less this
        self._skipped = 0
        self._retransmissions = 0
        self._refused = 0
        self._probes = 0
        self._source_fps = source_fps
        self._source_pixels = 0
        self.recovery = RecoveryCeiling()
        self._audio_fec = FecLossHint()  # the same path's loss sizes the audio's in-band FEC
        self._recovery_bound = False  # the recovery ceiling, not the estimate, sets the encoder's target
        self._encoder_target = 0
        self._output: deque[tuple[float, int]] = deque()  # (when, bytes) of each encoded frame
        self._keyframes = KeyframeGate()
        self._first_output: float | None = None
        self._congested_at = -1e9  # when the link last showed congestion
        self._next_frame_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    # --- installation -------------------------------------------------------------------------

    def install(self) -> None:
        """Take over the sender's RTP loop, its NACK and REMB handling, and the transport's feedback."""
        sender: Any = self.sender
        sender._run_rtp = self._run_rtp
        sender._retransmit = self._retransmit
        original_rtcp: Callable[[AnyRtcpPacket], Awaitable[None]] = sender._handle_rtcp_packet

        async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                self._on_remb(packet)
                return  # not aiortc's: it would set the encoder's target behind the estimator's back
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt != RTCP_RTPFB_NACK:
                return  # transport feedback is read from the raw datagram (aiortc parses it as a NACK)
            await original_rtcp(packet)
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                self._on_receiver_reports(packet)

        sender._handle_rtcp_packet = handle_rtcp_packet

    def _install_feedback(self) -> None:
        transport: Any = self.sender.transport
        original: Callable[[bytes], Awaitable[None]] = transport._handle_rtcp_data
        if getattr(original, "_stream_app_feedback", False):
            return

        async def handle_rtcp_data(data: bytes) -> None:
            try:
                for feedback in iter_feedback(data):
                    self._on_transport_feedback(feedback)
            except ValueError as exc:
                logger.debug("unreadable transport feedback: %s", exc)
            except Exception:  # a bug of ours must not end the transport's receive loop
                logger.exception("transport feedback handling failed")
            await original(data)

        handle_rtcp_data._stream_app_feedback = True  # type: ignore[attr-defined]
        transport._handle_rtcp_data = handle_rtcp_data

    # --- the RTP loop ---------------------------------------------------------------------------

    async def _run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        sender: Any = self.sender
        getattr(sender, _PRIVATE + "rtp_started").set()
        self._install_feedback()
        self._tasks = [
            asyncio.create_task(self._pace(), name="video-pacer"),
            asyncio.create_task(self._tick(), name="video-rate-control"),
        ]
        for task in self._tasks:
            task.add_done_callback(_log_failure)
        sequence_number = random16() % 32768  # as aiortc: the lower half, so SRTP never sees a wrap early
        payload_type = codec.payloadType
        assert payload_type is not None  # negotiated codecs carry their payload type
        timestamp_origin = random32()
        try:
            while True:
                track = getattr(sender, _PRIVATE + "track")
                if track is None:
                    await asyncio.sleep(0.02)
                    continue
                frame = await track.recv()
                if not sender._enabled or not self._wanted(frame):
                    continue
                keyframes = self.session.encoder.stats.keyframes
                encoded = await self._encode(frame)
                if encoded is None:
                    continue
                payloads, frame_timestamp = encoded
                timestamp = uint32_add(timestamp_origin, frame_timestamp)
                now = self.now()
                if self.session.encoder.stats.keyframes != keyframes:
                    self._keyframes.on_keyframe(now)
                self._output.append((now, sum(len(p) for p in payloads)))
                if self._first_output is None:
                    self._first_output = now
                for index, payload in enumerate(payloads):
                    packet = RtpPacket(payload_type=payload_type, sequence_number=sequence_number, timestamp=timestamp)
                    packet.ssrc = sender._ssrc
                    packet.payload = payload
                    packet.marker = 1 if index == len(payloads) - 1 else 0
                    packet.extensions.mid = getattr(sender, _PRIVATE + "mid")
                    self.pacer.push(packet, len(payload) + 40, Priority.VIDEO, now)
                    sequence_number = uint16_add(sequence_number, 1)
                self._wake.set()
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            logger.exception("the video RTP loop failed")
        finally:
            for task in self._tasks:
                task.cancel()
            # Their failures were logged when they happened; the sender must still report its exit
            # (RTCRtpSender.stop waits for it).
            await asyncio.gather(*self._tasks, return_exceptions=True)
            track = getattr(sender, _PRIVATE + "track")
            if track is not None:
                track.stop()
                setattr(sender, _PRIVATE + "track", None)
            setattr(sender, _PRIVATE + "encoder", None)
            getattr(sender, _PRIVATE + "rtp_exited").set()

    def _wanted(self, frame: Any) -> bool:
        """Whether to encode this frame: not while older video waits, and at the ladder's rate."""
        if not isinstance(frame, av.VideoFrame):
            return True  # pre-encoded access units depend on each other: never skipped here
        self._source_pixels = frame.width * frame.height
        if self.pacer.queue_time() > QUEUE_FRAMES / max(self.step.fps, 1.0):
            self._skipped += 1
            return False
        if self.step.fps < self._source_fps - 0.01:
            now = self.now()
            if now < self._next_frame_at:
                return False
            interval = 1 / self.step.fps
            self._next_frame_at = max(self._next_frame_at + interval, now + interval * 0.5)
        return True

    async def _encode(self, frame: Any) -> tuple[list[bytes], int] | None:
        sender: Any = self.sender
        encoder = self.session.encoder
        setattr(sender, _PRIVATE + "encoder", encoder)
        if isinstance(frame, av.VideoFrame):
            scale = self.step.scale
            force = getattr(sender, _PRIVATE + "force_keyframe")
            setattr(sender, _PRIVATE + "force_keyframe", False)

            def encode() -> tuple[list[bytes], int]:
                return encoder.encode(_scaled(frame, scale) if scale < 1.0 else frame, force)

            payloads, timestamp = await asyncio.get_running_loop().run_in_executor(None, encode)
        else:
            payloads, timestamp = encoder.pack(frame)
        if not payloads:
            return None
        return payloads, timestamp

    async def _pace(self) -> None:
        transport: Any = self.sender.transport
        while True:
            now = self.now()
            for queued in self.pacer.pop_ready(now):
                await self._send(queued, transport, now)
            padding = self.pacer.padding_wanted(now)
            while padding > 0:
                sent = await self._send_padding(transport, now)
                if sent == 0:
                    self.pacer.end_probe()
                    break
                padding -= sent
            wakeup = self.pacer.next_wakeup(self.now())
            self._wake.clear()
            if wakeup is None:
                await self._wake.wait()
                continue
            delay = wakeup - self.now()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def _send(self, queued: Queued[RtpPacket], transport: Any, now: float) -> None:
        packet = queued.item
        if queued.priority == Priority.VIDEO:
            self._sent[packet.sequence_number] = _Sent(packet, now, now)
            if len(self._sent) > HISTORY_PACKETS:
                self._sent.popitem(last=False)
        await self._write(packet, transport, queued.size, now, queued.probe_cluster)
        if queued.priority == Priority.RETRANSMISSION:
            self._retransmitted.add(queued.size, now)
        if queued.priority == Priority.VIDEO:
            sender: Any = self.sender
            setattr(sender, _PRIVATE + "ntp_timestamp", clock.current_ntp_time())
            setattr(sender, _PRIVATE + "rtp_timestamp", packet.timestamp)
            setattr(sender, _PRIVATE + "octet_count", getattr(sender, _PRIVATE + "octet_count") + len(packet.payload))
            setattr(sender, _PRIVATE + "packet_count", getattr(sender, _PRIVATE + "packet_count") + 1)

    async def _write(self, packet: RtpPacket, transport: Any, size: int, now: float, probe: int | None) -> None:
        sender: Any = self.sender
        packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
        if self.transport_cc:
            packet.extensions.transport_sequence_number = self.history.send(size, now, probe).wire_sequence
        data = packet.serialize(getattr(sender, _PRIVATE + "rtp_header_extensions_map"))
        await transport._send_rtp(data)

    def _rtx(self, packet: RtpPacket) -> RtpPacket | None:
        rtx_payload_type = getattr(self.sender, _PRIVATE + "rtx_payload_type")
        if rtx_payload_type is None:
            return None
        self._rtx_sequence = uint16_add(self._rtx_sequence, 1)
        rtx = wrap_rtx(packet, rtx_payload_type, self._rtx_sequence, self.sender._rtx_ssrc)
        rtx.extensions = replace(packet.extensions)  # wrap_rtx shares the original's: keep its number
        return rtx

    async def _send_padding(self, transport: Any, now: float) -> int:
        """Send one recent packet again on RTX as probe padding; returns its size (0: none to send)."""
        if not self._sent:
            return 0
        sent = next(reversed(self._sent.values()))
        rtx = self._rtx(sent.packet)
        if rtx is None:
            return 0
        size = min(len(rtx.payload) + 40, PADDING_PACKET)
        cluster = self.pacer.sent_padding(size)
        await self._write(rtx, transport, size, now, cluster)
        return size

    async def _retransmit(self, sequence_number: int) -> None:
        """Answer a NACK: queue the packet on RTX if it can still help (see RETRANSMIT_MAX_AGE)."""
        now = self.now()
        sent = self._sent.get(sequence_number)
        rtt = self.estimate.rtt if self.estimate is not None and self.estimate.rtt is not None else 0.1
        if sent is None or now - sent.first_sent > RETRANSMIT_MAX_AGE:
            self._refused += 1
            # The receiver still misses it, so it cannot decode on until a keyframe, which it
            # would ask for itself only after about 3 s without a decodable frame (repair.py).
            if self._keyframes.ask(sent.first_sent if sent is not None else now - RETRANSMIT_MAX_AGE, now):
                self.session.request_keyframe()
            return
        if sent.last_sent != sent.first_sent and now - sent.last_sent < max(rtt, 0.02):
            self._refused += 1  # the last copy may still be on its way
            return
        rtx = self._rtx(sent.packet)
        if rtx is None:
            return
        size = len(rtx.payload) + 40
        if not self._retransmit_budget.take(size, now):
            self._refused += 1
            return
        sent.last_sent = now
        self._retransmissions += 1
        self.pacer.push(rtx, size, Priority.RETRANSMISSION, now)
        self._wake.set()

    # --- feedback and the estimate ---------------------------------------------------------------

    def _on_transport_feedback(self, feedback: TransportFeedback) -> None:
        now = self.now()
        results = self.history.on_feedback(feedback, now)
        if results:
            self._apply(self.estimator.on_feedback(results, now), now)

    def _on_remb(self, packet: RtcpPsfbPacket) -> None:
        try:
            bitrate, ssrcs = unpack_remb_fci(packet.fci)
        except ValueError:
            return
        if self.sender._ssrc in ssrcs:
            now = self.now()
            self._apply(self.estimator.on_remb(bitrate, now), now)

    def _on_receiver_reports(self, packet: RtcpRrPacket | RtcpSrPacket) -> None:
        now = self.now()
        rtt = getattr(self.sender, _PRIVATE + "rtt")
        if rtt is not None:
            self.estimator.on_rtt(rtt, now)
        for report in packet.reports:
            if report.ssrc == self.sender._ssrc and not self.transport_cc:
                self._apply(self.estimator.on_receiver_report(report.fraction_lost / _RTCP_RR_LOSS_SCALE, now), now)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = self.now()
            estimate = self.estimator.process(now)
            if estimate.delay_state == "overusing":
                self.recovery.on_overuse(now)
            self.recovery.on_loss(estimate.loss_fraction, now)
            self._apply(estimate, now)
            # Not before the first frame has gone: a probe is padded with copies of sent packets, and
            # with none to copy the pacer gives it up (the session's first probe, every time in the lab).
            probe = self.estimator.next_probe(now) if self._sent else None
            if probe is not None and self.transport_cc:
                self._probes += 1
                self.pacer.start_probe(probe, now)
                self._wake.set()

    def _apply(self, estimate: Estimate, now: float) -> None:
        self.estimate = estimate
        self.pacer.set_bitrate(max(estimate.pacing_bitrate, 1), now)
        self._retransmit_budget.rate = estimate.target_bitrate * RETRANSMIT_SHARE / 8
        self._size_audio_fec(estimate.loss_fraction, now)
        target = self._worth_encoding(estimate, now)
        step = self.step
        if self._source_pixels:
            if estimate.delay_state == "overusing" or estimate.loss_fraction > CONGESTION_LOSS:
                self._congested_at = now
            qp = self.session.encoder.stats.qp
            content_limited = (
                self._encoded_bitrate(now) < CONTENT_LIMITED_SHARE * self._encoder_target
                or (qp is not None and qp < CONTENT_LIMITED_QP)
                or now - self._congested_at > CONGESTION_MEMORY
            )
            step = self.ladder.update(target, self._source_pixels, now, content_limited)
        if step != self.step:
            logger.info(
                "video: %s at %.0f kbit/s -> scale %.2f, %.0f fps",
                "degrading" if step.level > self.step.level else "restoring",
                target / 1000,
                step.scale,
                step.fps,
            )
            self.step = step
        # Retransmissions come out of the same estimate (but do not move the ladder: a loss burst
        # had taken the encoder's share under the ladder's far-below mark, a step down at once).
        media = media_bitrate(target, self._retransmitted.bitrate(now))
        # The encoder's rate control assumes the source frame rate: scale its target so the
        # ladder's lower frame rate still spends the estimate, not a fraction of it.
        encoder_target = int(media * self._source_fps / max(step.fps, 1.0))
        if encoder_target != self._encoder_target:  # the estimator ticks 40 times a second
            self._encoder_target = encoder_target
            self.session.encoder.target_bitrate = encoder_target

    def _size_audio_fec(self, loss_fraction: float, now: float) -> None:
        audio = self.session.audio_encoder
        if audio is None:
            return
        percent = self._audio_fec.update(loss_fraction, now)
        if percent != audio.expected_loss_percent:
            logger.info("audio: %.1f%% loss: in-band FEC for %d%% expected loss", loss_fraction * 100, percent)
            audio.expected_loss_percent = percent

    def _worth_encoding(self, estimate: Estimate, now: float) -> int:
        """The estimate, or less on a lossy link where more bits mean more frames waiting for repairs."""
        pixels = self._source_pixels * self.step.scale**2
        ceiling = self.recovery.ceiling(now, estimate.rtt, pixels * self.step.fps, self.step.fps)
        if ceiling is not None and ceiling < estimate.target_bitrate:
            if not self._recovery_bound:
                logger.info(
                    "video: %.1f%% loss at %.0f ms RTT: encoding at %.0f of %.0f kbit/s",
                    self.recovery.loss(now) * 100,
                    (estimate.rtt or 0.0) * 1000,
                    ceiling / 1000,
                    estimate.target_bitrate / 1000,
                )
            self._recovery_bound = True
            return ceiling
        self._recovery_bound = False
        return estimate.target_bitrate

    def _encoded_bitrate(self, now: float) -> float:
        """What the encoder made over the last OUTPUT_WINDOW, bits per second (inf until a window
        has passed since the first frame). An app that pushes frames only when its picture
        changes makes few or none: that is easy content too."""
        if self._first_output is None or now - self._first_output < OUTPUT_WINDOW:
            return float("inf")
        while self._output and self._output[0][0] < now - OUTPUT_WINDOW:
            self._output.popleft()
        return sum(size for _, size in self._output) * 8 / OUTPUT_WINDOW

    def stats(self) -> CongestionStats:
        """A snapshot of the congestion control; cheap."""
        estimate = self.estimate
        encoder = self.session.encoder.stats
        return CongestionStats(
            transport_cc=self.transport_cc,
            estimate_bitrate=estimate.target_bitrate if estimate else self.config.bitrate_start,
            target_bitrate=encoder.target_bitrate,
            pacing_bitrate=self.pacer.bitrate,
            acknowledged_bitrate=(estimate.acknowledged_bitrate or 0) if estimate else 0,
            delay_state=estimate.delay_state if estimate else "normal",
            limited_by="recovery" if self._recovery_bound else estimate.limited_by if estimate else "start",
            loss_fraction=estimate.loss_fraction if estimate else 0.0,
            rtt_ms=(estimate.rtt * 1000) if estimate and estimate.rtt is not None else 0.0,
            pacer_queue_ms=self.pacer.queue_time() * 1000,
            frames_skipped_congestion=self._skipped,
            retransmissions=self._retransmissions,
            retransmissions_refused=self._refused,
            probes=self._probes,
            width=encoder.width,
            height=encoder.height,
            fps=self.step.fps,
        )


def _log_failure(task: asyncio.Task[None]) -> None:
    if task.cancelled() or isinstance(task.exception(), ConnectionError):
        return  # the transport closed under it: the session is ending
    if task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())


def _scaled(frame: av.VideoFrame, scale: float) -> av.VideoFrame:
    width = max(16, int(frame.width * scale) // 2 * 2)
    height = max(16, int(frame.height * scale) // 2 * 2)
    scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="FAST_BILINEAR")
    scaled.pts, scaled.time_base = frame.pts, frame.time_base
    return scaled
