"""STUN/TURN credentials that NVCF pushes to `POST /v1/streaming/creds`, and the ICE servers they give."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from aiortc import RTCIceServer

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MAX_SECRET_LENGTH = 1024


class CredsError(ValueError):
    """A creds body that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class Creds:
    """Long-term STUN/TURN credentials: usable with `stun:` and `turn:` URLs alike."""

    stun_ip: str
    stun_port: int
    username: str
    password: str

    def __repr__(self) -> str:
        return (
            f"Creds(stun_ip={self.stun_ip!r}, stun_port={self.stun_port}, username={self.username!r}, password='***')"
        )

    @property
    def _host(self) -> str:
        try:
            return f"[{self.stun_ip}]" if ipaddress.ip_address(self.stun_ip).version == 6 else self.stun_ip
        except ValueError:
            return self.stun_ip

    def ice_servers(self) -> list[dict[str, Any]]:
        """The ICE servers in the browser's `RTCIceServer` shape (sent in the `hello` message).

        TURN is offered over UDP and over TCP, for networks that block UDP to the TURN server.
        """
        return [
            {"urls": [f"stun:{self._host}:{self.stun_port}"]},
            {
                "urls": [
                    f"turn:{self._host}:{self.stun_port}?transport=udp",
                    f"turn:{self._host}:{self.stun_port}?transport=tcp",
                ],
                "username": self.username,
                "credential": self.password,
            },
        ]

    def rtc_ice_servers(self) -> list[RTCIceServer]:
        """The servers for aiortc: STUN and TURN over UDP only.

        aiortc uses one TURN URL, and the stream app binds its TURN client socket (UDP) inside the
        media port range (`ice.py`); the server side needs no TCP fallback.
        """
        return [
            RTCIceServer(urls=[f"stun:{self._host}:{self.stun_port}"]),
            RTCIceServer(
                urls=[f"turn:{self._host}:{self.stun_port}?transport=udp"],
                username=self.username,
                credential=self.password,
            ),
        ]


def _string(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if field not in body:
        raise CredsError(f"field {field!r} is missing")
    if not isinstance(value, str):
        raise CredsError(f"field {field!r} must be a string, not {type(value).__name__}")
    if not value or len(value) > _MAX_SECRET_LENGTH or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise CredsError(f"field {field!r} must be 1-{_MAX_SECRET_LENGTH} printable characters")
    return value


def parse_creds(body: object) -> Creds:
    """Validate a decoded JSON body `{"stunIp", "stunPort", "username", "password"}`."""
    if not isinstance(body, dict):
        raise CredsError(f"body must be a JSON object, not {type(body).__name__}")
    stun_ip = _string(body, "stunIp")
    try:
        ipaddress.ip_address(stun_ip)
    except ValueError:
        if not _HOSTNAME.match(stun_ip):
            raise CredsError(f"field 'stunIp' is neither an IP address nor a host name: {stun_ip!r}") from None
    if "stunPort" not in body:
        raise CredsError("field 'stunPort' is missing")
    port = body["stunPort"]
    if isinstance(port, bool) or not isinstance(port, int):
        raise CredsError(f"field 'stunPort' must be an integer, not {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise CredsError(f"field 'stunPort' must be 1-65535, not {port}")
    return Creds(
        stun_ip=stun_ip, stun_port=port, username=_string(body, "username"), password=_string(body, "password")
    )
