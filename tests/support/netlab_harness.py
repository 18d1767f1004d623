"""The network lab for browser tests: two namespaces, coturn, the impairment relay and our stack.

    async with lab_stack(tmp_path, LinkState(rate_bps=2_000_000)) as lab:
        page = await lab.open_page()          # the web client in the client namespace, relay-only
        await lab.set_link(LinkState(...))    # change the cap and the impairment while it streams
        await lab.netlab.relay.counters()

The page is the web client served by the proxy in the server namespace; its TURN server is the
relay (client namespace), which forwards to coturn (server namespace); the stream app gathers its
host candidate on the server namespace's address. See docs/network-lab.md. Needs root: use
`LAB_SKIP` as the test's skip marker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from benchmarks.browser import chromium, codec_fragment, open_session
from benchmarks.netlab.impairment import LinkState
from benchmarks.netlab.lab import NetLab, running_lab
from benchmarks.netlab.namespace import lab_unavailable
from benchmarks.stack import NETWORK_APP_ENV, Stack, running_stack

LAB_SKIP = pytest.mark.skipif(lab_unavailable() is not None, reason=lab_unavailable() or "")

_INBOUND = """async () => {
  const stats = await window.__bench.pc.getStats();
  let inbound = null;
  stats.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') inbound = r; });
  return inbound ? { framesDecoded: inbound.framesDecoded, packetsLost: inbound.packetsLost,
                     packetsReceived: inbound.packetsReceived, bytesReceived: inbound.bytesReceived,
                     nackCount: inbound.nackCount, freezeCount: inbound.freezeCount } : null;
}"""


@dataclass
class LabStack:
    """A running lab with our stack in it, and a Chromium in the client namespace."""

    netlab: NetLab
    stack: Stack
    browser: Browser

    def page_url(self, codec: str = "h264", extra: Mapping[str, str] | None = None) -> str:
        """The web client's URL: relay-only, TURN through the relay, `codec` preferred."""
        fragment = {"bench_turn": self.netlab.relay_address, **codec_fragment(codec), **(extra or {})}
        return self.stack.page_url(relay=True, extra=fragment)

    async def open_page(self, codec: str = "h264", timeout_s: float = 20.0) -> Page:
        """A page streaming from the stack (first frame presented); the caller closes it."""
        if not await self.stack.wait_until_idle():
            raise TimeoutError("the stream app stayed busy after the last session")
        return await open_session(self.browser, self.page_url(codec), timeout_s)

    async def set_link(self, state: LinkState) -> None:
        """Change the cap and the relay's impairments now."""
        await self.netlab.apply(state)

    @staticmethod
    async def inbound_video(page: Page) -> dict[str, Any] | None:
        """The page's inbound video counters (getStats) now."""
        stats: dict[str, Any] | None = await page.evaluate(_INBOUND)
        return stats


@asynccontextmanager
async def lab_stack(
    workdir: Path, link: LinkState | None = None, app_env: Mapping[str, str] | None = None
) -> AsyncIterator[LabStack]:
    """The lab with `link` in force, our stack (the stream app configured by `app_env`) and a browser."""
    async with running_lab(workdir) as netlab:
        await netlab.apply(link or LinkState())
        env = {**NETWORK_APP_ENV, **(app_env or {})}
        async with (
            running_stack(workdir, env, host=netlab.server_address, coturn=netlab.coturn) as stack,
            chromium(netlab.chromium(netlab.lab.client), NetLab.secure_origins([stack.proxy_url])) as browser,
        ):
            yield LabStack(netlab=netlab, stack=stack, browser=browser)
