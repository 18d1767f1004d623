"""Mint a user token for development: `python -m proxy.devtoken --secret-file F`.

In production an identity service issues the tokens; this stands in for it on a developer's
machine and in tests. The token is what `proxy.tokens.validate_token` accepts: HS256 (or, with
`--key-file` holding a PEM private key, RS256/ES256/...) with `iss`, `aud`, `sub`, `iat`, `nbf`,
`exp` and optionally `groups`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from typing import Final

import jwt

import settings
from proxy.config import SETTINGS as PROXY_SETTINGS
from proxy.tokens import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, MAX_SUBJECT_CHARS, MIN_SECRET_BYTES
from settings import SettingsGroup

MAX_TTL_SECONDS: Final = 7 * 24 * 3600
"""A week: long enough for a development session, short enough not to become a credential."""


def mint_dev_token(
    secret: bytes,
    *,
    issuer: str,
    audience: str,
    subject: str,
    ttl_seconds: int,
    algorithm: str = "HS256",
    groups: Sequence[str] = (),
    kid: str | None = None,
) -> str:
    """Return a token for `subject`, valid from now for `ttl_seconds`.

    `secret` is the HMAC secret for HS* algorithms, else a PEM private key.
    """
    if algorithm in HMAC_ALGORITHMS:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the secret must be at least {MIN_SECRET_BYTES} bytes")
    elif algorithm not in ASYMMETRIC_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be 1-{MAX_TTL_SECONDS}")
    if not subject or len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        raise ValueError(f"the subject must be 1-{MAX_SUBJECT_CHARS} printable characters")
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
    }
    if groups:
        claims["groups"] = list(groups)
    headers = {"typ": "JWT"} if kid is None else {"typ": "JWT", "kid": kid}
    try:
        return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)
    except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ValueError(f"the key cannot sign {algorithm} tokens ({type(exc).__name__})") from None


_SETTINGS: Final = SettingsGroup(
    prog="python -m proxy.devtoken",
    description="Mint a user token for development, signed the way the proxy's settings say.",
    # The proxy's own declarations: the token matches whatever the proxy is configured with.
    settings=(
        dataclasses.replace(PROXY_SETTINGS.setting("jwt_secret_file"), flag="--secret-file"),
        PROXY_SETTINGS.setting("jwt_secret"),
        dataclasses.replace(PROXY_SETTINGS.setting("jwt_issuer"), flag="--issuer"),
        dataclasses.replace(PROXY_SETTINGS.setting("jwt_audience"), flag="--audience"),
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Print a token; the secret comes from --secret-file, else PROXY_JWT_SECRET(_FILE)."""
    parser = settings.build_parser(_SETTINGS, os.environ)
    parser.add_argument("--key-file", help="PEM private key for --algorithm RS256/ES256/... (instead of a secret)")
    parser.add_argument("--algorithm", default="HS256", help="signing algorithm [default: HS256]")
    parser.add_argument("--kid", help="key id header (to match a JWKS entry)")
    parser.add_argument("--group", action="append", default=[], help="a group for the 'groups' claim (repeatable)")
    parser.add_argument("--subject", default="dev", help="the user's name, 'sub' [default: dev]")
    parser.add_argument("--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime [default: 3600]")
    args = parser.parse_args(argv)
    try:
        loaded = settings.resolve(_SETTINGS, vars(args), os.environ)
        if args.key_file:
            secret = settings.read_secret_file(args.key_file, "--key-file")
        elif loaded["jwt_secret_file"] is not None:
            secret = settings.read_secret_file(loaded["jwt_secret_file"], loaded.sources["jwt_secret_file"])
        elif loaded["jwt_secret"] is not None:
            secret = loaded["jwt_secret"]
        else:
            raise settings.SettingsError("give --secret-file, or set PROXY_JWT_SECRET(_FILE)")
        token = mint_dev_token(
            secret,
            issuer=loaded["jwt_issuer"],
            audience=loaded["jwt_audience"],
            subject=args.subject,
            ttl_seconds=args.ttl,
            algorithm=args.algorithm,
            groups=args.group,
            kid=args.kid,
        )
    except ValueError as exc:  # settings.SettingsError is one
        print(f"devtoken: error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
