"""Every parser of outside input, fuzzed with hypothesis: whatever arrives, the parser returns a
value or raises its own error type with a reason; nothing else escapes (no RecursionError,
KeyError, TypeError...). Deeply nested JSON is always among the examples."""

from __future__ import annotations

import base64
import ipaddress
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from deploy.nvcf_local.definition import DefinitionError, load_definition, parse_definition
from proxy.client_address import client_address, rate_key
from proxy.config import ConfigError, read_config_file
from proxy.policy import PolicyError, load_policy, parse_policy
from proxy.preauth import first_message_token
from proxy.subprotocols import parse_offer
from proxy.tokens import TokenPolicy, TokenRejected, read_header
from stream_app import app_messages, input_protocol, signaling
from stream_app.creds import CredsError, parse_creds

DEEP = "[" * 5000
DEEP_OBJECT = '{"a":' * 2000 + "1" + "}" * 2000
FUZZ = settings(max_examples=300, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@FUZZ
@given(st.one_of(st.text(max_size=300), json_values.map(json.dumps)))
@example(DEEP)
@example(DEEP_OBJECT)
@example('{"v":1,"type":"offer","sdp":' + DEEP + "}")
def test_signaling_refuses_with_its_own_error(text: str) -> None:
    try:
        signaling.parse_client_message(text)
    except signaling.SignalingError as exc:
        assert exc.code and exc.reason


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(json.dumps),
        st.fixed_dictionaries(
            {"v": st.just(1), "seq": st.integers(), "type": st.sampled_from(["message", "error", "cursor", "rumble"])},
            optional={"data": json_values, "code": json_values, "reason": json_values, "refusedSeq": json_values},
        ).map(json.dumps),
    )
)
@example(DEEP)
@example(b"\xff\xfe")
@example('{"v":1,"seq":0,"type":"message","data":' + DEEP_OBJECT + "}")
def test_app_channel_refuses_with_its_own_error(data: str | bytes) -> None:
    for parse in (app_messages.parse_from_page, app_messages.parse_from_app):
        try:
            parse(data)
        except app_messages.AppMessageError as exc:
            assert exc.code in app_messages.ERROR_CODES and exc.reason
    app_messages.seq_of(data)


@FUZZ
@given(
    st.sampled_from([*input_protocol.CHANNELS, "other"]),
    st.one_of(st.binary(max_size=300), json_values.map(json.dumps)),
)
@example("input", DEEP)
@example("input", b"\xff\xfe")
def test_input_messages_refuse_with_their_own_error(channel: str, data: str | bytes) -> None:
    try:
        input_protocol.parse(channel, data)
    except input_protocol.InputError as exc:
        assert str(exc)


@FUZZ
@given(json_values)
@example({"stunIp": "127.0.0.1", "stunPort": 3478, "username": "u", "password": [[[]]]})
def test_creds_bodies_refuse_with_their_own_error(body: Any) -> None:
    try:
        parse_creds(body)
    except CredsError as exc:
        assert str(exc)


POLICY = TokenPolicy(issuer="i", audience="a")


@FUZZ
@given(st.one_of(st.text(max_size=200), json_values.map(lambda v: f"{b64url(json.dumps(v).encode())}.e30.c2ln")))
@example(f"{b64url(DEEP[:2000].encode())}.e30.c2ln")
@example(f"{b64url(DEEP_OBJECT[:2000].encode())}.e30.c2ln")
@example("a.b.c.d.e")
def test_token_headers_are_rejected_with_a_reason(token: str) -> None:
    try:
        read_header(token, POLICY)
    except TokenRejected as exc:
        assert exc.reason.startswith("token")


@FUZZ
@given(st.one_of(st.text(max_size=300), json_values.map(json.dumps)))
@example(DEEP)
def test_first_messages_give_a_token_or_none(text: str) -> None:
    token = first_message_token(text)
    assert token is None or isinstance(token, str)


@FUZZ
@given(st.one_of(st.none(), st.text(max_size=300)))
def test_subprotocol_offers_never_raise(header: str | None) -> None:
    offer = parse_offer(header)
    assert offer.token is None or offer.token_error is None


@FUZZ
@given(st.text(max_size=60), st.lists(st.text(max_size=80), max_size=3), st.lists(st.text(max_size=80), max_size=3))
@example("10.0.0.1", ['for="[::1', "for=;"], ["[", "1.2.3.4:x:y"])
def test_client_addresses_never_raise(peer: str, forwarded: list[str], x_forwarded_for: list[str]) -> None:
    trusted = (ipaddress.ip_network("10.0.0.0/8"),)
    address = client_address(peer, forwarded, x_forwarded_for, trusted)
    assert isinstance(address, str) and isinstance(rate_key(address), str)


@FUZZ
@given(json_values)
def test_policy_data_refuses_with_its_own_error(data: Any) -> None:
    try:
        parse_policy(data if isinstance(data, dict) else {"functions": data})
    except PolicyError as exc:
        assert str(exc)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
@example("[functions.a]\nid = " + "[" * 3000)
@example("a = " + "{b = " * 3000)
def test_policy_files_refuse_with_their_own_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_policy(path)
        except PolicyError as exc:
            assert str(exc)


@FUZZ
@given(json_values)
def test_function_definitions_refuse_with_their_own_error(data: Any) -> None:
    try:
        parse_definition(data)
    except DefinitionError as exc:
        assert str(exc)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
@example(DEEP)
def test_function_definition_files_refuse_with_their_own_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "definition.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_definition(path)
        except DefinitionError as exc:
            assert str(exc)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
@example("PROXY_PORT = " + "[" * 3000)
def test_proxy_config_files_refuse_with_their_own_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "proxy.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            read_config_file(path)
        except ConfigError as exc:
            assert str(exc).startswith("PROXY_CONFIG_FILE")
