"""Mint a user token for development: `python -m proxy.devtoken --secret-file F`.

In production an identity service issues the tokens; this stands in for it on a developer's
machine and in tests. The token is what `proxy.tokens.validate_token` accepts: HS256 (or, with
`--key-file` holding a PEM private key, RS256/ES256/...) with `iss`, `aud`, `sub`, `iat`, `nbf`,
`exp` and optionally `groups`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Final

import jwt

from proxy.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, ConfigError, read_secret_file
from proxy.tokens import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, MAX_SUBJECT_CHARS, MIN_SECRET_BYTES

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


def main(argv: Sequence[str] | None = None) -> int:
    """Print a token; the secret comes from --secret-file, else PROXY_JWT_SECRET(_FILE)."""
    parser = argparse.ArgumentParser(prog="python -m proxy.devtoken", description=__doc__)
    parser.add_argument(
        "--secret-file",
        help="file holding the proxy's PROXY_JWT_SECRET [default: env PROXY_JWT_SECRET_FILE, "
        "else env PROXY_JWT_SECRET]",
    )
    parser.add_argument("--key-file", help="PEM private key for --algorithm RS256/ES256/... (instead of a secret)")
    parser.add_argument("--algorithm", default="HS256", help="signing algorithm [default: HS256]")
    parser.add_argument("--kid", help="key id header (to match a JWKS entry)")
    parser.add_argument("--group", action="append", default=[], help="a group for the 'groups' claim (repeatable)")
    parser.add_argument("--subject", default="dev", help="the user's name, 'sub' [default: dev]")
    parser.add_argument("--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime [default: 3600]")
    parser.add_argument(
        "--issuer",
        default=os.environ.get("PROXY_JWT_ISSUER") or DEFAULT_JWT_ISSUER,
        help=f"'iss' [default: env PROXY_JWT_ISSUER, else {DEFAULT_JWT_ISSUER}]",
    )
    parser.add_argument(
        "--audience",
        default=os.environ.get("PROXY_JWT_AUDIENCE") or DEFAULT_JWT_AUDIENCE,
        help=f"'aud' [default: env PROXY_JWT_AUDIENCE, else {DEFAULT_JWT_AUDIENCE}]",
    )
    args = parser.parse_args(argv)
    try:
        secret_file = args.secret_file or os.environ.get("PROXY_JWT_SECRET_FILE")
        if args.key_file:
            secret = read_secret_file(args.key_file, "--key-file")
        elif secret_file:
            secret = read_secret_file(secret_file, "--secret-file")
        elif os.environ.get("PROXY_JWT_SECRET"):
            secret = os.environ["PROXY_JWT_SECRET"].strip().encode()
        else:
            raise ConfigError("give --secret-file, or set PROXY_JWT_SECRET(_FILE)")
        token = mint_dev_token(
            secret,
            issuer=args.issuer,
            audience=args.audience,
            subject=args.subject,
            ttl_seconds=args.ttl,
            algorithm=args.algorithm,
            groups=args.group,
            kid=args.kid,
        )
    except (ConfigError, ValueError) as exc:
        print(f"devtoken: error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
