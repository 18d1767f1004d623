"""Our stack in the network lab: the page's media really crosses the relay and the capped link."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.netlab_harness import LAB_SKIP, lab_stack

from benchmarks.browser import measure_stream
from benchmarks.netlab.impairment import Impairment, LinkState
from benchmarks.netlab.namespace import lab_namespaces

pytestmark = [pytest.mark.browser, LAB_SKIP, pytest.mark.timeout(90)]


async def test_media_crosses_the_relay_and_the_cap_and_impairments_change_live(tmp_path: Path) -> None:
    async with lab_stack(tmp_path, LinkState(rate_bps=3_000_000)) as lab:
        namespaces = {lab.netlab.lab.client, lab.netlab.lab.server}
        page = await lab.open_page("vp8")
        try:
            before = await lab.netlab.relay.counters()
            measured = await measure_stream(page, 2.0)
            after = await lab.netlab.relay.counters()
            # Relay-only through the relay: everything the page received came down through it.
            assert measured["after"]["local"] == "relay"
            assert after["down"]["sent"] - before["down"]["sent"] > 100
            received_bps = (measured["after"]["bytesReceived"] - measured["before"]["bytesReceived"]) * 8
            assert received_bps / measured["elapsed"] < 3_300_000  # the cap holds on the media path

            await lab.set_link(LinkState(rate_bps=3_000_000, down=Impairment(loss=0.05)))
            before_loss = await lab.inbound_video(page) or {}
            await asyncio.sleep(1.5)
            after_loss = await lab.inbound_video(page) or {}
            dropped = (await lab.netlab.relay.counters())["down"]["dropped"]
        finally:
            await page.close()
    assert dropped > 0
    # The page saw the gaps: counted as lost, or asked for again (a retransmission may fill them).
    seen = ("packetsLost", "nackCount")
    assert sum(after_loss[k] for k in seen) > sum(before_loss[k] for k in seen)
    assert not namespaces & set(lab_namespaces())
