"""Handshake rate limits: one token bucket per key (client address, or user).

Memory is bounded: at most `max_keys` buckets are kept, the least recently used go first (a
forgotten bucket starts full again, which only ever lets a client through sooner).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Allows `per_minute` events per key on average, with bursts of up to `per_minute`.

    `per_minute` 0 turns the limit off.
    """

    def __init__(
        self, per_minute: float, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = per_minute
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, key: str) -> bool:
        """Take one token from `key`'s bucket; False when it is empty."""
        if self._burst <= 0:
            return True
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return allowed
