"""Where token verification keys come from: a secret, a PEM public key, or a JWKS URL.

`JwksKeys` fetches the key set with aiohttp (never PyJWKClient's blocking urllib), keeps it for a
TTL, refetches on an unknown `kid` at most once per cooldown (so a flood of made-up key ids cannot
make the proxy hammer the key server), and keeps serving the last good keys for a bounded time
when the key server is down. Only one fetch runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from proxy.tokens import HMAC_ALGORITHMS, MIN_SECRET_BYTES, TokenHeader, TokenRejected

logger = logging.getLogger("proxy.keys")

MAX_JWKS_BYTES: Final = 256 * 1024
"""A key set is a few kilobytes; a larger answer is refused rather than parsed."""

_EC_CURVES: Final = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_JWK_CURVES: Final = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


class KeyConfigError(Exception):
    """A configured key cannot be used with the configured algorithms."""


def key_fits(alg: str, key: Any) -> bool:
    """True when `key` (a cryptography public key) is of the kind `alg` signs with."""
    if alg.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey)
    if alg in _EC_CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _EC_CURVES[alg]
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


class SecretKey:
    """One shared HMAC secret (the simple setup: `PROXY_JWT_SECRET(_FILE)`)."""

    ready = True

    def __init__(self, secret: bytes, algorithms: frozenset[str]) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise KeyConfigError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
        if not algorithms <= HMAC_ALGORITHMS:
            raise KeyConfigError("a token secret can only verify HS256/HS384/HS512 tokens")
        self._secret = secret

    def __repr__(self) -> str:
        return "SecretKey(***)"

    async def key_for(self, header: TokenHeader) -> Any:
        """The secret, for any allowed HMAC algorithm (the header was checked already)."""
        return self._secret


class PublicKey:
    """One PEM public key (RSA, EC or Ed25519), for a fixed identity provider key."""

    ready = True

    def __init__(self, pem: bytes, algorithms: frozenset[str]) -> None:
        try:
            key = load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise KeyConfigError(f"not a PEM public key: {type(exc).__name__}") from None
        unfit = sorted(alg for alg in algorithms if not key_fits(alg, key))
        if unfit:
            raise KeyConfigError(f"the public key cannot verify {', '.join(unfit)} tokens")
        self._key = key

    async def key_for(self, header: TokenHeader) -> Any:
        """The public key (the header's `alg` is allowed, and every allowed one fits it)."""
        return self._key


@dataclass(frozen=True)
class JwksSettings:
    """How `JwksKeys` fetches and caches (all durations in seconds)."""

    url: str
    ttl: float = 300.0
    cooldown: float = 30.0
    max_stale: float = 3600.0
    timeout: float = 5.0


@dataclass(frozen=True)
class _Jwk:
    key: Any
    alg: str | None
    kty: str
    crv: str | None


def _usable_keys(document: Any) -> dict[str | None, _Jwk]:
    """The signing keys of a JWKS document by `kid`; keys PyJWT cannot load are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str | None, _Jwk] = {}
    for raw in document["keys"]:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
            continue  # Encryption keys, and shared secrets, which have no place in a public set.
        try:
            pyjwk = jwt.PyJWK(raw)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        kid = raw.get("kid")
        kid = kid if isinstance(kid, str) else None
        alg = raw.get("alg") if isinstance(raw.get("alg"), str) else None
        keys[kid] = _Jwk(key=pyjwk.key, alg=alg, kty=str(raw.get("kty")), crv=raw.get("crv"))
    return keys


class JwksKeys:
    """Verification keys from a JWKS URL, cached; see the module docstring for the rules.

    `on_fetch(result)` is called once per fetch with `"ok"` or `"error"` (for metrics).
    """

    def __init__(
        self,
        settings: JwksSettings,
        session: aiohttp.ClientSession,
        *,
        on_fetch: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._session = session
        self._on_fetch = on_fetch
        self._clock = clock
        self._keys: dict[str | None, _Jwk] = {}
        self._good_at: float | None = None  # When the keys in hand were fetched.
        self._tried_at: float | None = None  # When the last fetch (good or not) started.
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        """True while the proxy holds keys that are not older than the stale limit."""
        return bool(self._keys) and self._good_at is not None and not self._too_stale()

    def _too_stale(self) -> bool:
        return self._good_at is None or self._clock() - self._good_at > self._settings.max_stale

    def _cooling_down(self) -> bool:
        return self._tried_at is not None and self._clock() - self._tried_at < self._settings.cooldown

    async def refresh(self) -> None:
        """Fetch the key set unless a fetch happened within the cooldown (single flight)."""
        asked_at = self._clock()
        async with self._lock:
            # Someone else fetched while we waited for the lock: their answer is ours.
            if self._tried_at is not None and self._tried_at >= asked_at:
                return
            if self._cooling_down():
                return
            self._tried_at = self._clock()
            try:
                keys = await self._fetch()
            except Exception as exc:  # Any failure: keep the last good keys (bounded by max_stale).
                logger.warning("JWKS fetch from %s failed: %s", self._settings.url, type(exc).__name__)
                if self._on_fetch is not None:
                    self._on_fetch("error")
                return
            self._keys, self._good_at = keys, self._clock()
            if self._on_fetch is not None:
                self._on_fetch("ok")
            logger.info("JWKS fetched from %s: %d signing key(s)", self._settings.url, len(keys))

    async def _fetch(self) -> dict[str | None, _Jwk]:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        async with self._session.get(self._settings.url, timeout=timeout, allow_redirects=False) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = await response.content.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError("key set too large")
        import json  # Local: the stdlib parser, not aiohttp's content-type-checking one.

        return _usable_keys(json.loads(body))

    def _lookup(self, header: TokenHeader) -> _Jwk | None:
        if header.kid is not None:
            return self._keys.get(header.kid)
        # No kid: only unambiguous when the set holds a single key.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def key_for(self, header: TokenHeader) -> Any:
        """The key named by the token's `kid`, fetching at most once per cooldown."""
        if self._good_at is None or self._clock() - self._good_at > self._settings.ttl:
            await self.refresh()
        jwk = self._lookup(header)
        if jwk is None and self._keys:
            await self.refresh()  # A rotated key; the cooldown bounds how often this fetches.
            jwk = self._lookup(header)
        if self._too_stale():
            if self._keys:
                logger.error("JWKS keys older than the stale limit; refusing tokens until a fetch succeeds")
            self._keys = {}
            raise TokenRejected("signing keys unavailable", keys_unavailable=True)
        if jwk is None:
            raise TokenRejected("token invalid: unknown signing key")
        if jwk.alg is not None and jwk.alg != header.alg:
            raise TokenRejected("token invalid: algorithm does not match the key")
        if not key_fits(header.alg, jwk.key):
            raise TokenRejected("token invalid: algorithm does not match the key")
        return jwk.key
