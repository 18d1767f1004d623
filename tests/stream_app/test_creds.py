"""Validation of the credentials NVCF pushes, and the ICE servers made from them."""

from typing import Any

import pytest

from stream_app.creds import Creds, CredsError, parse_creds

GOOD = {"stunIp": "127.0.0.1", "stunPort": 3478, "username": "user", "password": "secret"}


def test_parses_a_complete_body() -> None:
    assert parse_creds(GOOD) == Creds("127.0.0.1", 3478, "user", "secret")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "body must be a JSON object, not list"),
        ({**GOOD, "stunIp": None} | {}, "field 'stunIp' must be a string, not NoneType"),
        ({k: v for k, v in GOOD.items() if k != "password"}, "field 'password' is missing"),
        ({k: v for k, v in GOOD.items() if k != "stunPort"}, "field 'stunPort' is missing"),
        ({**GOOD, "stunPort": "3478"}, "field 'stunPort' must be an integer, not str"),
        ({**GOOD, "stunPort": True}, "field 'stunPort' must be an integer, not bool"),
        ({**GOOD, "stunPort": 70000}, "field 'stunPort' must be 1-65535, not 70000"),
        ({**GOOD, "stunIp": "not an address!"}, "neither an IP address nor a host name"),
        ({**GOOD, "username": ""}, "field 'username' must be 1-1024 printable characters"),
        ({**GOOD, "password": "a\nb"}, "field 'password' must be 1-1024 printable characters"),
    ],
)
def test_refuses_a_bad_body_naming_the_field(body: Any, reason: str) -> None:
    with pytest.raises(CredsError, match=reason.replace("(", r"\(")):
        parse_creds(body)


def test_ice_servers_are_stun_and_turn_urls_on_the_pushed_address() -> None:
    assert parse_creds(GOOD).ice_servers() == [
        {"urls": ["stun:127.0.0.1:3478"]},
        {
            "urls": ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"],
            "username": "user",
            "credential": "secret",
        },
    ]


def test_aiortc_gets_stun_and_turn_over_udp_only() -> None:
    servers = parse_creds(GOOD).rtc_ice_servers()
    assert [s.urls for s in servers] == [["stun:127.0.0.1:3478"], ["turn:127.0.0.1:3478?transport=udp"]]
    assert (servers[1].username, servers[1].credential) == ("user", "secret")


def test_ipv6_address_is_bracketed_in_urls() -> None:
    servers = parse_creds({**GOOD, "stunIp": "::1"}).ice_servers()
    assert servers[0]["urls"] == ["stun:[::1]:3478"]


def test_repr_hides_the_password() -> None:
    assert "secret" not in repr(parse_creds(GOOD))
