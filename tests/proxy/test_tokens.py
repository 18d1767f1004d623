"""User tokens and their transport in `Sec-WebSocket-Protocol`: pure functions, no sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.devtoken import mint_dev_token
from proxy.signing_keys import SecretKey
from proxy.subprotocols import APP_PROTOCOL, parse_offer
from proxy.tokens import TokenPolicy, TokenRejected, UserToken, read_header
from proxy.tokens import validate_token as validate_async

SECRET = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
POLICY = TokenPolicy(issuer="nvcf-stream-kit", audience="stream-proxy")
KEYS = SecretKey(SECRET, POLICY.algorithms)


def validate_token(token: str | None, policy: TokenPolicy) -> UserToken:
    """The real validator, driven synchronously (a secret key source never waits)."""
    return asyncio.run(validate_async(token, policy, KEYS))


_UNSET = object()


def make_token(
    *,
    key: bytes = SECRET,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token with valid defaults; a claim given as _UNSET is left out."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": "nvcf-stream-kit",
        "aud": "stream-proxy",
        "sub": "alice",
        "iat": now,
        "exp": now + 60,
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not _UNSET}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_token(**claims: Any) -> str:
    """An `alg: none` token, built by hand so no library refuses to make it."""
    now = int(time.time())
    payload = {"iss": "nvcf-stream-kit", "aud": "stream-proxy", "sub": "alice", "exp": now + 60}
    payload.update(claims)
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(payload)}."


# --- validate_token -------------------------------------------------------------------------


def test_valid_token_gives_subject_and_expiry() -> None:
    token = make_token(sub="alice", exp=2_000_000_000)
    user = validate_token(token, POLICY)
    assert user.subject == "alice"
    assert user.expires_at == 2_000_000_000
    assert user.claims["iss"] == "nvcf-stream-kit"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: None, "token missing"),
        (
            lambda: make_token(key=b"another-secret-of-enough-length-0123456789"),
            "token invalid: bad signature",
        ),
        (lambda: make_token(exp=int(time.time()) - 30), "token invalid: expired"),
        (lambda: make_token(exp=_UNSET), "token invalid: missing exp claim"),
        (lambda: make_token(iss=_UNSET), "token invalid: missing iss claim"),
        (lambda: make_token(aud=_UNSET), "token invalid: missing aud claim"),
        (lambda: make_token(sub=_UNSET), "token invalid: missing sub claim"),
        (lambda: make_token(iss="someone-else"), "token invalid: wrong issuer"),
        (lambda: make_token(iss="nvcf-stream-kit-evil"), "token invalid: wrong issuer"),
        (lambda: make_token(aud="other-service"), "token invalid: wrong audience"),
        (lambda: make_token(aud=["stream-proxy", "other"]), "token invalid: wrong audience"),
        (lambda: unsigned_token(), "token invalid: algorithm not allowed"),
        (lambda: make_token(algorithm="HS512"), "token invalid: algorithm not allowed"),
        (lambda: make_token(nbf=int(time.time()) + 60), "token invalid: not yet valid"),
        (lambda: make_token(iat=int(time.time()) + 60), "token invalid: not yet valid"),
        (lambda: make_token(exp="tomorrow"), "token invalid: malformed"),
        (lambda: make_token(sub=42), "token invalid: bad sub claim"),
        (lambda: make_token(sub=""), "token invalid: bad sub claim"),
        (lambda: make_token(sub="alice\nINFO forged log line"), "token invalid: bad sub claim"),
        (lambda: make_token(headers={"crit": ["exp"]}), "token invalid: unsupported critical header"),
        (lambda: "not-a-jwt", "token invalid: malformed"),
        (lambda: "a.b.c", "token invalid: malformed"),
        (lambda: "", "token invalid: malformed"),
        (lambda: "x" * 5000, "token invalid: too long"),
        (lambda: "a.b", "token invalid: malformed"),
        (lambda: "a.b.c.d", "token invalid: malformed"),
        (lambda: "a.b.c.d.e", "token invalid: encrypted tokens (JWE) are not accepted"),
        (lambda: b64url({"alg": "NoNe"}) + "." + b64url({"sub": "x"}) + ".", "token invalid: algorithm not allowed"),
        (lambda: b64url([1, 2]) + ".e30.c2ln", "token invalid: malformed"),  # type: ignore[arg-type]
        (lambda: "eyJhbGciOiJIUzI1NiJ9.!!!.c2ln", "token invalid: malformed"),
        (lambda: make_token(groups=[1, 2]), "token invalid: bad groups claim"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_token_is_rejected_with_a_reason(make: Callable[[], str | None], reason: str) -> None:
    # Minted here, not at collection: a token made then could expire before the test runs.
    token = make()
    with pytest.raises(TokenRejected) as caught:
        validate_token(token, POLICY)
    assert caught.value.reason == reason
    if token:
        assert token not in caught.value.reason


def test_leeway_accepts_a_token_expired_within_it() -> None:
    token = make_token(exp=int(time.time()) - 5)
    lenient = TokenPolicy(issuer="nvcf-stream-kit", audience="stream-proxy", leeway_seconds=30)
    assert validate_token(token, lenient).subject == "alice"
    with pytest.raises(TokenRejected):
        validate_token(token, POLICY)


def test_nbf_and_iat_in_the_past_are_accepted() -> None:
    now = int(time.time())
    assert validate_token(make_token(nbf=now - 10, iat=now - 10), POLICY).subject == "alice"


@pytest.mark.parametrize(
    "changes",
    [
        {"algorithms": frozenset({"none"})},
        {"algorithms": frozenset({"HS256", "RS256"})},
        {"algorithms": frozenset()},
        {"max_token_bytes": 10**6},
        {"leeway_seconds": 61},
        {"leeway_seconds": -1},
        {"issuer": ""},
        {"audience": ""},
    ],
)
def test_policy_refuses_unsafe_settings(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"issuer": "i", "audience": "a"} | changes
    with pytest.raises(ValueError):
        TokenPolicy(**arguments)


def test_secret_key_repr_hides_the_secret() -> None:
    assert SECRET.decode() not in repr(KEYS)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=600), st.lists(st.text(alphabet="abcXYZ-_=+/0", max_size=80), max_size=6).map(".".join))
)
def test_arbitrary_strings_never_crash_the_validator(token: str) -> None:
    # Only TokenRejected may come out, with one of our own reasons.
    with pytest.raises(TokenRejected) as caught:
        validate_token(token, POLICY)
    assert caught.value.reason.startswith("token")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3),
            max_leaves=5,
        ),
        max_size=5,
    )
)
def test_arbitrary_headers_never_crash_the_header_check(header: dict[str, Any]) -> None:
    token = f"{b64url(header)}.{b64url({'sub': 'x'})}.c2ln"
    try:
        read_header(token, POLICY)
    except TokenRejected as rejected:
        assert rejected.reason.startswith("token")


# --- the devtoken minter --------------------------------------------------------------------


def test_minted_dev_token_is_accepted() -> None:
    token = mint_dev_token(SECRET, issuer="nvcf-stream-kit", audience="stream-proxy", subject="bob", ttl_seconds=60)
    user = validate_token(token, POLICY)
    assert user.subject == "bob"
    assert 55 <= user.expires_at - time.time() <= 60


@pytest.mark.parametrize("changes", [{"ttl_seconds": 0}, {"subject": ""}, {"secret": b"short"}, {"ttl_seconds": 10**9}])
def test_minter_refuses_bad_arguments(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "secret": SECRET,
        "issuer": "i",
        "audience": "a",
        "subject": "bob",
        "ttl_seconds": 60,
    } | changes
    secret = arguments.pop("secret")
    with pytest.raises(ValueError):
        mint_dev_token(secret, **arguments)


# --- token transport: the Sec-WebSocket-Protocol offer --------------------------------------


def test_offer_with_app_protocol_and_token() -> None:
    offer = parse_offer(f"{APP_PROTOCOL}, token.abc.def.ghi")
    assert offer.app_protocol_offered
    assert offer.token == "abc.def.ghi"
    assert offer.token_error is None


def test_offer_tolerates_whitespace_order_and_unknown_items() -> None:
    offer = parse_offer(f" token.t1 ,nvcf-stream-v2,  {APP_PROTOCOL} ,,")
    assert offer.app_protocol_offered
    assert offer.token == "t1"


def test_offer_without_token_has_no_token() -> None:
    offer = parse_offer(APP_PROTOCOL)
    assert offer.app_protocol_offered
    assert offer.token is None
    assert offer.token_error is None


def test_offer_without_app_protocol_is_flagged() -> None:
    assert not parse_offer("token.abc").app_protocol_offered
    assert not parse_offer(None).app_protocol_offered
    # A prefix or a longer name is not the protocol.
    assert not parse_offer("nvcf-stream-v1x, token.abc").app_protocol_offered


def test_offer_with_two_tokens_is_an_error() -> None:
    offer = parse_offer(f"{APP_PROTOCOL}, token.one, token.two")
    assert offer.token is None
    assert offer.token_error == "token invalid: more than one token offered"


def test_offer_with_empty_token_is_an_error() -> None:
    assert parse_offer(f"{APP_PROTOCOL}, token.").token_error == "token invalid: empty"


def test_offer_repr_hides_the_token() -> None:
    assert "s3cr3t" not in repr(parse_offer(f"{APP_PROTOCOL}, token.s3cr3t"))
