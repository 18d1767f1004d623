"""Validates the user tokens the browser presents (JWTs), following RFC 8725.

An allow-list of algorithms, `exp` required, `iss` and `aud` compared exactly, a small bounded
clock leeway, `nbf`/`iat` honoured, unknown `crit` refused, size bounded. Key-carrying headers
(`jku`, `x5u`, `jwk`, `x5c`) are never read: the key always comes from the proxy's own key source
(`proxy.signing_keys`). A rejection carries a reason made only of our own words, never of the
token or of library messages that might quote it, so the reason is safe to send and to log.

The header and claim checks are pure; only `validate_token` awaits (the key source may fetch).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol

import jwt

HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SUPPORTED_ALGORITHMS: Final = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS

MIN_SECRET_BYTES: Final = 32
"""RFC 7518 3.2: an HS256 key must be at least as long as the hash output (256 bits)."""

MAX_LEEWAY_SECONDS: Final = 60.0
"""Clock skew allowed at most; a larger leeway would quietly extend every token's life."""

DEFAULT_MAX_TOKEN_BYTES: Final = 4096
MAX_TOKEN_BYTES_LIMIT: Final = 7168
"""aiohttp refuses header lines over 8190 bytes; a token must fit in `Sec-WebSocket-Protocol`."""

MAX_SUBJECT_CHARS: Final = 256
MAX_GROUPS: Final = 256

# Header parameters we implement (RFC 7515 4.1); anything named in `crit` must be one of these.
_UNDERSTOOD_CRIT: Final = frozenset[str]()


class TokenRejected(Exception):
    """The token is missing or invalid; `reason` says why in words safe to show and log.

    `keys_unavailable` is True when the token could not be checked because the proxy has no
    usable signing keys (the key server is down): not the user's fault.
    """

    def __init__(self, reason: str, *, keys_unavailable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys_unavailable = keys_unavailable


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must satisfy, apart from its signature key."""

    issuer: str
    audience: str
    algorithms: frozenset[str] = frozenset({"HS256"})
    leeway_seconds: float = 0.0
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
    user_claim: str = "sub"
    groups_claim: str = "groups"

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("the token issuer and audience must not be empty")
        if not self.algorithms or not self.algorithms <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"token algorithms must be some of {', '.join(sorted(SUPPORTED_ALGORITHMS))}")
        if self.algorithms & HMAC_ALGORITHMS and self.algorithms & ASYMMETRIC_ALGORITHMS:
            # One key source serves one kind; mixing them is the classic algorithm-confusion setup.
            raise ValueError("token algorithms must be all HMAC (HS*) or all asymmetric, not both")
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"the token leeway must be 0-{MAX_LEEWAY_SECONDS:g} seconds")
        if not 64 <= self.max_token_bytes <= MAX_TOKEN_BYTES_LIMIT:
            raise ValueError(f"the token size limit must be 64-{MAX_TOKEN_BYTES_LIMIT} bytes")
        if not self.user_claim or not self.groups_claim:
            raise ValueError("the user and groups claim names must not be empty")


@dataclass(frozen=True)
class TokenHeader:
    """The parts of a JOSE header the proxy uses: the algorithm and the key id."""

    alg: str
    kid: str | None


@dataclass(frozen=True)
class UserToken:
    """The verified content of a token: who the user is and until when the token holds."""

    subject: str
    groups: tuple[str, ...]
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)


class KeySource(Protocol):
    """Where verification keys come from (`proxy.signing_keys`)."""

    async def key_for(self, header: TokenHeader) -> Any:
        """The key to verify a token with this header; raises `TokenRejected`."""
        ...


def _b64decode(segment: str) -> bytes:
    if not segment or not all(ch.isalnum() or ch in "-_" for ch in segment) or not segment.isascii():
        raise TokenRejected("token invalid: malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRejected("token invalid: malformed") from None


def read_header(token: str | None, policy: TokenPolicy) -> TokenHeader:
    """Check the token's shape and header before any key lookup or signature work.

    The header is parsed here rather than by PyJWT so that the rules (and their reasons) do not
    depend on the PyJWT release, and so that a bad token never makes the proxy fetch keys.
    """
    if token is None:
        raise TokenRejected("token missing")
    if len(token) > policy.max_token_bytes:
        raise TokenRejected("token invalid: too long")
    parts = token.split(".")
    if len(parts) == 5:
        raise TokenRejected("token invalid: encrypted tokens (JWE) are not accepted")
    if len(parts) != 3:
        raise TokenRejected("token invalid: malformed")
    try:
        header = json.loads(_b64decode(parts[0]))
    # JSONDecodeError is a ValueError; deep nesting raises RecursionError.
    except (ValueError, UnicodeError, RecursionError):
        raise TokenRejected("token invalid: malformed") from None
    if not isinstance(header, dict):
        raise TokenRejected("token invalid: malformed")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in policy.algorithms:
        # Covers `none` in any spelling, and algorithms the key source could not be used with.
        raise TokenRejected("token invalid: algorithm not allowed")
    # Checked after `alg` so that an unsigned (`alg: none`) token is named for what it is.
    _b64decode(parts[1])
    _b64decode(parts[2])
    if "enc" in header or "zip" in header:
        raise TokenRejected("token invalid: encrypted tokens (JWE) are not accepted")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or not set(crit) <= _UNDERSTOOD_CRIT:
            # RFC 7515 4.1.11: a critical extension we do not implement makes the token invalid.
            raise TokenRejected("token invalid: unsupported critical header")
    if header.get("b64") is False:
        raise TokenRejected("token invalid: unsupported critical header")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > 256):
        raise TokenRejected("token invalid: bad kid header")
    return TokenHeader(alg=alg, kid=kid)


# Most specific first: PyJWT's exception classes inherit from each other (e.g. a bad signature is
# a DecodeError), and the first match decides the reason.
_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "token invalid: expired"),
    (jwt.ImmatureSignatureError, "token invalid: not yet valid"),
    (jwt.InvalidIssuerError, "token invalid: wrong issuer"),
    (jwt.InvalidAudienceError, "token invalid: wrong audience"),
    (jwt.InvalidAlgorithmError, "token invalid: algorithm not allowed"),
    (jwt.InvalidSignatureError, "token invalid: bad signature"),
    (jwt.InvalidIssuedAtError, "token invalid: bad iat claim"),
    (jwt.InvalidKeyError, "token invalid: key does not fit the algorithm"),
    (jwt.DecodeError, "token invalid: malformed"),
)


def _reason_for(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        # exc.claim is one of the names we required, i.e. our own words.
        return f"token invalid: missing {exc.claim} claim"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "token invalid"


def _printable_name(value: object, max_chars: int = MAX_SUBJECT_CHARS) -> bool:
    # Names are written into log lines: short, and free of control characters.
    return isinstance(value, str) and 0 < len(value) <= max_chars and value.isprintable()


def verify_token(token: str, header: TokenHeader, key: Any, policy: TokenPolicy) -> UserToken:
    """Verify signature and claims with `key` (already chosen for `header`); pure."""
    required = ["exp", "iss", "aud", policy.user_claim]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[header.alg],  # Already checked against the allow-list and the key.
            issuer=policy.issuer,
            audience=policy.audience,
            leeway=policy.leeway_seconds,
            options={
                "require": required,
                # `aud` must be exactly our audience, not a list that happens to contain it.
                "strict_aud": True,
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_iss": True,
                "verify_aud": True,
                "verify_sub": False,  # Checked below with our own rules, for any user claim.
                "verify_jti": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected(_reason_for(exc)) from None
    except RecursionError:  # A deeply nested payload (signed with our key, but still refused).
        raise TokenRejected("token invalid: malformed") from None
    except (ValueError, TypeError):  # A key object the algorithm cannot use (should not happen).
        raise TokenRejected("token invalid: key does not fit the algorithm") from None
    # Exact comparisons of our own, whatever PyJWT's release does (2.10.0 matched `iss` by
    # substring, CVE-2024-53861).
    if not isinstance(claims.get("iss"), str) or claims["iss"] != policy.issuer:
        raise TokenRejected("token invalid: wrong issuer")
    if not isinstance(claims.get("aud"), str) or claims["aud"] != policy.audience:
        raise TokenRejected("token invalid: wrong audience")
    subject = claims.get(policy.user_claim)
    if not _printable_name(subject):
        raise TokenRejected(f"token invalid: bad {policy.user_claim} claim")
    raw_groups = claims.get(policy.groups_claim, [])
    if isinstance(raw_groups, str):
        raw_groups = [raw_groups]
    if (
        not isinstance(raw_groups, list)
        or len(raw_groups) > MAX_GROUPS
        or not all(_printable_name(g) for g in raw_groups)
    ):
        raise TokenRejected(f"token invalid: bad {policy.groups_claim} claim")
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenRejected("token invalid: malformed")
    assert isinstance(subject, str)
    return UserToken(
        subject=subject,
        groups=tuple(raw_groups),
        expires_at=int(exp),
        claims=MappingProxyType(claims),
    )


async def validate_token(token: str | None, policy: TokenPolicy, keys: KeySource) -> UserToken:
    """Return the verified token content, or raise `TokenRejected` with a safe reason.

    The header is checked before the key source is asked, so a malformed token or a disallowed
    algorithm never makes the proxy fetch keys.
    """
    header = read_header(token, policy)
    assert token is not None
    key = await keys.key_for(header)
    return verify_token(token, header, key, policy)
