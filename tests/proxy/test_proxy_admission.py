"""The sign-in's decisions without sockets: `proxy.admission` and `proxy.refusals`.

Every branch of `read_handshake` and `admit`, their order, and the table that turns each refusal
into a wire answer, held against the docs.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from proxy.admission import (
    DRAINING,
    Admission,
    AdmissionFacts,
    HandshakeFacts,
    SignInRequest,
    admit,
    limits_unavailable,
    read_handshake,
    sessions_full,
    token_problem,
    token_refusal,
)
from proxy.closecodes import CloseCode
from proxy.policy import AccessPolicy, Grant, StreamingFunction
from proxy.refusals import CloseAnswer, HttpAnswer, Refusal, RefusalKind, Stage, wire_answer
from proxy.subprotocols import APP_PROTOCOL
from proxy.tokens import TokenRejected, UserToken

DOCS = Path(__file__).resolve().parents[2] / "docs"

PAINT = StreamingFunction("paint", "fid-paint")
CUBE = StreamingFunction("cube", "fid-cube")
POLICY = AccessPolicy(
    functions=MappingProxyType({"paint": PAINT, "cube": CUBE}),
    users=MappingProxyType({"alice": Grant(frozenset({"paint"}), max_sessions=2)}),
    groups=MappingProxyType({"staff": Grant(frozenset({"paint", "cube"}))}),
    default_function="paint",
)
ALICE = UserToken("alice", (), 2_000_000_000, MappingProxyType({}))
BOB = UserToken("bob", (), 2_000_000_000, MappingProxyType({}))
CAROL = UserToken("carol", ("staff",), 2_000_000_000, MappingProxyType({}))


def handshake(
    *offers: str,
    upgrade: str = "websocket",
    function_name: str | None = None,
    query_token: str | None = None,
    token_query: bool = False,
    token_first_message: bool = False,
) -> SignInRequest | Refusal:
    return read_handshake(HandshakeFacts(upgrade, offers, function_name, query_token, token_query, token_first_message))


def facts(
    token: UserToken | TokenRejected | None = ALICE,
    *,
    draining: bool = False,
    rate_ok: bool = True,
    function: str | None = "paint",
) -> AdmissionFacts:
    return AdmissionFacts(draining=draining, token=token, user_rate_ok=rate_ok, function_name=function)


def refused(outcome: SignInRequest | Refusal | Admission) -> Refusal:
    assert isinstance(outcome, Refusal), outcome
    return outcome


# read_handshake


@pytest.mark.parametrize("upgrade", ["", "h2c", "websocketx"])
def test_a_request_that_is_not_a_websocket_upgrade_is_a_bad_handshake(upgrade: str) -> None:
    refusal = refused(handshake(APP_PROTOCOL, upgrade=upgrade))
    assert refusal == Refusal(RefusalKind.BAD_HANDSHAKE, "expected a WebSocket upgrade")


def test_the_upgrade_header_is_read_in_any_case_and_spacing() -> None:
    assert isinstance(handshake(APP_PROTOCOL, upgrade=" WebSocket "), SignInRequest)


@pytest.mark.parametrize("offers", [(), (APP_PROTOCOL, "token.abc")], ids=["none", "two"])
def test_exactly_one_protocol_header_is_accepted(offers: tuple[str, ...]) -> None:
    refusal = refused(handshake(*offers))
    assert refusal.kind is RefusalKind.BAD_HANDSHAKE and "one Sec-WebSocket-Protocol header" in refusal.reason


def test_an_offer_without_the_app_protocol_is_a_bad_handshake() -> None:
    refusal = refused(handshake("token.abc, other-v1"))
    assert refusal == Refusal(RefusalKind.BAD_HANDSHAKE, f"Sec-WebSocket-Protocol must offer {APP_PROTOCOL}")
    assert "abc" not in refusal.reason


def test_the_token_item_function_and_resume_are_read() -> None:
    request = handshake(f"{APP_PROTOCOL}, token.abc, resume", function_name="cube")
    assert request == SignInRequest(function_name="cube", token="abc", resume=True)


def test_a_query_token_is_used_only_when_allowed() -> None:
    assert handshake(APP_PROTOCOL, query_token="q") == SignInRequest(function_name=None, token=None)
    assert handshake(APP_PROTOCOL, query_token="q", token_query=True) == SignInRequest(function_name=None, token="q")


def test_the_subprotocol_token_wins_over_the_query_token() -> None:
    request = handshake(f"{APP_PROTOCOL}, token.item", query_token="q", token_query=True)
    assert isinstance(request, SignInRequest) and request.token == "item"


def test_without_a_token_the_sign_in_waits_for_a_first_message_only_when_allowed() -> None:
    assert handshake(APP_PROTOCOL, token_first_message=True) == SignInRequest(None, by_first_message=True)
    assert handshake(APP_PROTOCOL) == SignInRequest(None, by_first_message=False)
    with_token = handshake(f"{APP_PROTOCOL}, token.abc", token_first_message=True)
    assert isinstance(with_token, SignInRequest) and not with_token.by_first_message


def test_an_unusable_token_item_is_kept_for_admit_and_does_not_wait_for_a_first_message() -> None:
    request = handshake(f"{APP_PROTOCOL}, token.a, token.b", token_first_message=True)
    assert isinstance(request, SignInRequest)
    assert request.token is None and not request.by_first_message
    problem = token_problem(request)
    assert problem is not None and problem.reason == "token invalid: more than one token offered"
    assert token_problem(SignInRequest(None, token="abc")) is None


def test_the_token_is_not_in_the_requests_repr() -> None:
    request = handshake(f"{APP_PROTOCOL}, token.secret-token-value", query_token="secret-query")
    assert "secret" not in repr(request)
    assert "secret" not in repr(HandshakeFacts("websocket", (), query_token="secret-query"))


# admit


@pytest.mark.parametrize(
    "token", [None, ALICE, TokenRejected("token invalid: expired"), TokenRejected("x", keys_unavailable=True)]
)
def test_a_draining_proxy_refuses_before_anything_else(token: UserToken | TokenRejected | None) -> None:
    assert admit(facts(token, draining=True, rate_ok=False, function="no such"), POLICY) == DRAINING
    assert DRAINING.kind is RefusalKind.DRAINING


def test_an_unchecked_token_is_a_missing_one() -> None:
    assert admit(facts(None), POLICY) == Refusal(RefusalKind.TOKEN_REJECTED, "token missing")


def test_a_rejected_token_is_refused_with_its_reason() -> None:
    refusal = admit(facts(TokenRejected("token invalid: expired"), function="no such"), POLICY)
    assert refusal == Refusal(RefusalKind.TOKEN_REJECTED, "token invalid: expired")


def test_missing_keys_are_not_the_users_fault() -> None:
    refusal = admit(facts(TokenRejected("signing keys unavailable", keys_unavailable=True)), POLICY)
    assert refusal == Refusal(RefusalKind.KEYS_UNAVAILABLE, "signing keys unavailable")


def test_sign_in_and_functions_refuse_a_token_the_same_way() -> None:
    assert token_refusal(TokenRejected("token invalid: expired")) == Refusal(
        RefusalKind.TOKEN_REJECTED, "token invalid: expired"
    )
    assert token_refusal(TokenRejected("no keys", keys_unavailable=True)).kind is RefusalKind.KEYS_UNAVAILABLE


def test_the_user_rate_is_checked_before_the_function() -> None:
    refusal = admit(facts(ALICE, rate_ok=False, function="no such"), POLICY)
    assert refusal == Refusal(RefusalKind.RATE_LIMITED, "too many sign-ins, try again later")


@pytest.mark.parametrize("name", ["", "../paint", "paint?x=1", "p" * 200, "pa int"])
def test_a_malformed_function_name_is_a_bad_request(name: str) -> None:
    assert admit(facts(function=name), POLICY) == Refusal(RefusalKind.BAD_REQUEST, "bad function name")


def test_without_a_function_the_default_is_used() -> None:
    admission = admit(facts(function=None), POLICY)
    assert admission == Admission(ALICE, PAINT, 2)


def test_without_a_function_or_default_the_request_is_bad() -> None:
    policy = AccessPolicy(functions=POLICY.functions, users=POLICY.users)
    refusal = admit(facts(function=None), policy)
    assert refusal == Refusal(RefusalKind.BAD_REQUEST, "no function given and no default function")


def test_an_unknown_function_is_named() -> None:
    assert admit(facts(function="chess"), POLICY) == Refusal(RefusalKind.UNKNOWN_FUNCTION, "unknown function: chess")


def test_a_function_not_granted_is_forbidden() -> None:
    refusal = admit(facts(ALICE, function="cube"), POLICY)
    assert refusal == Refusal(RefusalKind.FORBIDDEN, "forbidden: user alice may not open cube")
    assert refused(admit(facts(BOB), POLICY)).kind is RefusalKind.FORBIDDEN


def test_an_admission_carries_the_users_session_limit() -> None:
    assert admit(facts(CAROL, function="cube"), POLICY) == Admission(CAROL, CUBE, None)
    assert admit(facts(ALICE), POLICY) == Admission(ALICE, PAINT, 2)


def test_a_full_session_limit_names_the_user_and_limit() -> None:
    assert sessions_full(Admission(ALICE, PAINT, 2)) == Refusal(
        RefusalKind.TOO_MANY_SESSIONS, "too many sessions for alice (limit 2)"
    )
    assert limits_unavailable("shared limits unavailable").kind is RefusalKind.LIMITS_UNAVAILABLE


# refusals -> wire

# (HTTP status, close code, answered with the status before the upgrade), as docs/protocol.md says.
WIRE = {
    RefusalKind.ORIGIN_FORBIDDEN: (403, CloseCode.FORBIDDEN, True),
    RefusalKind.RATE_LIMITED: (429, CloseCode.RATE_LIMITED, True),
    RefusalKind.LIMITS_UNAVAILABLE: (503, CloseCode.UPSTREAM_BUSY, False),
    RefusalKind.BAD_HANDSHAKE: (400, CloseCode.BAD_REQUEST, True),
    RefusalKind.PREAUTH_FULL: (503, CloseCode.UPSTREAM_BUSY, True),
    RefusalKind.DRAINING: (503, CloseCode.GOING_AWAY, False),
    RefusalKind.TOKEN_REJECTED: (401, CloseCode.TOKEN_INVALID, False),
    RefusalKind.KEYS_UNAVAILABLE: (503, CloseCode.UPSTREAM_BUSY, False),
    RefusalKind.BAD_REQUEST: (400, CloseCode.BAD_REQUEST, False),
    RefusalKind.UNKNOWN_FUNCTION: (404, CloseCode.UNKNOWN_FUNCTION, False),
    RefusalKind.FORBIDDEN: (403, CloseCode.FORBIDDEN, False),
    RefusalKind.TOO_MANY_SESSIONS: (409, CloseCode.TOO_MANY_SESSIONS, False),
    RefusalKind.SESSION_GONE: (410, CloseCode.SESSION_GONE, False),
    RefusalKind.UPSTREAM_REFUSED: (502, CloseCode.UPSTREAM_REFUSED, False),
    RefusalKind.UPSTREAM_UNREACHABLE: (502, CloseCode.UPSTREAM_REFUSED, False),
    RefusalKind.UPSTREAM_BUSY: (503, CloseCode.UPSTREAM_BUSY, False),
    RefusalKind.UPSTREAM_TIMEOUT: (504, CloseCode.UPSTREAM_TIMEOUT, False),
}


def test_every_kind_of_refusal_has_a_wire_answer() -> None:
    assert set(WIRE) == set(RefusalKind)


@pytest.mark.parametrize("kind", list(RefusalKind), ids=lambda k: k.name)
def test_each_refusal_reaches_the_wire_as_documented(kind: RefusalKind) -> None:
    status, code, before_upgrade = WIRE[kind]
    refusal = Refusal(kind, "why")
    assert wire_answer(refusal, Stage.HTTP) == HttpAnswer(status, "why")
    assert wire_answer(refusal, Stage.OPEN) == CloseAnswer(code, "why")
    expected = HttpAnswer(status, "why") if before_upgrade else CloseAnswer(code, "why")
    assert wire_answer(refusal, Stage.HANDSHAKE) == expected


def test_every_refusal_outcome_is_a_documented_metric_label() -> None:
    text = (DOCS / "observability.md").read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| `proxy_handshakes_total`")]
    labels = set(re.findall(r"`([a-z-]+)`", row.split("|")[3]))
    assert {kind.outcome for kind in RefusalKind} <= labels
    functions_row = next(line for line in text.splitlines() if line.startswith("| `proxy_functions_requests_total`"))
    assert all(
        f"`{k.outcome}`" in functions_row
        for k in (RefusalKind.ORIGIN_FORBIDDEN, RefusalKind.RATE_LIMITED, RefusalKind.TOKEN_REJECTED)
    )
