"""Opus in-band FEC: the expected-loss hint, and what libopus really puts in our packets.

The packets are read back with libopus itself (the one PyAV ships, through ctypes): whether each
carries an FEC copy of the one before (`opus_packet_has_lbrr`), and how well a lost packet is
rebuilt from the next one's copy (`opus_decode(..., decode_fec=1)`) against plain concealment.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fractions
import glob
import os
from collections.abc import Iterator

import av
import numpy as np
import pytest

from stream_app.media.audio_encoder import FecLossHint, OpusFecEncoder, opus_options

RATE = 48_000
PACKET = 960


def _libopus() -> ctypes.CDLL:
    bundled = sorted(glob.glob(os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs", "libopus*")))
    path = bundled[0] if bundled else ctypes.util.find_library("opus")
    if path is None:
        pytest.skip("no libopus to read the packets back with")
    lib = ctypes.CDLL(path)
    lib.opus_decoder_create.restype = ctypes.c_void_p
    c = ctypes
    lib.opus_decode.argtypes = [c.c_void_p, c.c_char_p, c.c_int32, c.c_void_p, c.c_int, c.c_int]
    return lib


def speech_like(seconds: float) -> np.ndarray:
    """Harmonics of a wandering pitch, syllable-like loudness: what SILK (and its FEC) is for."""
    t = np.arange(int(RATE * seconds)) / RATE
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    loudness = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    signal = voiced * loudness
    return np.asarray(signal / np.abs(signal).max() * 12000, dtype=np.int16)


def frames(samples: np.ndarray) -> Iterator[av.AudioFrame]:
    for start in range(0, len(samples) - PACKET + 1, PACKET):
        stereo = np.repeat(samples[start : start + PACKET], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, start, fractions.Fraction(1, RATE)
        yield frame


def encode(encoder: OpusFecEncoder, samples: np.ndarray) -> tuple[list[bytes], list[int]]:
    packets: list[bytes] = []
    timestamps: list[int] = []
    for frame in frames(samples):
        payloads, timestamp = encoder.encode(frame)
        packets += payloads
        timestamps += [timestamp] * len(payloads)
    return packets, timestamps


def rebuilt_snr_db(packets: list[bytes], use_fec: bool) -> float:
    """Median SNR (dB) of every tenth packet, lost and rebuilt (from the next packet's FEC copy, or
    by concealment), against the same packet decoded."""
    lib = _libopus()
    error = ctypes.c_int()
    clean = lib.opus_decoder_create(RATE, 2, ctypes.byref(error))
    lossy = lib.opus_decoder_create(RATE, 2, ctypes.byref(error))
    out = (ctypes.c_int16 * (PACKET * 2))()
    snrs = []
    try:
        for n in range(len(packets) - 1):
            lib.opus_decode(clean, packets[n], len(packets[n]), out, PACKET, 0)
            reference = np.frombuffer(bytes(out), dtype=np.int16).astype(float)
            if n % 10 != 5:
                lib.opus_decode(lossy, packets[n], len(packets[n]), out, PACKET, 0)
                continue
            if use_fec:
                lib.opus_decode(lossy, packets[n + 1], len(packets[n + 1]), out, PACKET, 1)
            else:
                lib.opus_decode(lossy, None, 0, out, PACKET, 0)
            rebuilt = np.frombuffer(bytes(out), dtype=np.int16).astype(float)
            if (reference**2).sum() > 1e6:  # not a near-silent packet
                snrs.append(10 * np.log10((reference**2).sum() / max(((reference - rebuilt) ** 2).sum(), 1e-9)))
    finally:
        lib.opus_decoder_destroy(ctypes.c_void_p(clean))
        lib.opus_decoder_destroy(ctypes.c_void_p(lossy))
    assert len(snrs) >= 10
    return float(np.median(snrs))


def with_copies(packets: list[bytes]) -> int:
    lib = _libopus()
    if not hasattr(lib, "opus_packet_has_lbrr"):
        pytest.skip("libopus older than 1.5 cannot say which packets carry FEC")
    return sum(lib.opus_packet_has_lbrr(p, len(p)) == 1 for p in packets)


def test_a_clean_link_sends_no_copies_and_a_lossy_one_rebuilds_lost_packets_from_them() -> None:
    speech = speech_like(3.0)
    clean = OpusFecEncoder()
    clean_packets, _ = encode(clean, speech)
    lossy = OpusFecEncoder()
    lossy.expected_loss_percent = 10
    lossy_packets, _ = encode(lossy, speech)
    assert with_copies(clean_packets) == 0
    assert with_copies(lossy_packets) > len(lossy_packets) / 2
    # Concealment guesses; the copy is the packet, at a lower bitrate.
    assert rebuilt_snr_db(clean_packets, use_fec=False) < 10
    assert rebuilt_snr_db(lossy_packets, use_fec=True) > 20


def test_a_new_hint_reopens_libopus_and_the_timestamps_run_on() -> None:
    encoder = OpusFecEncoder()
    speech = speech_like(2.0)
    first, first_times = encode(encoder, speech[: RATE // 2])
    encoder.expected_loss_percent = 5
    second, second_times = encode(encoder, speech[RATE // 2 :])
    times = first_times + second_times
    assert encoder.rebuilds == 1
    assert times == list(range(times[0], times[0] + PACKET * len(times), PACKET))
    assert with_copies(first) == 0 and with_copies(second) > 0


def test_the_hint_rises_at_once_and_falls_only_after_a_quiet_while() -> None:
    hint = FecLossHint()
    assert hint.update(0.0, 0.0) == 0
    assert hint.update(0.03, 1.0) == 1  # 3 % measured: the step below it
    assert hint.update(0.12, 1.5) == 1  # at most one change a second
    assert hint.update(0.12, 2.0) == 10
    assert hint.update(0.005, 3.0) == 10  # loss gone: held...
    assert hint.update(0.005, 7.9) == 10
    assert hint.update(0.005, 8.0) == 0  # ...for 5 s
    assert hint.update(0.25, 9.0) == 20
    assert hint.update(0.07, 10.0) == 20
    assert hint.update(0.3, 12.0) == 20  # back up: the quiet time starts again
    assert hint.update(0.07, 14.0) == 20
    assert hint.update(0.07, 19.0) == 5


def test_the_options_name_fec_only_with_a_loss_hint() -> None:
    assert opus_options(0) == {"application": "voip"}
    assert opus_options(5) == {"application": "voip", "fec": "1", "packet_loss": "5"}
