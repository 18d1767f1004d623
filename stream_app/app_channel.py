"""The app channel's moving parts (docs/protocol.md section 7): the app's outbox to the page, the
inbox of the page's messages, and the throttled error replies. The messages are `app_messages`.

Nothing here can end a session: a bad, oversize or excess message is refused with an `error`
message to its sender (the page) or an `AppMessageError` / a `False` for the app, and counted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from stream_app.app_messages import (
    RATE_LIMIT,
    AppMessageError,
    AppToPage,
    ChannelError,
    Cursor,
    Message,
    parse_from_page,
    seq_of,
    serialize,
)
from stream_app.input_protocol import TokenBucket
from stream_app.input_receiver import ThrottledLog

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 256
"""Messages the app may send while no page listens (before its channel opens, while it is lost)."""
ERROR_INTERVAL = 1.0
"""At most one `error` of each code a second goes back to the page; `dropped` counts the rest."""

# Why an app's message did not go out (the keys of `AppChannelCounters.not_sent`).
NOT_SENT_RATE_LIMIT = "rate-limit"
NOT_SENT_OVERFLOW = "overflow"
NOT_SENT_SESSION_ENDED = "session-ended"


class Channel(Protocol):
    """What the outbox needs of a data channel (aiortc's `RTCDataChannel`)."""

    @property
    def readyState(self) -> str:
        """`open` while messages can be sent."""

    def send(self, data: str) -> None:
        """Queue `data` for the peer."""


@dataclass
class AppChannelCounters:
    """What became of one session's app-channel messages (across its connections)."""

    sent: int = 0
    received: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # the page's messages, by error code
    page_errors: int = 0  # the page refused this many of the app's messages


class AppOutbox:
    """The app's messages to the page, for the length of a session.

    Sent at once on the page's open `app` channel; queued (at most `OUTBOX_LIMIT`, oldest dropped)
    while there is none, and sent in order when the next one opens. The latest cursor is sent
    again on every new channel, since the page starts each connection with the default cursor.
    """

    def __init__(
        self,
        session_id: str,
        counters: AppChannelCounters,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_id = session_id
        self._counters = counters
        self._bucket = TokenBucket(rate, burst, clock)
        self._channel: Channel | None = None
        self._queue: deque[str] = deque()
        self._seq = 0
        self._cursor = Cursor()
        self._closed = False
        self._log = ThrottledLog(logger, clock=clock)

    def send(self, message: AppToPage) -> bool:
        """Send `message` (or queue it); False when it was dropped (over the rate, or the session is over).

        Raises `AppMessageError` for a message that can never be sent (too large).
        """
        text = serialize(message, self._seq)
        if self._closed:
            self._counters.not_sent[NOT_SENT_SESSION_ENDED] += 1
            return False
        if isinstance(message, Cursor) and message == self._cursor:
            return True  # the page shows it already; a repeat would only cost the rate
        if not self._bucket.take():
            self._counters.not_sent[NOT_SENT_RATE_LIMIT] += 1
            self._log.info("rate", "session %s: the app sends over the message rate; dropped one", self._session_id)
            return False
        self._seq += 1
        if isinstance(message, Cursor):
            self._cursor = message
        self._put(text)
        return True

    def reply(self, error: ChannelError) -> None:
        """Send an `error` to the page now (not counted against the app's rate; never queued)."""
        if self._channel is not None and self._channel.readyState == "open":
            self._channel.send(serialize(error, self._seq))
            self._seq += 1

    def _put(self, text: str) -> None:
        if self._channel is not None and self._channel.readyState == "open":
            self._channel.send(text)
            self._counters.sent += 1
            return
        if len(self._queue) >= OUTBOX_LIMIT:
            self._queue.popleft()
            self._counters.not_sent[NOT_SENT_OVERFLOW] += 1
        self._queue.append(text)

    def attach(self, channel: Channel) -> None:
        """The page's `app` channel of a new connection is open: the latest cursor, then what waited."""
        self._channel = channel
        if self._cursor != Cursor():
            channel.send(serialize(self._cursor, self._seq))
            self._seq += 1
        while self._queue:
            channel.send(self._queue.popleft())
            self._counters.sent += 1

    def detach(self, channel: Channel) -> None:
        """`channel` is gone (its connection closed); messages queue until the next one."""
        if self._channel is channel:
            self._channel = None

    def close(self) -> None:
        """The session is over: nothing more goes out."""
        self._closed = True
        self._channel = None
        self._counters.not_sent[NOT_SENT_SESSION_ENDED] += len(self._queue)
        self._queue.clear()


class ErrorReplies:
    """Refusals of the page's messages, told to the page: at most one `error` per code a second.

    The refusals in between are counted and told in the next `error` of that code (`dropped`), or
    `ERROR_INTERVAL` after the last one, so the page always learns how many were refused.
    """

    def __init__(self, send: Callable[[ChannelError], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, ChannelError] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def refuse(self, code: str, reason: str, seq: int | None) -> None:
        """Tell the page (now or soon) that its message `seq` was refused with `code` for `reason`."""
        now = self._clock()
        held = self._held.get(code)
        dropped = 1 + (held.dropped if held else 0)
        error = ChannelError(code, reason[:256], seq, dropped)
        last = self._last.get(code)
        if last is None or now - last >= ERROR_INTERVAL:
            self._flush_now(code, error, now)
            return
        self._held[code] = error
        if code not in self._timers:
            delay = last + ERROR_INTERVAL - now
            self._timers[code] = asyncio.get_running_loop().call_later(delay, self._flush, code)

    def _flush(self, code: str) -> None:
        self._timers.pop(code, None)
        error = self._held.get(code)
        if error is not None:
            self._flush_now(code, error, self._clock())

    def _flush_now(self, code: str, error: ChannelError, now: float) -> None:
        self._held.pop(code, None)
        timer = self._timers.pop(code, None)
        if timer is not None:
            timer.cancel()
        self._last[code] = now
        self._send(error)

    def close(self) -> None:
        """Forget what is held (the connection is gone)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._held.clear()


class AppInbox:
    """The page's messages on one connection's `app` channel: rate limit, parse, refuse with a reason."""

    def __init__(
        self,
        session_id: str,
        counters: AppChannelCounters,
        replies: ErrorReplies,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_id = session_id
        self._counters = counters
        self._replies = replies
        self._bucket = TokenBucket(rate, burst, clock)
        self._log = ThrottledLog(logger, clock=clock)

    def receive(self, data: str | bytes) -> Message | None:
        """The custom message carried by `data`, or None (refused and told to the page, or an `error`)."""
        if not self._bucket.take():
            self._refuse(RATE_LIMIT, "over the app channel's message rate", None)
            return None
        try:
            received = parse_from_page(data)
        except AppMessageError as exc:
            self._refuse(exc.code, exc.reason, seq_of(data))
            return None
        message = received.message
        if isinstance(message, ChannelError):
            self._counters.page_errors += message.dropped
            self._log.info(
                "page-error",
                "session %s: the page refused %d app message(s): %s: %s",
                self._session_id,
                message.dropped,
                message.code,
                message.reason,
            )
            return None
        assert isinstance(message, Message)
        self._counters.received += 1
        return message

    def _refuse(self, code: str, reason: str, seq: int | None) -> None:
        self._counters.refused[code] += 1
        self._log.info(code, "session %s: refused an app channel message (%s): %s", self._session_id, code, reason)
        self._replies.refuse(code, reason, seq)


class PageLink:
    """What the app's `send` and friends talk to: the outbox of the session running now, if any."""

    def __init__(self, outbox: Callable[[], AppOutbox | None]) -> None:
        self._outbox = outbox
        self._thread = threading.get_ident()

    def send(self, message: AppToPage) -> bool:
        """Send `message` to the page of the running session; False when there is none or it was dropped."""
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "send to the page from the stream app's event loop (a handler), "
                "or hand it over with loop.call_soon_threadsafe"
            )
        outbox = self._outbox()
        if outbox is None:
            serialize(message, 0)  # a message that could never go out says so even between sessions
            return False
        return outbox.send(message)
