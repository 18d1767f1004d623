"""The sign-in's decisions, without I/O: what the handshake asks for, and whether to admit it.

Two steps, each a pure function of what is known at that moment (docs/proxy.md "Order of checks"):

- `read_handshake(HandshakeFacts)`: the upgrade and its `Sec-WebSocket-Protocol` offer, where the
  token comes from (subprotocol item, `?token=`, or a first message) and the function asked for.
- `admit(AdmissionFacts)`: once the token has been checked and the user's sign-in rate asked,
  the drain, the token, the rate, the function and the policy, in that order.

The shell (`proxy.signin`) gathers the facts (checking a token may fetch keys, the limits may live
in Redis), takes a session slot of `Admission.session_limit` and answers refusals through
`proxy.refusals.wire_answer`. Both ways of giving the token go through the same `admit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from proxy.policy import FUNCTION_NAME, AccessPolicy, StreamingFunction
from proxy.refusals import Refusal, RefusalKind
from proxy.subprotocols import APP_PROTOCOL, parse_offer
from proxy.tokens import TokenRejected, UserToken

DRAINING: Final = Refusal(RefusalKind.DRAINING, "proxy shutting down")
"""New sign-ins while the proxy drains: the page may reconnect (to another replica)."""

TOKEN_MISSING: Final = "token missing"
"""The reason for a sign-in that never showed a token (as `proxy.tokens` words it)."""


@dataclass(frozen=True)
class HandshakeFacts:
    """What the sign-in request says, read from its headers and query."""

    upgrade: str
    """The `Upgrade` header ("" when absent)."""
    protocol_headers: tuple[str, ...]
    """Every `Sec-WebSocket-Protocol` header, in order."""
    function_name: str | None = None
    """`?function=`."""
    query_token: str | None = field(default=None, repr=False)
    """`?token=`, used only when `token_query` is on."""
    token_query: bool = False
    """`PROXY_TOKEN_QUERY`: a token may come in the URL."""
    token_first_message: bool = False
    """`PROXY_TOKEN_FIRST_MESSAGE`: a sign-in without a token waits for `{"token": ...}`."""


@dataclass(frozen=True)
class SignInRequest:
    """A well-formed sign-in: the function asked for and where its token is.

    `token_error` is set when the offer held an unusable token item; the sign-in is then refused
    with that reason once it reaches `admit` (after the drain check, like any token problem).
    """

    function_name: str | None
    token: str | None = field(default=None, repr=False)
    token_error: str | None = None
    by_first_message: bool = False
    """No token yet: accept the socket and read it from the first message (`proxy.preauth`)."""
    resume: bool = False
    """The offer asked to resume the session of the page's cookie."""


def read_handshake(facts: HandshakeFacts) -> SignInRequest | Refusal:
    """The sign-in the handshake asks for, or why it is not a well-formed one (HTTP 400)."""
    if facts.upgrade.strip().lower() != "websocket":
        return Refusal(RefusalKind.BAD_HANDSHAKE, "expected a WebSocket upgrade")
    # Refused before aiohttp sees the offer: when no offered item matches, aiohttp logs the whole
    # offer, token included, and it reads only the first of several headers.
    if len(facts.protocol_headers) != 1:
        return Refusal(RefusalKind.BAD_HANDSHAKE, f"send one Sec-WebSocket-Protocol header offering {APP_PROTOCOL}")
    offer = parse_offer(facts.protocol_headers[0])
    if not offer.app_protocol_offered:
        return Refusal(RefusalKind.BAD_HANDSHAKE, f"Sec-WebSocket-Protocol must offer {APP_PROTOCOL}")
    token = offer.token
    if token is None and facts.token_query:
        token = facts.query_token
    return SignInRequest(
        function_name=facts.function_name,
        token=token,
        token_error=offer.token_error,
        by_first_message=token is None and offer.token_error is None and facts.token_first_message,
        resume=offer.resume,
    )


def token_problem(request: SignInRequest) -> TokenRejected | None:
    """The token problem found in the handshake itself, without checking any signature."""
    return None if request.token_error is None else TokenRejected(request.token_error)


@dataclass(frozen=True)
class AdmissionFacts:
    """What is known once the token has been checked (or not: see `token`)."""

    draining: bool
    """The proxy is shutting down."""
    token: UserToken | TokenRejected | None
    """The token check's answer; None when it was not checked because the proxy is draining."""
    user_rate_ok: bool
    """The user's sign-in rate had room (asked only for a valid token)."""
    function_name: str | None
    """`?function=`, None for the policy's default."""


@dataclass(frozen=True)
class Admission:
    """A user allowed to open a function, before a session slot is taken for them."""

    user: UserToken
    function: StreamingFunction
    session_limit: int | None
    """How many sessions the user may hold at once (None: no limit)."""


def admit(facts: AdmissionFacts, policy: AccessPolicy) -> Admission | Refusal:
    """Admit the sign-in, or say why not: drain, token, rate, function name, function, policy."""
    if facts.draining:
        return DRAINING
    token = facts.token if facts.token is not None else TokenRejected(TOKEN_MISSING)
    if isinstance(token, TokenRejected):
        return token_refusal(token)
    if not facts.user_rate_ok:
        return Refusal(RefusalKind.RATE_LIMITED, "too many sign-ins, try again later")
    name = facts.function_name if facts.function_name is not None else policy.default_function
    if name is None:
        return Refusal(RefusalKind.BAD_REQUEST, "no function given and no default function")
    if not FUNCTION_NAME.fullmatch(name):
        return Refusal(RefusalKind.BAD_REQUEST, "bad function name")
    function = policy.functions.get(name)
    if function is None:
        return Refusal(RefusalKind.UNKNOWN_FUNCTION, f"unknown function: {name}")
    if not policy.may_open(token, name):
        return Refusal(RefusalKind.FORBIDDEN, f"forbidden: user {token.subject} may not open {name}")
    return Admission(token, function, policy.max_sessions(token))


def token_refusal(rejected: TokenRejected) -> Refusal:
    """The refusal for a token that did not pass (at `/sign_in` and `/functions` alike).

    Missing signing keys are not the user's fault, so they are a refusal of their own kind.
    """
    kind = RefusalKind.KEYS_UNAVAILABLE if rejected.keys_unavailable else RefusalKind.TOKEN_REJECTED
    return Refusal(kind, rejected.reason)


def sessions_full(admission: Admission) -> Refusal:
    """The refusal when the user already holds `admission.session_limit` sessions."""
    return Refusal(
        RefusalKind.TOO_MANY_SESSIONS,
        f"too many sessions for {admission.user.subject} (limit {admission.session_limit})",
    )


def limits_unavailable(reason: str) -> Refusal:
    """The refusal when the limits cannot answer: sign-ins fail closed."""
    return Refusal(RefusalKind.LIMITS_UNAVAILABLE, reason)
