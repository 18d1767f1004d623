"""Per-user session limits and handshake rate limits: in this process, or shared through Redis.

`Limits` is what sign-in asks; `LocalLimits` keeps today's per-process counts and token buckets,
`proxy.shared_limits.RedisLimits` shares them across replicas. Either raises
`LimitsUnavailable` when it cannot answer, and sign-in then refuses (fails closed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from proxy.ratelimit import RateLimiter


class LimitsUnavailable(Exception):
    """The shared limits store cannot be reached; new sign-ins are refused until it can."""


@dataclass(frozen=True)
class SessionLease:
    """One session slot of `subject`, held until given back (or, when shared, until it expires)."""

    subject: str
    lease_id: str


class Limits(Protocol):
    """The limits sign-in applies; every method may raise `LimitsUnavailable`."""

    async def allow_address(self, key: str) -> bool:
        """Take one handshake from the client address bucket `key`; False when it is empty."""
        ...

    async def allow_user(self, subject: str) -> bool:
        """Take one sign-in from `subject`'s bucket; False when it is empty."""
        ...

    async def take_session(self, subject: str, limit: int | None) -> SessionLease | None:
        """A session slot for `subject`, or None when `limit` sessions are open already."""
        ...

    async def give_back(self, lease: SessionLease) -> None:
        """The session of `lease` has ended (or never started)."""
        ...

    async def close(self) -> None:
        """Release what the limits hold (connections, leases of this process)."""
        ...


class LocalLimits:
    """Limits of this process alone: N replicas allow N times each limit."""

    def __init__(self, rate_per_address: float, rate_per_user: float) -> None:
        self._per_address = RateLimiter(rate_per_address)
        self._per_user = RateLimiter(rate_per_user)
        self._counts: Counter[str] = Counter()
        self._next_id = 0

    async def allow_address(self, key: str) -> bool:
        """See `Limits.allow_address`."""
        return self._per_address.allow(key)

    async def allow_user(self, subject: str) -> bool:
        """See `Limits.allow_user`."""
        return self._per_user.allow(subject)

    async def take_session(self, subject: str, limit: int | None) -> SessionLease | None:
        """See `Limits.take_session`."""
        if limit is not None and self._counts[subject] >= limit:
            return None
        self._counts[subject] += 1
        self._next_id += 1
        return SessionLease(subject, str(self._next_id))

    async def give_back(self, lease: SessionLease) -> None:
        """See `Limits.give_back`."""
        self._counts[lease.subject] -= 1
        if self._counts[lease.subject] <= 0:
            del self._counts[lease.subject]

    def sessions_of(self, subject: str) -> int:
        """How many sessions `subject` has open in this process."""
        return self._counts[subject]

    async def close(self) -> None:
        """Nothing to release."""
