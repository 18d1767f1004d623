"""Session ids the upstream issued, bound to the user and function they were issued for.

The relay answers each accepted handshake with `nvcf-reqid`; a page that lost its connection may
resume that session (docs/protocol.md section 1, "Resume (proxy side)"). The proxy forwards an id
only to the user and function it was issued to, and only within the resume window, so a stolen
or guessed cookie is worth nothing to anyone else. Pure: no I/O.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

SESSION_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
"""What a session id may look like: cookie- and header-safe characters only."""


@dataclass(frozen=True)
class _Binding:
    subject: str
    function: str
    valid_until: float


class ResumeBook:
    """Remembers which user and function each upstream session id belongs to, for a while."""

    def __init__(self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, _Binding] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def remember(self, session_id: str, subject: str, function: str, valid_for: float) -> None:
        """Bind `session_id` to the user and function for `valid_for` seconds from now."""
        if not SESSION_ID.fullmatch(session_id):
            return
        self._entries.pop(session_id, None)
        self._entries[session_id] = _Binding(subject, function, self._clock() + valid_for)
        self._prune()

    def may_resume(self, session_id: str, subject: str, function: str) -> bool:
        """True when `session_id` was issued to this user for this function and is still valid."""
        binding = self._entries.get(session_id)
        return (
            binding is not None
            and binding.subject == subject
            and binding.function == function
            and binding.valid_until > self._clock()
        )

    def forget(self, session_id: str) -> None:
        """Drop a session id (the upstream said it no longer exists)."""
        self._entries.pop(session_id, None)

    def _prune(self) -> None:
        now = self._clock()
        while self._entries:
            oldest_id, oldest = next(iter(self._entries.items()))
            if oldest.valid_until > now and len(self._entries) <= self._max_entries:
                break
            del self._entries[oldest_id]
