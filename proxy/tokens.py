"""Validates the user tokens the browser presents: HS256 JWTs with a fixed issuer and audience.

Follows RFC 8725: one allowed algorithm, `exp` required, `iss` and `aud` compared exactly, a small
bounded clock leeway. Pure: no I/O, no logging. A rejection carries a reason made only of our own
words, never of the token or of library messages that might quote it, so the reason is safe to
send to the browser and to log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import jwt

ALGORITHM: Final = "HS256"
"""The only signing algorithm accepted (an allow-list of one)."""

MIN_SECRET_BYTES: Final = 32
"""RFC 7518 3.2: an HS256 key must be at least as long as the hash output (256 bits)."""

MAX_LEEWAY_SECONDS: Final = 60.0
"""Clock skew allowed at most; a larger leeway would quietly extend every token's life."""

MAX_TOKEN_CHARS: Final = 4096
"""Longer strings are refused before parsing; real tokens are a few hundred characters."""

MAX_SUBJECT_CHARS: Final = 256

REQUIRED_CLAIMS: Final = ("exp", "iss", "aud", "sub")
"""`sub` names the user in logs and, later, in authorization decisions."""


class TokenRejected(Exception):
    """The token is missing or invalid; `reason` says why in words safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must satisfy: signed with `secret`, issued by `issuer` for `audience`."""

    secret: bytes = field(repr=False)
    issuer: str
    audience: str
    leeway_seconds: float = 0.0

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
        if not self.issuer or not self.audience:
            raise ValueError("the token issuer and audience must not be empty")
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"the token leeway must be 0-{MAX_LEEWAY_SECONDS:g} seconds")


@dataclass(frozen=True)
class UserToken:
    """The verified content of a token."""

    subject: str
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)


# Most specific first: PyJWT's exception classes inherit from each other (e.g. a bad signature is
# a DecodeError), and the first match decides the reason.
_REASONS: Final[tuple[tuple[type[jwt.InvalidTokenError], str], ...]] = (
    (jwt.ExpiredSignatureError, "token invalid: expired"),
    (jwt.ImmatureSignatureError, "token invalid: not yet valid"),
    (jwt.InvalidIssuerError, "token invalid: wrong issuer"),
    (jwt.InvalidAudienceError, "token invalid: wrong audience"),
    (jwt.InvalidAlgorithmError, "token invalid: algorithm not allowed"),
    (jwt.InvalidSignatureError, "token invalid: bad signature"),
    (jwt.InvalidIssuedAtError, "token invalid: bad iat claim"),
    (jwt.DecodeError, "token invalid: malformed"),
)


def _reason_for(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        # exc.claim is one of REQUIRED_CLAIMS, i.e. our own words.
        return f"token invalid: missing {exc.claim} claim"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "token invalid"


def _check_header(token: str) -> None:
    """Refuse what PyJWT might accept but we do not want, before any signature work.

    The header is read here rather than with PyJWT so that the rules (and their reasons) do not
    depend on the PyJWT release.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("token invalid: malformed")
    try:
        segment = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(segment.encode("ascii")))
    except (ValueError, UnicodeError):  # binascii.Error and JSONDecodeError are ValueErrors.
        raise TokenRejected("token invalid: malformed") from None
    if not isinstance(header, dict):
        raise TokenRejected("token invalid: malformed")
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("token invalid: algorithm not allowed")
    if "crit" in header:
        # RFC 7515 4.1.11: a critical extension we do not implement makes the token invalid.
        raise TokenRejected("token invalid: unsupported critical header")


def validate_token(token: str | None, policy: TokenPolicy) -> UserToken:
    """Return the verified token content, or raise `TokenRejected` with a safe reason.

    `nbf` and `iat` are honoured when present (a token is not valid before either).
    """
    if token is None:
        raise TokenRejected("token missing")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("token invalid: too long")
    _check_header(token)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=policy.secret,
            algorithms=[ALGORITHM],
            issuer=policy.issuer,
            audience=policy.audience,
            leeway=policy.leeway_seconds,
            options={
                "require": list(REQUIRED_CLAIMS),
                # `aud` must be exactly our audience, not a list that happens to contain it.
                "strict_aud": True,
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_iss": True,
                "verify_aud": True,
                # Checked below with our own rules (PyJWT's check and its error class are recent).
                "verify_sub": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(_reason_for(exc)) from None
    subject = claims["sub"]
    # The subject is written into log lines: keep it short and free of control characters.
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        raise TokenRejected("token invalid: bad sub claim")
    return UserToken(subject=subject, expires_at=int(claims["exp"]), claims=MappingProxyType(claims))
