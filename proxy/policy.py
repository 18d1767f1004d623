"""Who may open which streaming function: the access policy, from a TOML file or one function.

A policy file names the streaming functions (name -> NVCF function id, optional version id and
title) and grants them to users (by the token's user claim) and groups (by its groups claim),
with limits on concurrent sessions. `users."*"` grants something to every authenticated user.
See docs/proxy.md for the format. Pure: reading the file is the only I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from proxy.tokens import UserToken
from settings import load_toml

FUNCTION_NAME: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,127}")
"""NVCF's own rule for function names; the proxy's names follow it."""

EVERYONE: Final = "*"
"""As a user name: every authenticated user; in a grant's function list: every function."""

_ID: Final = re.compile(r"[\x21-\x7e]{1,256}")


class PolicyError(Exception):
    """The policy file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class StreamingFunction:
    """An NVCF streaming function as the proxy offers it to users."""

    name: str
    function_id: str
    version_id: str | None = None
    title: str = ""

    @property
    def display_title(self) -> str:
        """The title to show, which is the name when no title was given."""
        return self.title or self.name


@dataclass(frozen=True)
class Grant:
    """What one user or group may open, and with how many sessions at once (None: no limit)."""

    functions: frozenset[str]
    max_sessions: int | None = None

    def covers(self, name: str) -> bool:
        """True when this grant includes the function `name`."""
        return EVERYONE in self.functions or name in self.functions


@dataclass(frozen=True)
class AccessPolicy:
    """Functions, grants, and the default function for `/sign_in` without `function=`."""

    functions: Mapping[str, StreamingFunction]
    users: Mapping[str, Grant] = field(default_factory=lambda: MappingProxyType({}))
    groups: Mapping[str, Grant] = field(default_factory=lambda: MappingProxyType({}))
    default_function: str | None = None
    default_max_sessions: int | None = None

    def _grants(self, user: UserToken) -> list[Grant]:
        grants = [self.users[name] for name in (user.subject, EVERYONE) if name in self.users]
        grants += [self.groups[g] for g in user.groups if g in self.groups]
        return grants

    def allowed_functions(self, user: UserToken) -> list[StreamingFunction]:
        """The functions `user` may open, in the file's order."""
        grants = self._grants(user)
        return [f for f in self.functions.values() if any(g.covers(f.name) for g in grants)]

    def may_open(self, user: UserToken, name: str) -> bool:
        """True when some grant of `user` covers the function `name`."""
        return any(g.covers(name) for g in self._grants(user))

    def max_sessions(self, user: UserToken) -> int | None:
        """The user's own limit, else the most generous of their groups', else the default."""
        own = self.users.get(user.subject)
        if own is not None and own.max_sessions is not None:
            return own.max_sessions
        limits = [self.groups[g].max_sessions for g in user.groups if g in self.groups]
        if limits and all(limit is not None for limit in limits):
            return max(limit for limit in limits if limit is not None)
        if limits:  # Some group has no limit.
            return None
        everyone = self.users.get(EVERYONE)
        if everyone is not None and everyone.max_sessions is not None:
            return everyone.max_sessions
        return self.default_max_sessions


def single_function_policy(
    function_id: str, version_id: str | None, *, name: str = "default", max_sessions: int | None = None
) -> AccessPolicy:
    """The policy without a file: one function that every authenticated user may open."""
    function = StreamingFunction(name=name, function_id=function_id, version_id=version_id)
    return AccessPolicy(
        functions=MappingProxyType({name: function}),
        users=MappingProxyType({EVERYONE: Grant(frozenset({name}))}),
        default_function=name,
        default_max_sessions=max_sessions,
    )


def _limit(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{where}: max_sessions must be an integer >= 0 (0 means no limit)")
    return value or None


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: [{key}] must be a table")
    return value


def _grants(
    data: Mapping[str, Any], kind: str, functions: Mapping[str, StreamingFunction], where: str
) -> dict[str, Grant]:
    grants: dict[str, Grant] = {}
    for name, entry in _table(data, kind, where).items():
        here = f"{where}: {kind}.{name}"
        if not isinstance(entry, dict) or set(entry) - {"functions", "max_sessions"}:
            raise PolicyError(f"{here}: must be a table with 'functions' and optional 'max_sessions'")
        names = entry.get("functions", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PolicyError(f"{here}: functions must be a list of function names")
        unknown = [n for n in names if n != EVERYONE and n not in functions]
        if unknown:
            raise PolicyError(f"{here}: unknown function(s) {', '.join(unknown)}")
        grants[name] = Grant(frozenset(names), _limit(entry.get("max_sessions"), here))
    return grants


def parse_policy(data: Mapping[str, Any], where: str = "policy") -> AccessPolicy:
    """Build a policy from parsed TOML; raises `PolicyError` naming the bad entry."""
    unknown_tables = set(data) - {"functions", "users", "groups", "defaults"}
    if unknown_tables:
        raise PolicyError(f"{where}: unknown table(s) {', '.join(sorted(unknown_tables))}")
    functions: dict[str, StreamingFunction] = {}
    for name, entry in _table(data, "functions", where).items():
        here = f"{where}: functions.{name}"
        if not FUNCTION_NAME.fullmatch(name):
            raise PolicyError(f"{here}: names are letters, digits, '-' and '_', starting with a letter or digit")
        if not isinstance(entry, dict) or set(entry) - {"id", "version", "title"}:
            raise PolicyError(f"{here}: must be a table with 'id' and optional 'version' and 'title'")
        function_id, version, title = entry.get("id"), entry.get("version"), entry.get("title", "")
        if not isinstance(function_id, str) or not _ID.fullmatch(function_id):
            raise PolicyError(f"{here}: id must be the NVCF function id (visible ASCII)")
        if version is not None and (not isinstance(version, str) or not _ID.fullmatch(version)):
            raise PolicyError(f"{here}: version must be an NVCF function version id (visible ASCII)")
        if not isinstance(title, str) or len(title) > 200 or not title.isprintable():
            raise PolicyError(f"{here}: title must be printable text of at most 200 characters")
        functions[name] = StreamingFunction(name, function_id, version, title)
    if not functions:
        raise PolicyError(f"{where}: no [functions.<name>] entries")
    defaults = _table(data, "defaults", where)
    if set(defaults) - {"function", "max_sessions"}:
        raise PolicyError(f"{where}: [defaults] takes only 'function' and 'max_sessions'")
    default_function = defaults.get("function")
    if default_function is not None and default_function not in functions:
        raise PolicyError(f"{where}: defaults.function names an unknown function")
    return AccessPolicy(
        functions=MappingProxyType(functions),
        users=MappingProxyType(_grants(data, "users", functions, where)),
        groups=MappingProxyType(_grants(data, "groups", functions, where)),
        default_function=default_function,
        default_max_sessions=_limit(defaults.get("max_sessions"), f"{where}: defaults"),
    )


def load_policy(path: Path) -> AccessPolicy:
    """Read a policy file (TOML); raises `PolicyError`."""
    try:
        data = load_toml(path)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None
    return parse_policy(data, str(path))
