"""The app's session and its lifecycle (docs/protocol.md section 6).

An `AppSession` lives from the sign-in that starts it until it ends for good; the client's
connections (`client_connection.ClientConnection`, one WebSocket and one peer connection each) come and
go within it. Losing a client without a clean end starts the resume window; a sign-in during the
window continues the same session. Events for the app are delivered one at a time, in order, by
one dispatcher task, so a slow or failing handler never stalls signaling or ends the session.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from av import AudioFrame

from observability import log_context
from stream_app.app import SessionInfo, StreamApp
from stream_app.app_channel import AppChannelCounters, AppOutbox
from stream_app.app_messages import Message
from stream_app.closecodes import CloseCode
from stream_app.config import StreamAppConfig
from stream_app.held_input import HeldInput
from stream_app.input_protocol import InputEvent, Resize
from stream_app.input_receiver import DROP_APP_BUSY, InputCounters, ThrottledLog

logger = logging.getLogger(__name__)

REASON_CLIENT = "ended by client"
REASON_ENDSESSION = "ended by endsession"
REASON_IDLE = "idle timeout"
REASON_SHUTDOWN = "shutting down"
REASON_RESUME_EXPIRED = "resume window expired"

_EVENT_QUEUE = 4096
# How long the app's `on_session_ended` (and events before it) may take before the session's
# resources are released regardless.
_DRAIN_TIMEOUT = 5.0


class Connection(Protocol):
    """What a session needs of its client's connection (`client_connection.ClientConnection`)."""

    @property
    def ws_closed(self) -> bool:
        """True once the client's WebSocket has closed."""

    async def close(self, code: int = ..., reason: str = "") -> None:
        """Close the WebSocket with `code` and `reason` and release the connection's resources."""


class Phase(enum.Enum):
    """Where a session is in its life."""

    CONNECTED = "connected"
    WAITING = "waiting"  # the client is gone; the resume window runs
    ENDED = "ended"


class AppSession:
    """One session of the app: spans the client's connections, ends once."""

    def __init__(self, app: StreamApp, config: StreamAppConfig, on_over: Callable[[AppSession], None]) -> None:
        self.id = uuid.uuid4().hex
        self.app = app
        self.config = config
        self.phase = Phase.CONNECTED
        self._phase_changed = asyncio.Event()
        self.connection: Connection | None = None
        self.end_reason: str | None = None
        self.input_counters = InputCounters()
        self.app_counters = AppChannelCounters()
        self.app_outbox = AppOutbox(self.id, self.app_counters, config.message_rate, config.message_burst)
        self._held = HeldInput()
        self.handler_errors = 0
        self.over = asyncio.Event()
        self._on_over = on_over
        self._loop = asyncio.get_running_loop()
        self._last_input = self._loop.time()
        self._events: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue(_EVENT_QUEUE)
        with log_context(session_id=self.id):  # the app's handlers log under the session's id
            self._dispatcher = asyncio.create_task(self._dispatch())
            self._idle_watch = asyncio.create_task(self._watch_idle()) if config.idle_timeout > 0 else None
        self._resume_timer: asyncio.Task[None] | None = None
        self._errors_log = ThrottledLog(logger)
        self._deliver("on_session_started", SessionInfo(self.id, resumed=False))

    @property
    def ended(self) -> bool:
        """True once the session has ended for good (its resources may still be being released)."""
        return self.phase is Phase.ENDED

    @property
    def waiting(self) -> bool:
        """True while the session waits for its client to come back."""
        return self.phase is Phase.WAITING

    @property
    def connection_closing(self) -> bool:
        """True while the client's WebSocket has closed but the session has not yet dealt with it."""
        return self.phase is Phase.CONNECTED and self.connection is not None and self.connection.ws_closed

    async def phase_change(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the session to change phase."""
        changed = self._phase_changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            pass

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self._phase_changed.set()
        self._phase_changed = asyncio.Event()

    def attach(self, connection: Connection) -> None:
        """Make `connection` the session's client connection (a new one, or a resume)."""
        resumed = self.phase is Phase.WAITING
        if self._resume_timer is not None:
            self._resume_timer.cancel()
            self._resume_timer = None
        self._enter(Phase.CONNECTED)
        self.connection = connection
        self._last_input = self._loop.time()
        if resumed:
            logger.info("session %s: resumed", self.id)
            self._deliver("on_client_resumed", SessionInfo(self.id, resumed=True))

    def deliver_input(self, event: InputEvent) -> None:
        """Pass an accepted input event to the app (and count it as activity)."""
        self._last_input = self._loop.time()
        self._held.note(event)
        if isinstance(event, Resize):
            self._deliver("on_resize", event)
        else:
            self._deliver("on_input", event)

    def deliver_message(self, message: Message) -> None:
        """Pass the page's custom message to the app's `on_message` (and count it as activity)."""
        self._last_input = self._loop.time()
        self._deliver("on_message", message.data)

    def deliver_microphone(self, frame: AudioFrame) -> None:
        """Pass one frame of the client's microphone to the app."""
        self._deliver("on_microphone", frame)

    def release_held_input(self) -> None:
        """Give the app a key-up or button-up for every key and button still down: the client can
        no longer send them (its input channel closed, it was lost, or the session ends)."""
        if self.phase is Phase.ENDED or self._held.empty:
            return
        ups = self._held.release(time.time() * 1000)
        logger.info("session %s: released %d keys and buttons still down", self.id, len(ups))
        for event in ups:
            self._deliver("on_input", event)

    async def connection_over(self, connection: Connection, end_reason: str | None) -> None:
        """`connection` has closed: end the session with `end_reason`, or, when None (the client
        was lost), wait for it to resume."""
        if self.phase is Phase.ENDED or self.connection is not connection:
            await connection.close()
            return
        self.release_held_input()
        if end_reason is not None:
            await self.end(end_reason)
            return
        self.connection = None
        if self.config.resume_window <= 0:
            await connection.close()
            await self.end(REASON_RESUME_EXPIRED)
            return
        # Waiting from now on, so a client that comes back while the old peer connection is still
        # closing (a TURN deallocation may take a moment) resumes instead of being refused.
        self._enter(Phase.WAITING)
        logger.info("session %s: client lost; waiting %.0f s for it to resume", self.id, self.config.resume_window)
        self._deliver("on_client_lost", SessionInfo(self.id, resumed=False))
        self._resume_timer = asyncio.create_task(self._expire_resume_window())
        await connection.close()

    async def end(self, reason: str) -> None:
        """End the session for good: close the client with 1000 `reason`, tell the app, release all."""
        if self.phase is Phase.ENDED:
            await self.over.wait()
            return
        self.end_reason = reason
        self.release_held_input()
        self._enter(Phase.ENDED)
        self.app_outbox.close()
        logger.info("session %s: ending (%s)", self.id, reason)
        current = asyncio.current_task()
        for task in (self._resume_timer, self._idle_watch):
            if task is not None and task is not current:
                task.cancel()
        try:
            if self.connection is not None:
                await self.connection.close(CloseCode.NORMAL, reason)
            self._deliver("on_session_ended", SessionInfo(self.id), reason, force=True)
            await self._drain()
        finally:
            self._on_over(self)
            self.over.set()
            app = self.app_counters
            logger.info(
                "session %s: ended (%s); input accepted %d, dropped %s; app messages sent %d (not sent %s), "
                "received %d (refused %s)",
                self.id,
                reason,
                self.input_counters.accepted,
                dict(self.input_counters.dropped) or "none",
                app.sent,
                dict(app.not_sent) or "none",
                app.received,
                dict(app.refused) or "none",
            )

    async def _drain(self) -> None:
        self._put(("", ()))  # the dispatcher stops at this marker
        try:
            await asyncio.wait_for(asyncio.shield(self._dispatcher), _DRAIN_TIMEOUT)
        except TimeoutError:
            logger.warning(
                "session %s: the app's handlers took over %.0f s to finish; cut short", self.id, _DRAIN_TIMEOUT
            )
            self._dispatcher.cancel()

    def _deliver(self, handler: str, *args: Any, force: bool = False) -> None:
        if self.phase is Phase.ENDED and not force:
            return
        if force:
            self._put((handler, args))
            return
        try:
            self._events.put_nowait((handler, args))
        except asyncio.QueueFull:
            self.input_counters.dropped[DROP_APP_BUSY] += 1
            self._errors_log.info("busy", "session %s: the app is not keeping up; dropped an event", self.id)

    def _put(self, item: tuple[str, tuple[Any, ...]]) -> None:
        """Queue `item` even when the queue is full: the end matters more than a stale input event."""
        if self._events.full():
            self._events.get_nowait()
            self.input_counters.dropped[DROP_APP_BUSY] += 1
        self._events.put_nowait(item)

    async def _dispatch(self) -> None:
        while True:
            name, args = await self._events.get()
            if not name:
                return
            try:
                result = getattr(self.app, name)(*args)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                self.handler_errors += 1
                if self._errors_log.allow("handler:" + name) is not None:
                    logger.exception("session %s: the app's %s raised; the session goes on", self.id, name)

    async def _watch_idle(self) -> None:
        timeout = self.config.idle_timeout
        while True:
            remaining = self._last_input + timeout - self._loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        await self.end(REASON_IDLE)

    async def _expire_resume_window(self) -> None:
        await asyncio.sleep(self.config.resume_window)
        if self.phase is Phase.WAITING:
            await self.end(REASON_RESUME_EXPIRED)


class SessionSlot:
    """The one session the stream app serves at a time (NVCF semantics)."""

    def __init__(self) -> None:
        self._current: AppSession | None = None
        self.session_over = asyncio.Event()
        self.sessions_ended = 0

    @property
    def busy(self) -> bool:
        """True from the sign-in that starts a session until it has ended and released everything."""
        return self._current is not None

    @property
    def current(self) -> AppSession | None:
        return self._current

    def start(self, app: StreamApp, config: StreamAppConfig) -> AppSession:
        """Start a new session in the free slot (call only when not `busy`, with no await between)."""
        if self._current is not None:
            raise RuntimeError("a session is already running")
        self._current = AppSession(app, config, self._release)
        return self._current

    def _release(self, session: AppSession) -> None:
        if self._current is session:
            self._current = None
            self.sessions_ended += 1
            self.session_over.set()

    async def end_current(self, reason: str) -> AppSession | None:
        """End the running session, if any; returns it."""
        session = self._current
        if session is not None:
            await session.end(reason)
        return session
