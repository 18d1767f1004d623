"""What a log line is about: the session, the function and the instance, carried in context variables.

Code that handles a session wraps its work in `log_context(session_id=...)`; every line logged in
that task, and in the tasks it starts (asyncio copies the context into them), carries the id. A
piece sets what is true for the whole process (`NVCF_FUNCTION_ID`) once with `set_log_context`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

FIELDS = ("session_id", "function_id", "instance_id")


@dataclass(frozen=True)
class LogContext:
    """The ids a log line is tagged with; None where not known."""

    session_id: str | None = None
    function_id: str | None = None
    instance_id: str | None = None

    def fields(self) -> dict[str, str]:
        """The known ids by field name."""
        return {name: value for name in FIELDS if (value := getattr(self, name)) is not None}


# The default is a frozen value, never changed in place: sharing it is safe.
_EMPTY = LogContext()
_CONTEXT: contextvars.ContextVar[LogContext] = contextvars.ContextVar("observability_log_context", default=_EMPTY)


def current_context() -> LogContext:
    """The ids of the code running now."""
    return _CONTEXT.get()


def set_log_context(
    *, session_id: str | None = None, function_id: str | None = None, instance_id: str | None = None
) -> contextvars.Token[LogContext]:
    """Add the given ids to the current context (the others stay); returns the token to undo it."""
    given = {"session_id": session_id, "function_id": function_id, "instance_id": instance_id}
    changes = {name: value for name, value in given.items() if value}
    return _CONTEXT.set(replace(_CONTEXT.get(), **changes))


@contextmanager
def log_context(
    *, session_id: str | None = None, function_id: str | None = None, instance_id: str | None = None
) -> Iterator[LogContext]:
    """Tag every line logged inside the block (and in tasks started inside it) with the given ids."""
    token = set_log_context(session_id=session_id, function_id=function_id, instance_id=instance_id)
    try:
        yield _CONTEXT.get()
    finally:
        _CONTEXT.reset(token)
