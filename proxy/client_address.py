"""Who the client is: its address behind trusted load balancers, and the key its rate limit uses.

Behind a load balancer every TCP peer is the balancer, so the client's address must come from
`Forwarded` (RFC 7239) or `X-Forwarded-For`. Those headers are only believed when the TCP peer is
one of the configured trusted proxies, and then read right to left: each hop appends the address
it saw, so the rightmost address that is not itself a trusted proxy is the first one no trusted
party vouches beyond; anything left of it may be forged by the client. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

IPV6_KEY_PREFIX: Final = 64
"""An IPv6 client usually owns a whole /64 (SLAAC, privacy addresses): one bucket per /64."""

# `for=` in one Forwarded element: a token, or a quoted string (which IPv6 needs, with brackets).
_FORWARDED_FOR: Final = re.compile(r'(?:^|;)\s*for\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)', re.IGNORECASE)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80`, `2001:db8::1`."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port.
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None  # `unknown`, an obfuscated name (RFC 7239 6.3) or garbage.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # A dual-stack socket's view of an IPv4 client.
    return address


def forwarded_chain(forwarded: Sequence[str], x_forwarded_for: Sequence[str]) -> list[IPAddress | None]:
    """The hops the headers name, leftmost (claimed client) first; None for an unusable entry.

    `Forwarded` wins when present (it is the standard); several header lines are one list.
    """
    chain: list[IPAddress | None] = []
    if forwarded:
        for element in ",".join(forwarded).split(","):
            match = _FORWARDED_FOR.search(element)
            chain.append(parse_address(match.group(1)) if match else None)
        return chain
    for item in ",".join(x_forwarded_for).split(","):
        if item.strip():
            chain.append(parse_address(item))
    return chain


def _trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(
    peer: str | None,
    forwarded: Sequence[str],
    x_forwarded_for: Sequence[str],
    trusted: Sequence[IPNetwork],
) -> str:
    """The client's address: the TCP peer, unless that is a trusted proxy whose headers name another.

    Walks the chain right to left past trusted proxies; an unusable entry stops the walk at the
    hop that wrote it (that hop is then the client as far as we can tell).
    """
    address = parse_address(peer) if peer else None
    if address is None:
        return peer or "unknown"
    if not trusted or not _trusted(address, trusted):
        return str(address)
    for hop in reversed(forwarded_chain(forwarded, x_forwarded_for)):
        if hop is None:
            break
        address = hop
        if not _trusted(hop, trusted):
            break
    return str(address)


def rate_key(address: str) -> str:
    """The rate-limit bucket of an address: IPv4 as is, IPv6 by its /64 network."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_KEY_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address
