"""Secrets masked wherever a config is printed."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any


def masked_repr(config: Any, secret_fields: Collection[str], hidden: Collection[str] = ()) -> str:
    """`Name(field=value, ...)` of a dataclass with each secret field that is set shown as '***'.

    `hidden` fields (computed, or too long to be useful) are left out.
    """
    parts = []
    for f in dataclasses.fields(config):
        if f.name in hidden:
            continue
        value = getattr(config, f.name)
        shown = "'***'" if f.name in secret_fields and value else repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(config).__name__}({', '.join(parts)})"


def secret_values(config: Any, secret_fields: Collection[str], prefix: str = "") -> list[str]:
    """The text of every secret set in a config (for a log redactor), nested configs included.

    A nested dataclass's field counts under its parent's name: `turn.password` is `turn_password`.
    """
    found: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            found += secret_values(value, secret_fields, f"{name}_")
        elif name in secret_fields and value:
            found.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return found
