"""The shared parsers: text in, value out, or `ValueError` with a reason.

The reason never names the setting (the loader prefixes the variable or flag the text came from),
so one parser serves every piece and two settings of the same kind refuse the same things.
"""

from __future__ import annotations

import ipaddress
import math
import shlex
import uuid as uuid_module
from collections.abc import Callable
from pathlib import Path

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def text(value: str) -> str:
    """Any text, surrounding spaces removed."""
    return value.strip()


def path(value: str) -> Path:
    """A file system path (not checked: the piece's loader reads it and says what is wrong)."""
    return Path(value.strip())


def boolean(value: str) -> bool:
    """true/false, 1/0, yes/no, on/off in any case; anything else is refused (`ture` is not false)."""
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{value!r} is not one of {'/'.join(_TRUE + _FALSE)}")


def on_off(value: str) -> bool:
    """on or off only (for a feature switch whose docs say so)."""
    word = value.strip().lower()
    if word not in ("on", "off"):
        raise ValueError(f"{value!r} must be on or off")
    return word == "on"


def integer(value: str) -> int:
    """A whole number."""
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None


def _whole(low: int, high: int | None, refusal: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        result = integer(value)
        if result < low or (high is not None and result > high):
            raise ValueError(f"{result} {refusal}")
        return result

    return parse


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A whole number from `low` to `high`, both included."""
    return _whole(low, high, f"must be {low}-{high}")


count = _whole(0, None, "must be 0 or more")
"""A whole number, 0 or more."""
positive_int = _whole(1, None, "must be positive")
"""A whole number, 1 or more."""
port = _whole(1, 65535, "is not a port (1-65535)")
"""A TCP or UDP port, 1-65535."""
port_or_any = _whole(0, 65535, "is not a port (0-65535, 0: any free one)")
"""A port, or 0 for one the system picks (tests listen on 0)."""


def number(value: str) -> float:
    """A finite number."""
    try:
        result = float(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(result):
        raise ValueError(f"{value!r} is not a finite number")
    return result


def _more_than(low: float, inclusive: bool, refusal: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        result = number(value)
        if result < low or (result == low and not inclusive):
            raise ValueError(f"{value.strip()} {refusal}")
        return result

    return parse


non_negative = _more_than(0, True, "must be 0 or more")
"""A finite number, 0 or more (a rate where 0 means no limit)."""
positive = _more_than(0, False, "must be more than 0")
"""A finite number above 0."""


def seconds(value: str) -> float:
    """A duration in seconds, 0 or more: for settings where 0 means "off" or "at once"."""
    try:
        return non_negative(value)
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a number of seconds >= 0") from None


def positive_seconds(value: str) -> float:
    """A duration in seconds above 0: for timeouts and intervals, where 0 would mean never or spin."""
    try:
        return positive(value)
    except ValueError:
        raise ValueError(f"{value.strip()!r} is not a number of seconds > 0") from None


def at_most(parse: Callable[[str], float], limit: float) -> Callable[[str], float]:
    """`parse`, then refuse a value above `limit`."""

    def bounded(value: str) -> float:
        result = parse(value)
        if result > limit:
            raise ValueError(f"{value.strip()} must be at most {limit:g}")
        return result

    return bounded


def choice(*options: str, upper: bool = False) -> Callable[[str], str]:
    """One of `options`, compared after folding case (to upper case with `upper`, else lower)."""

    def parse(value: str) -> str:
        word = value.strip().upper() if upper else value.strip().lower()
        if word not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return word

    return parse


def text_list(value: str) -> tuple[str, ...]:
    """Comma-separated items, spaces and empty items dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def address_list(value: str) -> tuple[str, ...]:
    """Comma-separated IP addresses."""
    items = text_list(value)
    for item in items:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address") from None
    return items


def network_list(value: str) -> tuple[IPNetwork, ...]:
    """Comma-separated networks (CIDRs; a lone address is a /32 or /128)."""
    networks = []
    for item in text_list(value):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network (CIDR)") from None
    return tuple(networks)


def port_range(value: str) -> tuple[int, int]:
    """FIRST-LAST, two ports with FIRST <= LAST."""
    first, sep, last = value.strip().partition("-")
    if not sep:
        raise ValueError(f"{value!r} is not FIRST-LAST")
    low, high = port(first), port(last)
    if low > high:
        raise ValueError(f"{value!r} is an empty range")
    return (low, high)


def host_port(value: str) -> tuple[str, int]:
    """HOST:PORT ([v6]:PORT for an IPv6 address)."""
    host, sep, number_text = value.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), port(number_text)


def uuid(value: str) -> str:
    """A UUID, in its one lower-case spelling (NVCF ids are UUIDs, compared case-insensitively)."""
    return str(uuid_module.UUID(value.strip()))


def command(value: str) -> tuple[str, ...]:
    """A command line, split like a shell would."""
    argv = tuple(shlex.split(value))
    if not argv:
        raise ValueError("the command is empty")
    return argv


def url_path(value: str) -> str:
    """A URL path: starts with '/', no spaces."""
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} must be a path starting with '/'")
    return value
