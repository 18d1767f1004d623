"""The page's sign-in, function choice and resume, against the in-test peer standing in for the proxy.

The peer answers exactly as docs/protocol.md section 1 says the proxy does (`GET /functions`,
the `function` parameter, the `resume` item, close 4410), so the page's side of each contract is
checked here; test_web_client_stack.py drives the page against the real stack.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page
from support.browser import chromium
from support.web_client_harness import PeerSite, peer_site, record_csp_violations, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
async def site() -> AsyncIterator[PeerSite]:
    async with peer_site() as running:
        yield running


async def status(page: Page, state: str, timeout: float = 20.0) -> str:
    await page.locator(f"#status[data-state='{state}']").wait_for(timeout=timeout * 1000)
    return await page.locator("#status").text_content() or ""


async def test_without_a_functions_endpoint_the_page_opens_the_default_function(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await record_csp_violations(page)
        await page.goto(f"{site.url}/#token=a.b.c")
        await status(page, "streaming")
        assert await page.evaluate("window.cspViolations") == []
    assert site.records[0].query == {}
    assert "token.a.b.c" in site.records[0].protocols


async def test_the_user_picks_among_the_functions_offered(site: PeerSite) -> None:
    site.functions = [{"name": "paint", "title": "Paint"}, {"name": "pattern", "title": "Test pattern"}]
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=a.b.c")
        await page.locator("#picker").wait_for()
        options = await page.locator("#function option").all_text_contents()
        assert options == ["Paint", "Test pattern"]
        await page.select_option("#function", "pattern")
        await page.click("#picker button")
        await status(page, "streaming")
        # The Connect button had the focus; keys now go to the app, not to the button.
        await wait_until(page, "window.streamSession.input && window.streamSession.input.open")
        await page.keyboard.press("Space")
        keys = await site.wait_for("key", 2)
        assert not await page.locator("#picker").is_visible()
    assert site.records[0].query == {"function": "pattern"}
    assert [(k["action"], k["code"]) for k in keys] == [("down", "Space"), ("up", "Space")]


async def test_a_single_function_is_opened_without_asking(site: PeerSite) -> None:
    site.functions = [{"name": "paint", "title": "Paint"}]
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=a.b.c")
        await status(page, "streaming")
        assert not await page.locator("#picker").is_visible()
    assert site.records[0].query == {"function": "paint"}


async def test_sign_in_box_remembers_the_token_for_the_tab_only(site: PeerSite) -> None:
    async with chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{site.url}/")
        assert "No sign-in token" in await status(page, "ended")
        await page.fill("#token-input", "pasted.token.value")
        await page.click("#sign-in button")
        await status(page, "streaming")
        assert await page.evaluate("sessionStorage.getItem('stream-token')") == "pasted.token.value"
        assert await page.evaluate("localStorage.length") == 0
        # A new tab does not know it.
        other = await context.new_page()
        await other.goto(f"{site.url}/")
        assert "No sign-in token" in await status(other, "ended")
    assert "token.pasted.token.value" in site.records[0].protocols


async def test_dropped_connection_reconnects_with_resume_and_says_resumed(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=a.b.c")
        await status(page, "streaming")
        await site.drop(1011, "media failed")
        assert "Reconnecting… attempt 1" in await status(page, "reconnecting", timeout=5)
        assert await status(page, "streaming") == "Streaming (resumed)"
        assert await page.evaluate("window.streamSession.resumed") is True
        # A new connection: input channels again, seq from 0.
        await wait_until(page, "window.streamSession.input && window.streamSession.input.open")
        await page.keyboard.press("KeyQ")
        await site.wait_for("key", 2)
    assert "resume" not in site.records[0].protocols
    assert "resume" in site.records[1].protocols
    assert [m["seq"] for label, m in site.records[1].messages if label == "input"][:2] == [0, 1]


async def test_expired_session_says_so_and_offers_a_fresh_one(site: PeerSite) -> None:
    site.resume = "expire"
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=a.b.c")
        await status(page, "streaming")
        await site.drop(4000, "gone")
        text = await status(page, "ended", timeout=10)
        assert text.startswith("Session expired"), text
        assert await page.locator("#status").get_attribute("data-code") == "4410"
        fresh = page.locator("#connect-again")
        assert await fresh.text_content() == "Start a new session"
        await fresh.click()
        await status(page, "streaming")
    assert ["resume" in r.protocols for r in site.records] == [False, True, False]


async def test_deliberate_end_sends_bye_and_does_not_reconnect(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=a.b.c")
        await status(page, "streaming")
        await page.click("#disconnect")
        assert await status(page, "ended") == "You ended the session."
        await page.wait_for_timeout(1000)
        assert await page.locator("#status").get_attribute("data-state") == "ended"
    assert len(site.records) == 1
    assert site.records[0].ws.close_code == 1000
    assert site.records[0].signals[-1] == "bye"


async def sign_in_again(page: Page, token: str) -> None:
    await page.locator("#sign-in").wait_for(timeout=5000)
    await page.fill("#token-input", token)
    await page.click("#sign-in button")


async def test_signing_in_after_the_token_expired_resumes_the_session(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=old.token.x")
        await status(page, "streaming")
        await site.drop(4408, "token expired")
        text = await status(page, "ended", timeout=5)
        assert text.startswith("Token expired"), text
        await sign_in_again(page, "new.token.x")
        assert await status(page, "streaming") == "Streaming (resumed)"
    assert "resume" not in site.records[0].protocols
    assert "resume" in site.records[1].protocols and "token.new.token.x" in site.records[1].protocols


async def test_a_session_time_limit_is_final_even_after_signing_in_again(site: PeerSite) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site.url}/#token=old.token.x")
        await status(page, "streaming")
        await site.drop(4408, "session time limit reached")
        await status(page, "ended", timeout=5)
        await sign_in_again(page, "new.token.x")
        assert await status(page, "streaming") == "Streaming"
    assert ["resume" in r.protocols for r in site.records] == [False, False]
