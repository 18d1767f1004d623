"""When nvcf-deploy tries a control-API call again: transient failures, with backoff and ``Retry-After``.

A request is tried again after a 429, 500, 502, 503 or 504 answer, or no answer at all (a timeout,
a refused or reset connection), up to `MAX_ATTEMPTS` tries in all. A call that may not be repeated
safely (``POST``: creating a function twice makes two) is tried again only when the server said it
did not act on it: 429 (rate limited) and 503 (unavailable). The pause is the answer's
``Retry-After`` (seconds, or an HTTP date; RFC 9110 10.2.3), capped at `MAX_PAUSE`, else an
exponential backoff from 0.5 s.
"""

from __future__ import annotations

import datetime
import email.utils

MAX_ATTEMPTS = 5
MAX_PAUSE = 60.0
_FIRST_PAUSE = 0.5
_LONGEST_BACKOFF = 8.0
TRANSIENT = frozenset({429, 500, 502, 503, 504})
NOT_ACTED_ON = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD"})


def retry_after_seconds(header: str | None, now: datetime.datetime) -> float | None:
    """``Retry-After`` as seconds from `now` (0 for a date in the past); None if absent or unreadable."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max((when - now).total_seconds(), 0.0)


def retry_pause(
    attempt: int, *, method: str, status: int, retry_after: str | None, now: datetime.datetime
) -> float | None:
    """Seconds to wait before try number `attempt` + 1 (`attempt` tries made), or None: do not retry.

    `status` is 0 when there was no answer.
    """
    if attempt >= MAX_ATTEMPTS:
        return None
    if status != 0 and status not in TRANSIENT:
        return None
    if method.upper() not in IDEMPOTENT and status not in NOT_ACTED_ON:
        return None
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        return min(asked, MAX_PAUSE)
    return min(_FIRST_PAUSE * 2.0 ** (attempt - 1), _LONGEST_BACKOFF)
