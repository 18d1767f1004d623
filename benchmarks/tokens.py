"""User tokens for the proxy under test: RS256 keys served as a JWKS (as in production), or an
HS256 shared secret.

`token_issuer` yields the proxy's environment for one of them and a `mint` function; in JWKS mode it
serves the key set on loopback for the proxy to fetch.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from benchmarks.ports import free_port

ISSUER, AUDIENCE = "nvcf-stream-kit", "stream-proxy"


@dataclass(frozen=True)
class TokenIssuer:
    """How the proxy checks tokens in this run, and how to make one it accepts."""

    label: str
    proxy_env: dict[str, str]
    mint: Callable[[str], str]
    algorithm: str
    verify_key: Any = field(repr=False)
    """What the proxy verifies the signature with (the secret, or the JWKS' public key)."""


def _hs256(workdir: Path) -> TokenIssuer:
    from proxy.devtoken import mint_dev_token

    secret = secrets.token_hex(32).encode()
    path = workdir / "jwt-secret"
    path.write_bytes(secret)
    path.chmod(0o600)
    return TokenIssuer(
        label="HS256 (shared secret)",
        proxy_env={"PROXY_JWT_SECRET_FILE": str(path), "PROXY_JWT_ISSUER": ISSUER, "PROXY_JWT_AUDIENCE": AUDIENCE},
        mint=lambda subject: mint_dev_token(
            secret, issuer=ISSUER, audience=AUDIENCE, subject=subject, ttl_seconds=3600
        ),
        algorithm="HS256",
        verify_key=secret,
    )


@asynccontextmanager
async def _rs256_jwks() -> AsyncIterator[TokenIssuer]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_hex(8)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    app = web.Application()

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    def mint(subject: str) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now, "exp": now + 3600}
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    try:
        yield TokenIssuer(
            label="RS256 via JWKS",
            proxy_env={
                "PROXY_JWKS_URL": f"http://127.0.0.1:{port}/.well-known/jwks.json",
                "PROXY_JWT_ISSUER": ISSUER,
                "PROXY_JWT_AUDIENCE": AUDIENCE,
            },
            mint=mint,
            algorithm="RS256",
            verify_key=key.public_key(),
        )
    finally:
        await runner.cleanup()


@asynccontextmanager
async def token_issuer(workdir: Path, mode: str = "rs256-jwks") -> AsyncIterator[TokenIssuer]:
    """The token set-up `mode` (``rs256-jwks`` or ``hs256``) names, for as long as the proxy runs."""
    if mode == "rs256-jwks":
        async with _rs256_jwks() as issuer:
            yield issuer
    else:
        yield _hs256(workdir)
