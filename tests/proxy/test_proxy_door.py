"""The door in front of `/sign_in` and `/functions` (`proxy.door`): the Origin check, pure, and the
middleware on a real proxy, where both routes share one check and one per-address bucket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from support.proxy_harness import (
    API_KEY,
    APP_PROTOCOL,
    SECRET,
    StartProxy,
    Upstream,
    make_token,
    proxy_starter,
    sign_in_url,
)

from proxy.config import ProxyConfig
from proxy.origin import origin_allowed

# origin_allowed(origins, host, allowed)


def test_a_request_without_origin_is_not_a_browser_and_passes() -> None:
    assert origin_allowed([], "proxy.example", ())


def test_the_proxys_own_origin_passes_by_host_and_port_in_any_scheme() -> None:
    assert origin_allowed(["https://Proxy.Example"], "proxy.example", ())
    assert origin_allowed(["http://proxy.example:8080"], "proxy.example:8080", ())
    assert origin_allowed(["https://proxy.example:443"], "proxy.example", ())
    assert not origin_allowed(["https://proxy.example:8443"], "proxy.example", ())
    assert not origin_allowed(["https://elsewhere.example"], "proxy.example", ())


@pytest.mark.parametrize("origin", ["null", "file://", "ftp://proxy.example", "not an origin"])
def test_opaque_or_foreign_scheme_origins_are_refused(origin: str) -> None:
    assert not origin_allowed([origin], "proxy.example", ())


def test_two_origin_headers_are_refused_even_when_any_is_allowed() -> None:
    assert not origin_allowed(["https://a.example", "https://a.example"], "a.example", ("*",))


def test_an_allow_list_replaces_the_own_origin() -> None:
    allowed = ("https://app.example",)
    assert origin_allowed(["https://APP.example:443"], "proxy.example", allowed)
    assert not origin_allowed(["https://proxy.example"], "proxy.example", allowed)
    assert origin_allowed(["https://anything.example"], "proxy.example", ("*",))


# The middleware on a real proxy


@pytest.fixture
async def start(upstream: Upstream) -> AsyncIterator[StartProxy]:
    config = ProxyConfig(nvcf_api_key=API_KEY, function_id="fn-1", jwt_secret=SECRET, nvcf_server=upstream.base_url)
    async with proxy_starter(config) as start_proxy:
        yield start_proxy


async def sign_in_status(http: aiohttp.ClientSession, proxy: TestServer, **kwargs: str) -> int:
    try:
        ws = await http.ws_connect(sign_in_url(proxy), protocols=[APP_PROTOCOL, f"token.{make_token()}"], **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def functions_answer(http: aiohttp.ClientSession, proxy: TestServer, **headers: str) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {make_token()}", **headers}
    async with http.get(f"http://127.0.0.1:{proxy.port}/functions", headers=headers) as r:
        return r.status, await r.json()


async def metrics(http: aiohttp.ClientSession, proxy: TestServer) -> str:
    async with http.get(f"http://127.0.0.1:{proxy.port}/metrics") as r:
        return await r.text()


async def test_sign_in_and_functions_spend_one_bucket_per_address(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start(rate_per_address=2, rate_per_user=0)
    assert await sign_in_status(http, proxy) == 101
    assert (await functions_answer(http, proxy))[0] == 200
    assert await sign_in_status(http, proxy) == 429
    assert await functions_answer(http, proxy) == (429, {"error": "too many requests, try again later"})
    assert len(upstream.handshakes) == 1
    text = await metrics(http, proxy)  # /metrics is not behind the door.
    assert 'proxy_handshakes_total{outcome="rate-limited"} 1.0' in text
    assert 'proxy_functions_requests_total{outcome="rate-limited"} 1.0' in text


async def test_a_foreign_origin_is_refused_at_both_routes_before_any_token_check(
    start: StartProxy, http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    assert await sign_in_status(http, proxy, origin="https://evil.example") == 403
    assert await functions_answer(http, proxy, Origin="https://evil.example") == (403, {"error": "origin not allowed"})
    assert upstream.handshakes == []
    text = await metrics(http, proxy)
    assert 'proxy_handshakes_total{outcome="origin-forbidden"} 1.0' in text
    assert 'proxy_functions_requests_total{outcome="origin-forbidden"} 1.0' in text
    assert 'outcome="token-rejected"' not in text


async def test_other_routes_are_not_behind_the_door(start: StartProxy, http: aiohttp.ClientSession) -> None:
    proxy = await start(rate_per_address=1)
    for _ in range(3):
        async with http.get(f"http://127.0.0.1:{proxy.port}/healthz", headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 200
    assert await sign_in_status(http, proxy) == 101
