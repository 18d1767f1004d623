"""The app channel's outbox and error replies on their own (stream_app/app_channel.py), with a
stand-in for aiortc's data channel that records what would go on the wire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from stream_app import app_messages as am
from stream_app.app_channel import (
    NOT_SENT_OVERFLOW,
    NOT_SENT_SESSION_ENDED,
    OUTBOX_LIMIT,
    AppChannelCounters,
    AppOutbox,
    ErrorReplies,
)


@dataclass
class WireChannel:
    """What an open RTCDataChannel was given to send."""

    readyState: str = "open"  # the W3C name
    sent: list[am.Received] = field(default_factory=list)

    def send(self, data: str) -> None:
        self.sent.append(am.parse_from_app(data))


def outbox(rate: float = 1e6, burst: int = 10_000) -> tuple[AppOutbox, AppChannelCounters]:
    counters = AppChannelCounters()
    return AppOutbox("s", counters, rate, burst), counters


def test_messages_wait_for_the_channel_and_keep_their_order() -> None:
    box, counters = outbox()
    for n in range(3):
        assert box.send(am.Message(n)) is True
    channel = WireChannel()
    box.attach(channel)
    box.send(am.Message(3))
    assert [(r.seq, r.message) for r in channel.sent] == [(n, am.Message(n)) for n in range(4)]
    assert counters.sent == 4


def test_only_the_newest_are_kept_while_no_page_listens() -> None:
    box, counters = outbox()
    for n in range(OUTBOX_LIMIT + 10):
        box.send(am.Message(n))
    channel = WireChannel()
    box.attach(channel)
    assert [r.message for r in channel.sent] == [am.Message(n) for n in range(10, OUTBOX_LIMIT + 10)]
    assert counters.not_sent[NOT_SENT_OVERFLOW] == 10
    # The seq tells the page that messages are missing.
    assert channel.sent[0].seq == 10


def test_a_new_channel_gets_the_latest_cursor_first() -> None:
    box, _ = outbox()
    first = WireChannel()
    box.attach(first)
    box.send(am.Cursor("grab"))
    box.detach(first)
    box.send(am.Message("meanwhile"))
    second = WireChannel()
    box.attach(second)
    assert [r.message for r in second.sent] == [am.Cursor("grab"), am.Message("meanwhile")]


def test_after_the_session_nothing_goes_out() -> None:
    box, counters = outbox()
    box.send(am.Message("never seen"))
    box.close()
    assert box.send(am.Message("too late")) is False
    assert counters.not_sent[NOT_SENT_SESSION_ENDED] == 2


def test_the_rate_limit_says_false_and_counts() -> None:
    box, counters = outbox(rate=1, burst=2)
    box.attach(WireChannel())
    assert [box.send(am.Message(n)) for n in range(4)] == [True, True, False, False]
    assert counters.not_sent["rate-limit"] == 2


async def test_error_replies_are_one_per_code_a_second_and_count_the_rest() -> None:
    now = [100.0]
    sent: list[am.ChannelError] = []
    replies = ErrorReplies(sent.append, clock=lambda: now[0])
    for seq in range(5):
        replies.refuse("rate-limit", "over the rate", seq)
    replies.refuse("bad-json", "not JSON", None)
    assert sent == [
        am.ChannelError("rate-limit", "over the rate", 0, 1),
        am.ChannelError("bad-json", "not JSON", None, 1),
    ]
    # The four held back are told a second later, in one error, without another refusal.
    now[0] += 1.0
    await asyncio.sleep(1.1)
    assert sent[2:] == [am.ChannelError("rate-limit", "over the rate", 4, 4)]
    replies.close()
