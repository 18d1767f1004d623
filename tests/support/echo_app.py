"""A stream app that tells the page what reached it: browser tests through the real stack read, in
the page, every input event the app was given, over the app channel (docs/protocol.md section 7).

Each input event goes back as the custom message ``{"input": {"event": "KeyEvent", "code": ...}}``
(the event's fields without `seq` and `t`); a page message ``{"clipboard": text}`` puts `text` on
the page's clipboard, ``{"ask": "microphone"}`` is answered with what the app heard of the page's
microphone so far (``{"microphone": {"frames", "loud", "loudest", "rates"}}``: frames received,
frames whose peak passed `LOUD`, the loudest peak, the sample rates), any other comes back as
``{"echo": message}``. Ctrl+C (a `KeyC` down with
Ctrl) sets the clipboard to ``copied <n>``, as an app with a copy command would, and gamepad
button 0 going down rumbles that pad. Run it with `STREAM_APP_FACTORY=support.echo_app:make_app`
and the repository's `tests` folder on `PYTHONPATH` (`ECHO_APP`, `echo_app_pythonpath`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
from av import AudioFrame

from stream_app import SessionInfo, StreamApp
from stream_app.app import VideoSource
from stream_app.config import StreamAppConfig
from stream_app.input_protocol import Gamepad, InputEvent, KeyEvent, MouseMotion, MouseMove, Resize, Touch
from stream_app.media import pattern_source

CTRL = 2
"""The `mods` bit of Ctrl (docs/protocol.md section 5)."""
LOUD = 1000
"""A frame whose peak passes this (of 32767) carries sound: a test tone or beep, not silence or noise."""


def echo(event: InputEvent) -> dict[str, Any]:
    """`event` as the page is told it: its class name and its fields but `seq` and `t`."""
    fields = {k: v for k, v in dataclasses.asdict(event).items() if k not in ("seq", "t")}
    return {"event": type(event).__name__, **fields}


@dataclasses.dataclass
class Heard:
    """What the app received of the page's microphone in this session."""

    frames: int = 0
    loud: int = 0
    loudest: int = 0
    rates: list[int] = dataclasses.field(default_factory=list)

    def add(self, frame: AudioFrame) -> None:
        """Count `frame` (signed 16-bit samples, as `StreamApp.on_microphone` gets them)."""
        peak = int(np.abs(frame.to_ndarray().astype(np.int32)).max(initial=0))
        self.frames += 1
        self.loud += peak > LOUD
        self.loudest = max(self.loudest, peak)
        if frame.sample_rate not in self.rates:
            self.rates.append(frame.sample_rate)


class EchoApp(StreamApp):
    """Streams the test pattern and sends the page every input event it gets (motion excepted)."""

    def __init__(self, config: StreamAppConfig) -> None:
        self._source = pattern_source(config.width, config.height, config.fps)
        self._copies = 0
        self._buttons_down: dict[int, bool] = {}
        self._heard = Heard()

    def video(self) -> VideoSource:
        return self._source

    def on_session_started(self, info: SessionInfo) -> None:
        # One app object serves every session of the process: each starts counting afresh.
        self._copies = 0
        self._buttons_down.clear()
        self._heard = Heard()

    def on_input(self, event: InputEvent) -> None:
        # Pointer motion comes at up to a frame rate and would use up the app channel's message rate.
        if isinstance(event, MouseMove | MouseMotion) or (isinstance(event, Touch) and event.phase == "move"):
            return
        self.send({"input": echo(event)})
        if isinstance(event, KeyEvent) and event.action == "down" and event.code == "KeyC" and event.mods & CTRL:
            self._copies += 1
            self.set_clipboard(f"copied {self._copies}")
        if isinstance(event, Gamepad):
            down = event.connected and bool(event.buttons) and event.buttons[0] > 0.5
            if down and not self._buttons_down.get(event.index, False):
                self.rumble(event.index, duration=120, strong=0.8, weak=0.4)
            self._buttons_down[event.index] = down

    def on_resize(self, event: Resize) -> None:
        self.send({"input": echo(event)})

    def on_microphone(self, frame: AudioFrame) -> None:
        self._heard.add(frame)

    def on_message(self, message: Any) -> None:
        if isinstance(message, dict) and isinstance(message.get("clipboard"), str):
            self.set_clipboard(message["clipboard"])
        elif message == {"ask": "microphone"}:
            self.send({"microphone": dataclasses.asdict(self._heard)})
        else:
            self.send({"echo": message})


def make_app(config: StreamAppConfig) -> EchoApp:
    """The factory for `STREAM_APP_FACTORY=support.echo_app:make_app`."""
    return EchoApp(config)


ECHO_APP = "support.echo_app:make_app"
"""The echo app's factory, for `services.use_app` or `local_stack.app_stack`."""


def echo_app_pythonpath(repo: Path) -> str:
    """`PYTHONPATH` for a stream app process that imports the echo app from `repo`'s tests."""
    return os.pathsep.join([str(repo), str(repo / "tests")])
