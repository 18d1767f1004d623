"""Reloading and closing the page during a stream, in Chromium through the real stack (proxy,
nvcf-local, stream app): a reload resumes the tab's own session, a closed tab frees the instance
at once, a new tab never takes over another tab's session."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.local_stack import LocalStack, local_stack
from support.services import RunningNvcfLocal
from support.web_client_harness import csp_chromium, open_page, state, wait_for_state

pytestmark = pytest.mark.browser


@pytest.fixture
async def stack(nvcf_local: RunningNvcfLocal, tmp_path: Path) -> AsyncIterator[LocalStack]:
    async with local_stack(nvcf_local, tmp_path) as running:
        yield running


async def test_a_reload_resumes_its_own_session_about_as_fast_as_a_first_connect(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        started = time.monotonic()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}")
        await wait_for_state(page, "streaming")
        first_connect = time.monotonic() - started
        session_id = await page.evaluate("window.streamSession.sessionId")
        started = time.monotonic()
        await page.reload()
        text = await wait_for_state(page, "streaming", timeout=15)
        reload_connect = time.monotonic() - started
        assert await page.evaluate("window.streamSession.sessionId") == session_id
        assert await page.evaluate("window.streamSession.resumed") is True, text
    # "About the time of a first connect": the old session's resume window (30 s) is not waited out.
    assert reload_connect < first_connect + 2.0, (first_connect, reload_connect)


async def test_closing_the_tab_frees_the_instance_at_once(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        page = await browser.new_page()
        await open_page(page, f"{stack.proxy_url}/#token={stack.token()}")
        await wait_for_state(page, "streaming")
        await page.close(run_before_unload=True)  # As a user closing the tab: pagehide runs.
        started = time.monotonic()
        await stack.nvcf.wait_until_idle(timeout=15)
        freed_after = time.monotonic() - started
        # The next visitor streams at once instead of hearing "No capacity".
        other = await browser.new_page()
        await open_page(other, f"{stack.proxy_url}/#token={stack.token(subject='someone-else')}")
        await wait_for_state(other, "streaming")
    # Well inside the stream app's 30 s resume window: the proxy's reload grace, then a clean end.
    assert freed_after < 10, freed_after


async def test_a_new_tab_never_takes_over_a_reloaded_tabs_session(stack: LocalStack) -> None:
    async with csp_chromium() as browser:
        context = await browser.new_context()
        first = await context.new_page()
        await open_page(first, f"{stack.proxy_url}/#token={stack.token()}")
        await wait_for_state(first, "streaming")
        session_id = await first.evaluate("window.streamSession.sessionId")
        # Same browser (same resume cookie), same user: still a fresh session, refused while busy.
        second = await context.new_page()
        await open_page(second, f"{stack.proxy_url}/#token={stack.token()}")
        text = await wait_for_state(second, "ended")
        assert "No capacity" in text, text
        assert (await state(first))[0] == "streaming"
        assert await first.evaluate("window.streamSession.sessionId") == session_id
