"""Paint: a numpy-drawn canvas that reacts visibly to every kind of input.

Layout of every frame (W x H, origin top left), so a test can read reactions off the video:

- rows 0-15: the capture-time stamp (docs/protocol.md section 4);
- rows 16-47: the status bar, 64-pixel swatches side by side (see `SWATCHES`);
- the canvas below it: strokes, and the sprite (a 24x24 square in the brush colour);
- 28 rows above the bottom band, while a line is typed (Enter opens it, as a game's chat does): a
  black band with the line (`text` input) in white capitals;
- the bottom 28 rows: the last pasted clipboard text, text the page sent, or the typed line Enter
  sent, in white capitals.

A two-finger pinch scales the brush (spreading the fingers to twice their distance doubles it);
status swatch 6 turns green while the user's microphone is heard.

It also talks back over the app channel (docs/protocol.md section 7): the pointer's cursor follows
the tool (`crosshair` to draw, `move`/`grabbing` to drag the sprite), Ctrl+C copies a description
of the brush to the user's clipboard, gamepad button 0 rumbles the pad, and a `{"text": ...}`
message from the page is shown in the bottom band and answered with `{"shown": ...}`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from av import AudioFrame

from examples.paint.font import GLYPH_W, draw_text
from stream_app import FrameSource, SessionInfo, StreamApp, stamp
from stream_app.app_messages import AppToPage, ClipboardText, Cursor, Message, Rumble
from stream_app.config import StreamAppConfig
from stream_app.input_protocol import (
    CTRL,
    META,
    Clipboard,
    Gamepad,
    InputEvent,
    KeyEvent,
    MouseButton,
    MouseMotion,
    MouseMove,
    Pinch,
    Resize,
    Text,
    Touch,
    Wheel,
)

logger = logging.getLogger(__name__)

Colour = tuple[int, int, int]

BLACK: Colour = (0, 0, 0)
WHITE: Colour = (255, 255, 255)
RED: Colour = (255, 0, 0)
GREEN: Colour = (0, 255, 0)
BLUE: Colour = (0, 0, 255)
YELLOW: Colour = (255, 255, 0)
MAGENTA: Colour = (255, 0, 255)
CYAN: Colour = (0, 255, 255)
ORANGE: Colour = (255, 128, 0)
BACKGROUND: Colour = (40, 40, 40)
MIC_LOUD = 1000  # of 32767: a voice, or Chromium's test beep; not the noise floor
MIC_HOLD_S = 1.2  # a beep once a second keeps the swatch lit

STATUS_TOP, STATUS_BOTTOM = 16, 48  # status bar rows [16, 48)
SWATCH = 64
# Swatch index -> what it shows. Swatch i covers x in [64 i, 64 i + 64), rows 16-47.
SWATCHES = {
    0: "brush colour",
    1: "magenta while any key is held",
    2: "cyan while the primary mouse button (or a finger) is down",
    3: "orange while any gamepad button is pressed",
    4: "yellow once clipboard text has arrived",
    5: "white bar as wide as the brush size (2-64 px)",
    6: "green while the microphone is heard (a peak above MIC_LOUD in the last MIC_HOLD_S)",
}
BRUSH_KEYS: dict[str, Colour] = {"KeyR": RED, "KeyG": GREEN, "KeyB": BLUE, "KeyY": YELLOW, "KeyW": WHITE}
COLOUR_NAMES = {RED: "red", GREEN: "green", BLUE: "blue", YELLOW: "yellow", WHITE: "white"}
# The tools (`KeyD` draw, `KeyM` move) and the cursor each shows; a drag with the move tool grabs.
TOOL_KEYS = {"KeyD": "draw", "KeyM": "move"}
TOOL_CURSORS = {"draw": "crosshair", "move": "move"}
GRAB_CURSOR = "grabbing"
RUMBLE_MS = 120
ARROWS = {"ArrowLeft": (-1, 0), "ArrowRight": (1, 0), "ArrowUp": (0, -1), "ArrowDown": (0, 1)}
ARROW_STEP = 16
SPRITE = 24
TEXT_BAND = 28
TEXT_SCALE = 4  # glyphs 12x20 pixels, one every 16 pixels
TYPED_LIMIT = 200  # characters of the typed line kept; the end of it that fits is drawn
ENTER_KEYS = ("Enter", "NumpadEnter")
BRUSH_RANGE = (2, 64)
MIN_SIZE, MAX_SIZE = (stamp.STAMP_WIDTH, 432), (1920, 1080)
STICK_SPEED = 600.0  # pixels a second at full deflection
DEAD_ZONE = 0.2


def _even_clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value)) // 2 * 2


@dataclass
class _Stroke:
    x: float
    y: float


class PaintApp:
    """The paint app's state and drawing; `PaintStreamApp` connects it to the stream app."""

    def __init__(self, width: int, height: int) -> None:
        self.width = _even_clamp(width, MIN_SIZE[0], MAX_SIZE[0])
        self.height = _even_clamp(height, MIN_SIZE[1], MAX_SIZE[1])
        self.canvas = np.empty((self.height, self.width, 3), np.uint8)
        self.canvas[:] = BACKGROUND
        self.brush: Colour = WHITE
        self.brush_size = 8
        self.sprite = [self.width / 2, self.height / 2]
        self.keys_down: set[str] = set()
        self.mouse_down = False
        self.mouse_stroke: _Stroke | None = None
        self.touches: dict[int, _Stroke] = {}
        self.pad_pressed = False
        self.pad_axes = (0.0, 0.0)
        self.clipboard: str | None = None
        self.banner: str | None = None  # the bottom band: the last pasted, sent or entered text
        self.typed = ""  # the line being typed, above the bottom band
        self.typing = False  # Enter opened a line: text goes into it and letter keys are not commands
        self.pinch_from: int | None = None  # the brush size when the current pinch started
        self.heard_at: float | None = None  # when the microphone was last louder than MIC_LOUD (monotonic)
        self.tool = "draw"
        self.grab: tuple[float, float] | None = None  # where a move-tool drag last was
        self.to_page: list[AppToPage] = []  # what the page should be told, oldest first
        self._last_render = time.monotonic()

    # Input -----------------------------------------------------------------------------------

    def handle(self, event: InputEvent) -> None:
        """Apply one input event."""
        if isinstance(event, KeyEvent):
            self._key(event)
        elif isinstance(event, MouseButton):
            self._mouse_button(event)
        elif isinstance(event, MouseMove):
            self._mouse_move(event)
        elif isinstance(event, MouseMotion):
            self._move_sprite(event.dx, event.dy)
        elif isinstance(event, Wheel):
            if event.dy:
                self._set_brush_size(self.brush_size - 2 * int(math.copysign(1, event.dy)))
        elif isinstance(event, Text):
            if self.typing:
                self.typed = (self.typed + event.text)[-TYPED_LIMIT:]
        elif isinstance(event, Pinch):
            self._pinch(event)
        elif isinstance(event, Touch):
            self._touch(event)
        elif isinstance(event, Gamepad):
            self._gamepad(event)
        elif isinstance(event, Clipboard):
            self.clipboard = self.banner = event.text
        elif isinstance(event, Resize):
            self.resize(event.width, event.height)

    def message(self, data: object) -> None:
        """A custom message from the page: `{"text": str}` shows the text and answers `{"shown": text}`."""
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            self.banner = data["text"][:200]
            self.to_page.append(Message({"shown": self.banner}))

    def hear(self, samples: npt.NDArray[Any], now: float) -> None:
        """One frame of the user's microphone, heard at `now` (monotonic): signed 16-bit samples
        (what aiortc decodes Opus to), or floats in -1..1."""
        if not samples.size:
            return
        peak = float(np.abs(samples.astype(np.float64)).max())
        if np.issubdtype(samples.dtype, np.floating):
            peak *= 32767
        if peak > MIC_LOUD:
            self.heard_at = now

    def cursor(self) -> Cursor:
        """The cursor of the tool in hand."""
        return Cursor(GRAB_CURSOR if self.grab is not None else TOOL_CURSORS[self.tool])

    def describe(self) -> str:
        """What Ctrl+C copies: the brush."""
        return f"paint brush {COLOUR_NAMES.get(self.brush, 'custom')} {self.brush_size}px"

    def _set_brush_size(self, size: int) -> None:
        self.brush_size = max(BRUSH_RANGE[0], min(BRUSH_RANGE[1], size))

    def _pinch(self, event: Pinch) -> None:
        if event.phase == "start" or self.pinch_from is None:
            self.pinch_from = self.brush_size
        self._set_brush_size(round(self.pinch_from * event.scale))
        if event.phase == "end":
            self.pinch_from = None

    def _key(self, event: KeyEvent) -> None:
        if event.action == "up":
            self.keys_down.discard(event.code)
            return
        self.keys_down.add(event.code)
        if event.code == "KeyC" and event.mods & (CTRL | META):
            self.to_page.append(ClipboardText(self.describe()))
        elif self.typing:
            self._edit_line(event)
        elif event.code in ENTER_KEYS:
            self.typing = True
        elif event.code in TOOL_KEYS:
            self.tool = TOOL_KEYS[event.code]
            self.to_page.append(self.cursor())
        elif event.code in BRUSH_KEYS:
            self.brush = BRUSH_KEYS[event.code]
        elif event.code in ARROWS:
            dx, dy = ARROWS[event.code]
            self._move_sprite(dx * ARROW_STEP, dy * ARROW_STEP)
        elif event.code == "Space":
            self._dot(self.sprite[0], self.sprite[1])
        elif event.code == "KeyC":
            self.canvas[:] = BACKGROUND

    def _edit_line(self, event: KeyEvent) -> None:
        """A key while a line is open: the characters come as `text` events, as the layout made them;
        keys only edit (Backspace), send (Enter) or drop (Escape) the line."""
        if event.code == "Backspace":
            self.typed = self.typed[:-1]
        elif event.code in ENTER_KEYS:
            if self.typed:
                self.banner = self.typed
            self.typed, self.typing = "", False
        elif event.code == "Escape":
            self.typed, self.typing = "", False

    def _point(self, x: float, y: float) -> tuple[float, float]:
        return x * (self.width - 1), y * (self.height - 1)

    def _mouse_button(self, event: MouseButton) -> None:
        if event.button != 0:
            return
        if self.tool == "move":
            self.grab = self._point(event.x, event.y) if event.action == "down" else None
            self.mouse_down = event.action == "down"
            self.to_page.append(self.cursor())
            return
        if event.action == "down":
            self.mouse_down = True
            x, y = self._point(event.x, event.y)
            self._dot(x, y)
            self.mouse_stroke = _Stroke(x, y)
        else:
            self.mouse_down = False
            self.mouse_stroke = None

    def _mouse_move(self, event: MouseMove) -> None:
        if self.grab is not None and event.buttons & 1:
            x, y = self._point(event.x, event.y)
            self._move_sprite(x - self.grab[0], y - self.grab[1])
            self.grab = (x, y)
            return
        if not event.buttons & 1 or self.mouse_stroke is None:
            return
        x, y = self._point(event.x, event.y)
        self._line(self.mouse_stroke, x, y)

    def _touch(self, event: Touch) -> None:
        for touch in event.touches:
            x, y = self._point(touch.x, touch.y)
            if event.phase == "start":
                self._dot(x, y)
                self.touches[touch.id] = _Stroke(x, y)
            elif event.phase == "move" and touch.id in self.touches:
                self._line(self.touches[touch.id], x, y)
            else:
                self.touches.pop(touch.id, None)

    def _gamepad(self, event: Gamepad) -> None:
        if not event.connected:
            self.pad_pressed, self.pad_axes = False, (0.0, 0.0)
            return
        pressed = any(value > 0.5 for value in event.buttons)
        if pressed and not self.pad_pressed and event.buttons and event.buttons[0] > 0.5:
            self._dot(self.sprite[0], self.sprite[1])
            self.to_page.append(Rumble(event.index, RUMBLE_MS, strong_magnitude=0.8, weak_magnitude=0.4))
        self.pad_pressed = pressed
        axes = (*event.axes, 0.0, 0.0)
        self.pad_axes = (axes[0], axes[1])

    def _move_sprite(self, dx: float, dy: float) -> None:
        self.sprite[0] = max(0.0, min(self.width - SPRITE, self.sprite[0] + dx))
        self.sprite[1] = max(float(STATUS_BOTTOM), min(self.height - SPRITE, self.sprite[1] + dy))

    def resize(self, width: int, height: int) -> None:
        """Change the frame size (clamped to 768x432-1920x1080, even); the drawing is kept."""
        width = _even_clamp(width, MIN_SIZE[0], MAX_SIZE[0])
        height = _even_clamp(height, MIN_SIZE[1], MAX_SIZE[1])
        if (width, height) == (self.width, self.height):
            return
        canvas = np.empty((height, width, 3), np.uint8)
        canvas[:] = BACKGROUND
        h, w = min(height, self.height), min(width, self.width)
        canvas[:h, :w] = self.canvas[:h, :w]
        self.canvas, self.width, self.height = canvas, width, height
        self._move_sprite(0, 0)
        logger.info("paint: frame size now %dx%d", width, height)

    # Drawing ---------------------------------------------------------------------------------

    def _dot(self, x: float, y: float) -> None:
        r = self.brush_size / 2
        x0, x1 = max(0, int(x - r)), min(self.width, int(x + r) + 1)
        y0, y1 = max(0, int(y - r)), min(self.height, int(y + r) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.ogrid[y0:y1, x0:x1]
        mask = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
        self.canvas[y0:y1, x0:x1][mask] = self.brush

    def _line(self, stroke: _Stroke, x: float, y: float) -> None:
        steps = max(1, int(math.hypot(x - stroke.x, y - stroke.y) / max(1.0, self.brush_size / 4)))
        for i in range(1, steps + 1):
            self._dot(stroke.x + (x - stroke.x) * i / steps, stroke.y + (y - stroke.y) * i / steps)
        stroke.x, stroke.y = x, y

    def render(self) -> npt.NDArray[np.uint8]:
        """One frame: canvas, sprite, status bar, clipboard text, and the stamp on top."""
        now = time.monotonic()
        elapsed, self._last_render = min(0.1, now - self._last_render), now
        ax, ay = (0.0 if abs(a) < DEAD_ZONE else a for a in self.pad_axes)
        if ax or ay:
            self._move_sprite(ax * STICK_SPEED * elapsed, ay * STICK_SPEED * elapsed)
        frame = self.canvas.copy()
        sx, sy = int(self.sprite[0]), int(self.sprite[1])
        frame[sy : sy + SPRITE, sx : sx + SPRITE] = BLACK
        frame[sy + 3 : sy + SPRITE - 3, sx + 3 : sx + SPRITE - 3] = self.brush
        frame[:STATUS_BOTTOM] = BLACK
        swatches: dict[int, Colour] = {0: self.brush}
        if self.keys_down:
            swatches[1] = MAGENTA
        if self.mouse_down or self.touches:
            swatches[2] = CYAN
        if self.pad_pressed:
            swatches[3] = ORANGE
        if self.clipboard is not None:
            swatches[4] = YELLOW
        if self.heard_at is not None and now - self.heard_at < MIC_HOLD_S:
            swatches[6] = GREEN
        for index, colour in swatches.items():
            frame[STATUS_TOP:STATUS_BOTTOM, index * SWATCH : (index + 1) * SWATCH] = colour
        frame[STATUS_TOP + 8 : STATUS_BOTTOM - 8, 5 * SWATCH : 5 * SWATCH + self.brush_size] = WHITE
        frame[self.height - TEXT_BAND :] = BLACK
        if self.typing:
            typed_top = self.height - 2 * TEXT_BAND
            frame[typed_top : self.height - TEXT_BAND] = BLACK
            fits = (self.width - 16) // ((GLYPH_W + 1) * TEXT_SCALE)
            draw_text(frame, self.typed[-fits:], 8, typed_top + 4, TEXT_SCALE, WHITE)
        if self.banner:
            draw_text(frame, self.banner.replace("\n", " "), 8, self.height - TEXT_BAND + 4, TEXT_SCALE, WHITE)
        capture_ms = int(time.time() * 1000)
        for channel in range(3):
            stamp.paint(frame[:, :, channel], capture_ms)
        return frame


class PaintStreamApp(StreamApp):
    """Paint as a stream app: renders on demand at the configured frame rate."""

    def __init__(self, config: StreamAppConfig) -> None:
        self.paint = PaintApp(config.width, config.height)
        self.source = FrameSource(config.fps, render=self._render)

    def video(self) -> FrameSource:
        return self.source

    def _render(self, capture_time: float) -> npt.NDArray[np.uint8]:
        # Called in the media pipeline's worker thread when the encoder wants the next frame.
        return self.paint.render()

    def on_session_started(self, info: SessionInfo) -> None:
        logger.info("paint: session %s started", info.id)
        self.set_cursor(self.paint.cursor().shape)

    def on_input(self, event: InputEvent) -> None:
        self.paint.handle(event)
        self._tell_page()

    def on_microphone(self, frame: AudioFrame) -> None:
        self.paint.hear(frame.to_ndarray(), time.monotonic())

    def on_message(self, message: object) -> None:
        self.paint.message(message)
        self._tell_page()

    def _tell_page(self) -> None:
        requests, self.paint.to_page = self.paint.to_page, []
        for request in requests:
            if isinstance(request, ClipboardText):
                self.set_clipboard(request.text)
            elif isinstance(request, Cursor):
                self.set_cursor(request.shape, visible=request.visible)
            elif isinstance(request, Rumble):
                self.rumble(request.index, request.duration, request.strong_magnitude, request.weak_magnitude)
            elif isinstance(request, Message):
                self.send(request.data)

    def on_resize(self, event: Resize) -> None:
        self.paint.resize(event.width, event.height)

    def on_session_ended(self, info: SessionInfo, reason: str) -> None:
        logger.info("paint: session %s ended (%s); canvas cleared for the next one", info.id, reason)
        self.paint = PaintApp(self.paint.width, self.paint.height)
        self.source = FrameSource(self.source.fps, render=self._render)


def make_app(config: StreamAppConfig) -> PaintStreamApp:
    """The factory for `stream-app --app examples.paint:make_app`."""
    return PaintStreamApp(config)
