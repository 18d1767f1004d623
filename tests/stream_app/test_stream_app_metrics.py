"""The stream app's `/metrics` on its control server, after and during a real WebRTC session."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from support.scripted_client import open_session
from support.stream_app_harness import RunningStreamApp, running_stream_app

from stream_app.metrics import ports_in_use
from stream_app.ports import PortRange

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, app: RunningStreamApp) -> Samples:
    async with http.get(app.control_url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def wait_for(http: aiohttp.ClientSession, app: RunningStreamApp, *names: str, timeout: float = 8.0) -> Samples:
    """Scrape until every one of `names` is above 0 (the sampler runs once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(http, app)
        if all(value(samples, name) > 0 for name in names) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.25)


async def test_a_session_shows_up_in_every_family(http: aiohttp.ClientSession) -> None:
    async with running_stream_app() as app:
        idle = await scrape(http, app)
        assert value(idle, "stream_app_session_state", state="idle") == 1
        assert value(idle, "stream_app_sessions_started_total") == 0

        session = await open_session(http, app.sign_in_url, input_channels=True, app_channel=True)
        await session.channels_open()
        for _ in range(3):
            session.send_input("key", action="down", code="KeyA", key="a", mods=0, repeat=False)
        session.send_input("mouse_move", x=0.5, y=0.5, buttons=0)
        session.send_raw("input", "not json")
        session.send_app(data="hello app")
        session.send_raw("app", "not json")
        assert app.state.app.send("hello page") is True
        assert len(await session.latencies(20)) == 20

        # The RTT can come with the sampler's first look; the sent bitrate needs its second (bytes
        # sent since the last one).
        during = await wait_for(http, app, "stream_app_rtt_seconds", "stream_app_video_sent_bitrate_bps")
        assert value(during, "stream_app_session_state", state="connected") == 1
        assert value(during, "stream_app_session_state", state="idle") == 0
        assert value(during, "stream_app_video_fps") > 0
        assert value(during, "stream_app_video_target_bitrate_bps") > 0
        assert value(during, "stream_app_congestion_estimate_bps") > 0
        assert value(during, "stream_app_video_sent_bitrate_bps") > 0
        assert 0 < value(during, "stream_app_rtt_seconds") < 1  # loopback
        assert 0 <= value(during, "stream_app_loss_ratio") < 0.2  # loopback: little or none
        assert value(during, "stream_app_media_ports_in_use") >= 1
        assert value(during, "stream_app_media_ports") == 23

        await session.bye()
        current = app.state.slot.current
        assert current is not None
        await asyncio.wait_for(current.over.wait(), 10)
        await session.close()
        deadline = time.monotonic() + 5
        after = await scrape(http, app)
        while value(after, "stream_app_sessions_total", outcome="client") == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            after = await scrape(http, app)

    assert value(after, "stream_app_sessions_started_total") == 1
    assert value(after, "stream_app_sessions_total", outcome="client") == 1
    assert value(after, "stream_app_session_state", state="idle") == 1
    assert value(after, "stream_app_video_frames_sent_total") >= 20
    assert value(after, "stream_app_video_encode_seconds_count") >= 20
    assert value(after, "stream_app_video_encode_seconds_sum") > 0
    assert value(after, "stream_app_input_events_total", kind="key") == 3
    assert value(after, "stream_app_input_events_total", kind="mouse_move") == 1
    assert value(after, "stream_app_input_events_dropped_total", reason="invalid") == 1
    assert value(after, "stream_app_app_messages_total", direction="to_page", outcome="sent") == 1
    assert value(after, "stream_app_app_messages_total", direction="from_page", outcome="received") == 1
    assert value(after, "stream_app_app_messages_total", direction="from_page", outcome="bad-json") == 1
    assert value(after, "stream_app_video_fps") == 0


def test_ports_in_use_counts_bound_ports_of_the_range_once() -> None:
    # /proc/net/udp and udp6 lines: local address and port in hex (BB7E = 47998, BB80 = 48000).
    udp = "\n".join(
        [
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   1: 0100007F:BB7E 00000000:0000 07 00000000:00000000 00:00000000 00000000  0 0 1 2 0",
            "   2: 0100007F:BB80 00000000:0000 07 00000000:00000000 00:00000000 00000000  0 0 1 2 0",
            "   3: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000  0 0 1 2 0",
        ]
    )
    udp6 = "\n".join(
        [
            "  sl  local_address                         remote_address                        st",
            "   1: 00000000000000000000000001000000:BB80 00000000000000000000000000000000:0000 07",
        ]
    )
    assert ports_in_use([udp, udp6], PortRange(47998, 48020)) == 2
    assert ports_in_use([udp], PortRange(48001, 48020)) == 0
    assert ports_in_use([], PortRange(47998, 48020)) == 0
