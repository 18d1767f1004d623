"""The playout-delay RTP header extension: its encoding, its negotiation and its presence on the
wire, between real aiortc peers on loopback (the browser's side is in test_media_browser.py)."""

from __future__ import annotations

import pytest
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, unpack_header_extensions
from hypothesis import given
from hypothesis import strategies as st
from support.media_peers import connected

from stream_app.media import MediaConfig, pattern_source, playout_delay
from stream_app.media.config import PLAYOUT_DELAY_MAX_MS, MediaConfigError

pytestmark = pytest.mark.timeout(60)

OFFERED_ID = 9


def record_header_extensions(map_: HeaderExtensionsMap) -> list[list[tuple[int, bytes]]]:
    """Keep every packet's raw header extensions, as (id, value) pairs, as `map_` parses them."""
    packets: list[list[tuple[int, bytes]]] = []
    parse = map_.get

    def get(extension_profile: int, extension_value: bytes) -> HeaderExtensions:
        packets.append(unpack_header_extensions(extension_profile, extension_value))
        return parse(extension_profile, extension_value)

    map_.get = get  # type: ignore[method-assign]
    return packets


@given(st.integers(0, 4095), st.integers(0, 4095))
def test_the_three_bytes_hold_min_and_max_in_10_ms_units(low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    value = playout_delay.encode(low * 10, high * 10)
    assert len(value) == 3
    assert playout_delay.decode(value) == (low * 10, high * 10)


def test_zero_is_three_zero_bytes_and_delays_round_up_to_10_ms() -> None:
    assert playout_delay.encode(0, 0) == b"\x00\x00\x00"
    assert playout_delay.decode(playout_delay.encode(1, 41)) == (10, 50)


@pytest.mark.parametrize(("low", "high"), [(-1, 0), (20, 10), (0, playout_delay.MAX_MS + 1)])
def test_impossible_delays_are_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="playout delay must satisfy"):
        playout_delay.encode(low, high)


def test_the_setting_accepts_off_and_milliseconds_and_refuses_the_rest() -> None:
    assert MediaConfig.from_env({"MEDIA_PLAYOUT_DELAY": "off"}).playout_delay_ms is None
    assert MediaConfig.from_env({"MEDIA_PLAYOUT_DELAY": "100"}).playout_delay_ms == 100
    assert MediaConfig().playout_delay_ms == 0
    with pytest.raises(MediaConfigError, match="MEDIA_PLAYOUT_DELAY"):
        MediaConfig.from_env({"MEDIA_PLAYOUT_DELAY": str(PLAYOUT_DELAY_MAX_MS + 1)})
    with pytest.raises(MediaConfigError, match="MEDIA_PLAYOUT_DELAY: 'soon' is not a whole number"):
        MediaConfig.from_env({"MEDIA_PLAYOUT_DELAY": "soon"})


def playout_values(packets: list[list[tuple[int, bytes]]]) -> list[bytes | None]:
    """Per received packet: the value of the offered playout-delay id, None where it is absent."""
    return [dict(packet).get(OFFERED_ID) for packet in packets]


@pytest.mark.parametrize(("setting", "expected"), [(0, b"\x00\x00\x00"), (100, playout_delay.encode(0, 100))])
async def test_every_video_packet_carries_the_delay_when_the_offer_has_the_extension(
    setting: int, expected: bytes
) -> None:
    async with connected(
        pattern_source(800, 200, 30),
        config=MediaConfig(playout_delay_ms=setting),
        offer_audio=False,
        offer_video_extensions={OFFERED_ID: playout_delay.URI},
    ) as peers:
        packets = record_header_extensions(peers.video_receiver.transport._rtp_header_extensions_map)
        await peers.frames(5)
        assert f"a=extmap:{OFFERED_ID} {playout_delay.URI}" in peers.answer_sdp
        assert peers.media.playout_delay
        values = playout_values(packets)
        assert len(values) >= 5 and set(values) == {expected}, values[:10]


@pytest.mark.parametrize(
    ("setting", "offered"),
    [(None, {OFFERED_ID: playout_delay.URI}), (0, {})],
    ids=["setting off", "not offered"],
)
async def test_no_extension_when_it_is_switched_off_or_not_offered(
    setting: int | None, offered: dict[int, str]
) -> None:
    async with connected(
        pattern_source(800, 200, 30),
        config=MediaConfig(playout_delay_ms=setting),
        offer_audio=False,
        offer_video_extensions=offered,
    ) as peers:
        packets = record_header_extensions(peers.video_receiver.transport._rtp_header_extensions_map)
        await peers.frames(5)
        assert playout_delay.URI not in peers.answer_sdp
        assert not peers.media.playout_delay
        values = playout_values(packets)
        assert len(values) >= 5 and set(values) == {None}
