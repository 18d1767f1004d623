"""The bad-token matrix against the real proxy, with a real JWKS server (RSA and EC keys).

Every rejected token must close 4401 with no upstream connection opened, and must not make the
proxy fetch keys beyond its cooldown. The JWKS server and the upstream are real aiohttp servers on
loopback that count what they receive.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from support.proxy_harness import AUDIENCE, ISSUER, StartProxy, Upstream, expect_close, open_session, proxy_starter

from proxy.closecodes import CloseCode
from proxy.config import ProxyConfig

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    data: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


def b64url(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 60} | changes
    return {k: v for k, v in payload.items() if v is not None}


def rs256(headers: dict[str, Any] | None = None, key: Any = RSA_KEY, **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm="RS256", headers={"kid": "rsa-1", **(headers or {})})


def es256(**changes: Any) -> str:
    return jwt.encode(claims(**changes), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})


class KeyServer:
    """A JWKS endpoint that counts fetches and can be switched off (HTTP 500)."""

    def __init__(self) -> None:
        self.fetches = 0
        self.failing = False
        self.keys = [public_jwk(RSA_KEY, "rsa-1", "RS256"), public_jwk(EC_KEY, "ec-1", "ES256")]
        app = web.Application()
        app.router.add_get("/jwks.json", self._jwks)
        self.server = TestServer(app, host="127.0.0.1")

    async def _jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.failing:
            return web.Response(status=500)
        return web.json_response({"keys": self.keys})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/jwks.json"


@pytest.fixture
async def key_server() -> AsyncIterator[KeyServer]:
    server = KeyServer()
    await server.server.start_server()
    yield server
    await server.server.close()


@pytest.fixture
async def start(upstream: Upstream, key_server: KeyServer, tmp_path: Path) -> AsyncIterator[StartProxy]:
    config = ProxyConfig(
        nvcf_api_key="nvapi-test",
        function_id="fn-1",
        jwks_url=key_server.url,
        jwt_algorithms=("RS256", "ES256"),
        nvcf_server=upstream.base_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwks_cooldown=30.0,
        upstream_timeout=2.0,
        web_client_dir=tmp_path,
        rate_per_address=0,
        rate_per_user=0,
        token_first_message=False,
    )
    async with proxy_starter(config) as start_proxy:
        yield start_proxy


async def sign_in(http: aiohttp.ClientSession, proxy: TestServer, token: str) -> tuple[int, str]:
    ws = await open_session(http, proxy, token)
    return await expect_close(ws)


@pytest.mark.parametrize("make", [rs256, es256], ids=["RS256", "ES256"])
async def test_good_tokens_from_the_jwks_open_a_session(
    start: Callable[..., Any], http: aiohttp.ClientSession, upstream: Upstream, key_server: KeyServer, make: Any
) -> None:
    proxy = await start()
    ws = await open_session(http, proxy, make())
    await ws.send_str("hi")
    assert await ws.receive_str(timeout=5) == "echo:hi"
    await ws.close()
    assert len(upstream.handshakes) == 1
    assert key_server.fetches == 1  # Fetched at start-up, then served from the cache.


def _hs256_with_rsa_public_key() -> str:
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64url({"alg": "HS256", "kid": "rsa-1"})
    body = b64url(claims())
    import hashlib
    import hmac

    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def _zero_es256() -> str:
    header, body, _ = es256().split(".")
    return f"{header}.{body}.{b64url(bytes(64))}"


def _tampered_payload() -> str:
    header, _, signature = rs256().split(".")
    return f"{header}.{b64url(claims(sub='mallory'))}.{signature}"


def _tampered_signature() -> str:
    header, body, signature = rs256().split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    return f"{header}.{body}.{b64url(bytes(raw))}"


def _embedded_jwk() -> str:
    # Signed with an attacker's key and carrying that key in the header: must not be trusted.
    attacker = public_jwk(OTHER_RSA_KEY, "rsa-1", "RS256")
    return rs256(headers={"jwk": attacker}, key=OTHER_RSA_KEY)


BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "alg none": (lambda: f"{b64url({'alg': 'none'})}.{b64url(claims())}.", "token invalid: algorithm not allowed"),
    "alg NONE": (lambda: f"{b64url({'alg': 'NONE'})}.{b64url(claims())}.", "token invalid: algorithm not allowed"),
    "alg nOnE": (lambda: f"{b64url({'alg': 'nOnE'})}.{b64url(claims())}.", "token invalid: algorithm not allowed"),
    "HS256 with the RSA public key": (_hs256_with_rsa_public_key, "token invalid: algorithm not allowed"),
    "algorithm not allowed (RS512)": (
        lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS512", headers={"kid": "rsa-1"}),
        "token invalid: algorithm not allowed",
    ),
    "all-zero ES256 signature": (_zero_es256, "token invalid: bad signature"),
    "expired": (lambda: rs256(exp=int(time.time()) - 10), "token invalid: expired"),
    "not yet valid": (lambda: rs256(nbf=int(time.time()) + 60), "token invalid: not yet valid"),
    "missing exp": (
        lambda: jwt.encode(
            {**claims(), "exp": None} and {k: v for k, v in claims().items() if k != "exp"},
            RSA_KEY,
            algorithm="RS256",
            headers={"kid": "rsa-1"},
        ),
        "token invalid: missing exp claim",
    ),
    "wrong iss": (lambda: rs256(iss="someone-else"), "token invalid: wrong issuer"),
    "substring iss": (lambda: rs256(iss=ISSUER[:-1]), "token invalid: wrong issuer"),
    "superstring iss": (lambda: rs256(iss=ISSUER + "x"), "token invalid: wrong issuer"),
    "wrong aud": (lambda: rs256(aud="other"), "token invalid: wrong audience"),
    "missing aud": (
        lambda: jwt.encode(
            {k: v for k, v in claims().items() if k != "aud"}, RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"}
        ),
        "token invalid: missing aud claim",
    ),
    "tampered payload": (_tampered_payload, "token invalid: bad signature"),
    "tampered signature": (_tampered_signature, "token invalid: bad signature"),
    "key not in the JWKS": (
        lambda: rs256(key=OTHER_RSA_KEY, headers={"kid": "rsa-other"}),
        "token invalid: unknown signing key",
    ),
    "kid of the JWKS, other key": (lambda: rs256(key=OTHER_RSA_KEY), "token invalid: bad signature"),
    "embedded jwk": (_embedded_jwk, "token invalid: bad signature"),
    "two segments": (lambda: ".".join(rs256().split(".")[:2]), "token invalid: malformed"),
    "four segments": (lambda: rs256() + ".xyz", "token invalid: malformed"),
    "bad base64": (lambda: rs256().replace(".", ".*", 1), "token invalid: malformed"),
    "non-object header": (lambda: f"{b64url(['RS256'])}.{b64url(claims())}.c2ln", "token invalid: malformed"),
    "oversized": (lambda: rs256(pad="x" * 5000), "token invalid: too long"),
    "JWE": (
        lambda: f"{b64url({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.a.b.c.d",
        "token invalid: encrypted tokens (JWE) are not accepted",
    ),
    "unknown crit": (
        lambda: rs256(headers={"crit": ["urn:x"], "urn:x": 1}),
        "token invalid: unsupported critical header",
    ),
}


async def test_bad_token_matrix_closes_4401_without_upstream_or_key_fetch(
    start: Callable[..., Any], http: aiohttp.ClientSession, upstream: Upstream, key_server: KeyServer
) -> None:
    proxy = await start()
    fetches_at_start = key_server.fetches
    # The unknown-kid case may fetch once (a rotated key); no other case may fetch at all.
    for name, (make, reason) in BAD_TOKENS.items():
        token = make()
        code, got = await sign_in(http, proxy, token)
        assert (code, got) == (CloseCode.TOKEN_INVALID, reason), name
        assert token not in got
    assert upstream.handshakes == []
    assert key_server.fetches - fetches_at_start <= 1


async def test_unknown_kid_flood_fetches_at_most_once_per_cooldown(
    start: Callable[..., Any], http: aiohttp.ClientSession, upstream: Upstream, key_server: KeyServer
) -> None:
    proxy = await start(jwks_cooldown=0.5)
    await asyncio.sleep(0.7)  # Past the cooldown of the start-up fetch.
    before = key_server.fetches
    results = await asyncio.gather(*(sign_in(http, proxy, rs256(headers={"kid": f"made-up-{i}"})) for i in range(40)))
    assert all(code == CloseCode.TOKEN_INVALID for code, _ in results)
    assert key_server.fetches - before == 1
    assert upstream.handshakes == []


async def test_rotated_key_is_found_by_one_refetch(
    start: Callable[..., Any], http: aiohttp.ClientSession, key_server: KeyServer
) -> None:
    proxy = await start(jwks_cooldown=0.3)
    await asyncio.sleep(0.4)
    key_server.keys.append(public_jwk(OTHER_RSA_KEY, "rsa-2", "RS256"))
    ws = await open_session(http, proxy, rs256(key=OTHER_RSA_KEY, headers={"kid": "rsa-2"}))
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    await ws.close()
    assert key_server.fetches == 2


async def test_jku_and_x5u_headers_are_never_fetched(
    start: Callable[..., Any], http: aiohttp.ClientSession, key_server: KeyServer, upstream: Upstream
) -> None:
    attacker = KeyServer()
    attacker.keys = [public_jwk(OTHER_RSA_KEY, "evil", "RS256")]
    await attacker.server.start_server()
    try:
        proxy = await start()
        token = rs256(key=OTHER_RSA_KEY, headers={"kid": "evil", "jku": attacker.url, "x5u": attacker.url})
        assert await sign_in(http, proxy, token) == (CloseCode.TOKEN_INVALID, "token invalid: unknown signing key")
        assert attacker.fetches == 0
        assert upstream.handshakes == []
    finally:
        await attacker.server.close()


async def test_last_good_keys_serve_while_the_key_server_is_down_then_expire(
    start: Callable[..., Any], http: aiohttp.ClientSession, key_server: KeyServer, upstream: Upstream
) -> None:
    proxy = await start(jwks_ttl=0.2, jwks_cooldown=0.2, jwks_max_stale=1.5)
    key_server.failing = True
    await asyncio.sleep(0.4)  # Past the TTL: the next sign-in refetches, which fails.
    ws = await open_session(http, proxy, rs256())
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    await ws.close()
    async with http.get(f"http://127.0.0.1:{proxy.port}/readyz") as response:
        assert (await response.json())["keys"] is True
    await asyncio.sleep(1.5)  # Past the stale limit: no keys, no sessions.
    code, reason = await sign_in(http, proxy, rs256())
    assert (code, reason) == (CloseCode.UPSTREAM_BUSY, "signing keys unavailable")
    async with http.get(f"http://127.0.0.1:{proxy.port}/readyz") as response:
        assert response.status == 503
        assert (await response.json())["keys"] is False
    assert len(upstream.handshakes) == 1
    assert key_server.fetches < 20  # Bounded by the cooldown, not by the number of attempts.


async def test_token_expiring_mid_session_closes_4408(
    start: Callable[..., Any], http: aiohttp.ClientSession, upstream: Upstream
) -> None:
    proxy = await start()
    ws = await open_session(http, proxy, rs256(exp=int(time.time()) + 2))
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    started = time.monotonic()
    assert await asyncio.wait_for(expect_close(ws), 6) == (CloseCode.SESSION_TIMEOUT, "token expired")
    assert time.monotonic() - started < 4
    assert await asyncio.wait_for(upstream.closes.get(), 5) == (CloseCode.SESSION_TIMEOUT, "token expired")


async def test_public_key_file_mode(
    start: Callable[..., Any], http: aiohttp.ClientSession, upstream: Upstream, key_server: KeyServer
) -> None:
    pem = EC_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    proxy = await start(jwks_url=None, jwt_public_key=pem, jwt_algorithms=("ES256",))
    before = key_server.fetches
    ws = await open_session(http, proxy, es256())
    await ws.send_str("x")
    assert await ws.receive_str(timeout=5) == "echo:x"
    await ws.close()
    assert await sign_in(http, proxy, rs256()) == (CloseCode.TOKEN_INVALID, "token invalid: algorithm not allowed")
    assert key_server.fetches == before
