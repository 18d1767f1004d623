"""The app API: what an app developer implements to stream their own pictures and take input.

Subclass `StreamApp`, override what you need, and give `stream-app --app module:factory` a
factory `factory(config) -> StreamApp`. The rule for handlers: every `on_*` method may be a plain
function or a coroutine function; the stream app calls them one at a time, in the order things
happened, on its event loop (a coroutine is awaited before the next event is delivered). An
exception in a handler is logged and the session goes on. The other way, `send`, `set_clipboard`,
`set_cursor` and `rumble` reach the page over the app channel (docs/protocol.md section 7).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from av import AudioFrame

from stream_app.app_messages import AppToPage, ClipboardText, Cursor, Message, Rumble
from stream_app.config import ConfigError, StreamAppConfig
from stream_app.input_protocol import InputEvent, Resize
from stream_app.media import AudioSource, EncodedSource, FrameSource, pattern_source

VideoSource = FrameSource | EncodedSource
"""What `StreamApp.video()` returns: raw frames for our encoder, or H.264 the app encoded itself."""


@dataclass(frozen=True)
class SessionInfo:
    """The session an event is about: its id (the one in `hello`) and whether it was resumed."""

    id: str
    resumed: bool = False


class PageOutlet(Protocol):
    """Where the app's messages to the page go (`app_channel.PageLink`, bound by the stream app)."""

    def send(self, message: AppToPage) -> bool:
        """Send `message` to the running session's page; False when it was dropped."""


class StreamApp:
    """Base class of an app. Override `video()` and the handlers you want; the rest do nothing.

    One app object serves every session of the process (one at a time). Handlers may be `def`
    or `async def`; they run on the event loop, so keep them short (do heavy work in a thread).
    The methods that talk to the page (`send`, `set_clipboard`, `set_cursor`, `rumble`) are
    called from the event loop too; each returns False when the message was dropped (no session,
    or over the rate limit) and raises `AppMessageError` for a message that can never be sent.
    """

    _page: PageOutlet | None = None

    def bind_page(self, page: PageOutlet) -> None:
        """Called once by the stream app: where `send` and friends deliver."""
        self._page = page

    def _to_page(self, message: AppToPage) -> bool:
        if self._page is None:
            raise RuntimeError("this app is not served by a stream app, so it has no page to talk to")
        return self._page.send(message)

    def send(self, message: Any) -> bool:
        """Send a custom message (any JSON value, at most 64 KiB as JSON) to the page's `message` event.

        Ordered and reliable while the page is connected; queued while it is not (within the session).
        """
        return self._to_page(Message(message))

    def set_clipboard(self, text: str) -> bool:
        """Put `text` on the user's clipboard (the page asks for a click where the browser wants one)."""
        return self._to_page(ClipboardText(text))

    def set_cursor(self, shape: str = "default", *, visible: bool = True) -> bool:
        """Draw the pointer over the picture as `shape` (a CSS cursor name of
        `app_messages.CURSOR_SHAPES`), or hide it; the page draws it, so it moves without latency."""
        return self._to_page(Cursor(shape, visible))

    def rumble(self, index: int = 0, duration: int = 200, strong: float = 1.0, weak: float = 1.0) -> bool:
        """Shake gamepad `index` for `duration` ms with motors at `strong` and `weak` (0..1), where the
        page's browser can (`vibrationActuator`)."""
        return self._to_page(Rumble(index, duration, strong, weak))

    def video(self) -> VideoSource:
        """The video to stream: a `FrameSource` (raw frames) or an `EncodedSource` (H.264 access units).

        Called once for every peer connection (a new session or a resume); return the same source
        each time so a resumed client sees the same picture.
        """
        raise NotImplementedError("a StreamApp must provide video()")

    def audio(self) -> AudioSource | None:
        """Optional sound; called like `video()`."""
        return None

    def on_session_started(self, info: SessionInfo) -> Awaitable[None] | None:
        """A client signed in and a new session began."""
        return None

    def on_input(self, event: InputEvent) -> Awaitable[None] | None:
        """An input event from the client (every type of `input_protocol` but `Resize`).

        Games read `KeyEvent.code` (the physical key, the same on every layout); apps that take
        text read `Text` events (what the user's layout, dead keys or input method produced) and
        use `KeyEvent` only for keys that make no text (Enter, arrows, shortcuts). A key or mouse
        button still down when the client's input channel closes, the client is lost or the
        session ends gets its release here all the same, so nothing stays pressed.
        """
        return None

    def on_message(self, message: Any) -> Awaitable[None] | None:
        """A custom message from the page (any JSON value), in order with input events."""
        return None

    def on_resize(self, event: Resize) -> Awaitable[None] | None:
        """The client would like the picture to be `event.width` x `event.height` device pixels
        (sharp on HiDPI screens), or `event.css_width` x `event.css_height` at `event.dpr`; the
        app decides which, or neither."""
        return None

    def on_microphone(self, frame: AudioFrame) -> Awaitable[None] | None:
        """One frame of the client's microphone, when its page sends one (its `mic=1` option; off
        by default): decoded Opus, 48 kHz, 20 ms a frame (`frame.to_ndarray()`: signed 16-bit,
        channels interleaved; `frame.sample_rate`, `frame.layout.name`). Keep this short: it runs
        50 times a second on the event loop."""
        return None

    def on_client_lost(self, info: SessionInfo) -> Awaitable[None] | None:
        """The client went away without ending the session; it may come back within the resume window."""
        return None

    def on_client_resumed(self, info: SessionInfo) -> Awaitable[None] | None:
        """The client came back within the resume window (`info.resumed` is true)."""
        return None

    def on_session_ended(self, info: SessionInfo, reason: str) -> Awaitable[None] | None:
        """The session is over for good; `reason` is the close reason (e.g. `ended by client`)."""
        return None


AppFactory = Callable[[StreamAppConfig], StreamApp]


class PatternApp(StreamApp):
    """The built-in app: the stamped test pattern, ignoring input."""

    def __init__(self, config: StreamAppConfig) -> None:
        self._source = pattern_source(config.width, config.height, config.fps)

    def video(self) -> VideoSource:
        return self._source


def load_factory(spec: str) -> AppFactory:
    """Import `module:attribute` (e.g. `examples.paint:make_app`); an empty spec is the test pattern."""
    if not spec:
        return PatternApp
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"--app {spec!r} must be of the form module:factory")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--app {spec!r}: cannot import {module_name}: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(f"--app {spec!r}: {module_name} has no callable {attribute!r}")
    return factory  # type: ignore[no-any-return]
