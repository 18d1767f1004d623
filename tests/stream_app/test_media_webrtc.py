"""The pipeline over real WebRTC on loopback, received by aiortc: codecs, keyframes, REMB, drops,
passthrough and audio."""

import asyncio
import fractions
import itertools
import threading
import time

import av
import numpy as np
import pytest
from support.media_peers import connected, stamp_age_ms

from stream_app import stamp
from stream_app.media import (
    AudioSource,
    EncodedSource,
    FrameSource,
    MediaConfig,
    MediaNegotiationError,
    attach_media,
    pattern_source,
)
from stream_app.media.pattern_source import StampedPattern

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_stamped_frames_arrive_with_the_configured_codec(codec: str) -> None:
    config = MediaConfig(codecs=(codec,))
    async with connected(pattern_source(1280, 720, 30), config=config) as peers:
        frames = await peers.frames(10)
        assert peers.answered_video_codec() == codec and peers.media.codec == codec
        assert (frames[-1].width, frames[-1].height) == (1280, 720)
        assert all(0 <= stamp_age_ms(f) < 2000 for f in frames[-3:])
        stats = peers.media.stats()
        assert stats.codec == codec and stats.frames_encoded >= 10 and stats.keyframes >= 1
        assert stats.encode_ms_mean > 0 and (stats.width, stats.height) == (1280, 720)


@pytest.mark.parametrize(
    ("order", "client_codecs", "expected"),
    [
        ("client", ("VP8", "H264"), "VP8"),
        ("client", ("H264", "VP8"), "H264"),
        ("server", ("VP8", "H264"), "H264"),
    ],
)
async def test_codec_follows_the_configured_order(order: str, client_codecs: tuple[str, ...], expected: str) -> None:
    config = MediaConfig(codecs=("H264", "VP8"), codec_order=order)  # type: ignore[arg-type]
    async with connected(pattern_source(800, 200, 30), config=config, client_codecs=client_codecs) as peers:
        await peers.frames(2)
        assert peers.answered_video_codec() == expected == peers.media.codec
        # Only allowed codecs remain in the answer (plus retransmission).
        assert "VP8" in peers.answer_sdp and "H264" in peers.answer_sdp


async def test_an_offer_without_an_allowed_codec_is_refused_with_the_reason() -> None:
    with pytest.raises(MediaNegotiationError, match=r"video codecs \(VP8\) include none we allow \(H264\)"):
        async with connected(
            pattern_source(800, 200, 30), config=MediaConfig(codecs=("H264",)), client_codecs=("VP8",)
        ):
            pass


async def test_a_source_above_max_fps_is_refused() -> None:
    with pytest.raises(ValueError, match="above max_fps 60"):
        async with connected(FrameSource(90), config=MediaConfig(max_fps=60)):
            pass


async def test_attach_needs_a_video_section() -> None:
    from support.media_peers import loopback_pc

    server, client = loopback_pc(), loopback_pc()
    client.addTransceiver("audio", direction="recvonly")
    await client.setLocalDescription(await client.createOffer())
    await server.setRemoteDescription(client.localDescription)
    with pytest.raises(MediaNegotiationError, match="no video media section"):
        attach_media(server, FrameSource(30), None, MediaConfig())
    await client.close()
    await server.close()


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_a_pli_brings_a_keyframe(codec: str) -> None:
    async with connected(pattern_source(800, 200, 30), config=MediaConfig(codecs=(codec,))) as peers:
        await peers.frames(3)
        await asyncio.sleep(0.3)  # past the keyframe rate limit after the first frame
        before = peers.media.stats().keyframes
        await peers.send_pli()
        for _ in range(50):
            await peers.frames(1)
            if peers.media.stats().keyframes > before:
                break
        stats = peers.media.stats()
        assert stats.keyframes == before + 1 and stats.keyframe_requests >= 1


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_remb_sets_the_target_within_the_configured_range(codec: str) -> None:
    config = MediaConfig(codecs=(codec,), bitrate_min=1_500_000, bitrate_start=4_000_000, bitrate_max=30_000_000)
    async with connected(pattern_source(800, 200, 30), config=config) as peers:
        await peers.frames(2)
        seen: list[int] = []
        peers.media.encoder.on_target_bitrate = seen.append
        for bitrate, expected in ((20_000_000, 20_000_000), (100_000, 1_500_000), (400_000_000, 30_000_000)):
            await peers.send_remb(bitrate)
            for _ in range(100):
                if expected in seen:
                    break
                await asyncio.sleep(0.01)
            assert expected in seen, (bitrate, seen)
        assert all(1_500_000 <= b <= 30_000_000 for b in seen)


async def test_frames_pushed_faster_than_they_are_encoded_are_dropped_not_queued() -> None:
    source = FrameSource(120)
    pattern = StampedPattern(1920, 1080, 120)
    stop = threading.Event()

    def produce() -> None:
        # Far faster than the 1080p encoder on this machine: each push replaces an unsent frame.
        for _i in range(100_000):
            if stop.is_set():
                return
            source.push(pattern.render(time.time()))
            time.sleep(0.001)

    async with connected(source, config=MediaConfig(codecs=("H264",))) as peers:
        producer = threading.Thread(target=produce)
        producer.start()
        try:
            frames = await peers.frames(30)
            ages = [stamp_age_ms(f) for f in frames[-10:]]
        finally:
            stop.set()
            producer.join()
        stats = peers.media.stats()
    assert stats.frames_dropped > 0 and source.dropped >= stats.frames_dropped
    assert stats.frames_delivered >= 30
    # Newest wins: what arrives is fresh even though most frames were never encoded.
    assert max(ages) < 1000, ages


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_encoding_and_rendering_run_off_the_event_loop(codec: str) -> None:
    loop_thread = threading.get_ident()
    threads: dict[str, set[int]] = {"encode": set(), "render": set()}
    pattern = StampedPattern(1920, 1080, 30)

    def render(capture_time: float) -> av.VideoFrame:
        threads["render"].add(threading.get_ident())
        return pattern.render(capture_time)

    async with connected(FrameSource(30, render=render), config=MediaConfig(codecs=(codec,))) as peers:
        encoder = peers.media.encoder
        encode = encoder.encode

        def watched(frame: av.VideoFrame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
            threads["encode"].add(threading.get_ident())
            return encode(frame, force_keyframe)

        encoder.encode = watched  # type: ignore[method-assign]  # the sender looks it up per frame
        await peers.frames(10)
        assert peers.media.stats().encode_ms_mean > 1  # real 1080p work, which the loop never waits for
    assert threads["encode"] and loop_thread not in threads["encode"]
    assert threads["render"] and loop_thread not in threads["render"]


def h264_access_units(count: int, width: int = 800, height: int = 200, fps: int = 30) -> list[tuple[bytes, bool]]:
    """Access units from PyAV's libx264, as an app's own (e.g. NVENC) encoder would hand them over."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.profile = "Baseline"
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "keyint=10:scenecut=0"}
    pattern = StampedPattern(width, height, fps)
    units = []
    for i in range(count):
        frame = pattern.draw(i, 1_700_000_000_000 + i)
        frame.pts = i
        units += [(bytes(p), p.is_keyframe) for p in encoder.encode(frame)]
    return units


async def test_passthrough_forwards_the_app_access_units_and_relays_keyframe_requests() -> None:
    units = h264_access_units(60)
    requests: list[float] = []
    source = EncodedSource(on_keyframe_request=lambda: requests.append(time.monotonic()))
    async with connected(source, config=MediaConfig(codecs=("H264", "VP8")), client_codecs=("VP8", "H264")) as peers:
        assert peers.answered_video_codec() == "H264"  # passthrough is H.264 whatever the client prefers
        assert len(requests) == 1  # the new track asked for a keyframe

        async def feed() -> None:
            start = time.monotonic()
            for i, (unit, key) in enumerate(units):
                source.push(unit, keyframe=key, timestamp=start + i / 30)
                await asyncio.sleep(1 / 30)

        feeder = asyncio.ensure_future(feed())
        frames = await peers.frames(20)
        assert (frames[-1].width, frames[-1].height) == (800, 200)
        # The decoded pictures carry the stamps the producer encoded: nothing was re-encoded.
        stamps = [stamp.read(f.to_ndarray(format="gray")) - 1_700_000_000_000 for f in frames]
        assert stamps == sorted(stamps) and all(0 <= s < 60 for s in stamps)
        await peers.send_pli()
        for _ in range(100):
            if len(requests) >= 2:
                break
            await asyncio.sleep(0.01)
        assert len(requests) >= 2
        stats = peers.media.stats()
        assert stats.passthrough and stats.frames_encoded >= 20 and stats.keyframe_requests >= 1
        feeder.cancel()


async def test_audio_reaches_the_client_as_opus() -> None:
    audio = AudioSource(48000, 2)
    async with connected(pattern_source(800, 200, 30), audio) as peers:
        assert "opus" in peers.answer_sdp.lower() and peers.media.stats().audio
        tone = (np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        audio.push(np.stack((tone, tone), axis=1)[:9600])
        assert peers.audio is not None
        frames = [await asyncio.wait_for(peers.audio.recv(), 10) for _ in range(25)]
        loud = [np.abs(f.to_ndarray()).max() for f in frames]
        assert max(loud) > 2000  # the tone came through the Opus round trip
        assert audio.delivered_frames >= 10


@pytest.mark.parametrize(
    ("offered", "setting", "fec"), [(True, True, True), (False, True, False), (True, False, False)]
)
async def test_opus_in_band_fec_is_used_when_the_offer_can_decode_it(offered: bool, setting: bool, fec: bool) -> None:
    audio = AudioSource(48000, 2)
    config = MediaConfig(audio_fec=setting)
    async with connected(pattern_source(800, 200, 30), audio, config, offer_opus_fec=offered) as peers:
        tone = (np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        audio.push(np.stack((tone, tone), axis=1)[:9600])
        assert peers.audio is not None
        frames = [await asyncio.wait_for(peers.audio.recv(), 10) for _ in range(25)]
        # Our encoder's own timestamps: 20 ms apart, so the receiver's frames are too.
        assert [b.pts - a.pts for a, b in itertools.pairwise(frames[5:])] == [960] * 19
        assert max(np.abs(f.to_ndarray()).max() for f in frames) > 2000  # the tone came through
    # A clean loopback: FEC is ready (hint 0, no copies sent until the link shows loss).
    assert peers.media.stats().audio_fec_percent == (0 if fec else None)


async def test_no_audio_section_means_video_only() -> None:
    async with connected(pattern_source(800, 200, 30), AudioSource(), offer_audio=False) as peers:
        await peers.frames(2)
        assert not peers.media.stats().audio


async def test_a_resumed_session_gets_a_fresh_track_from_the_same_source() -> None:
    source = pattern_source(800, 200, 30)
    async with connected(source) as first:
        await first.frames(3)
    first.media.close()
    async with connected(source) as second:
        frames = await second.frames(3)
        assert second.media.video_track is not first.media.video_track
        assert all(stamp_age_ms(f) < 2000 for f in frames)
