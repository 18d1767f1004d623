"""The paint example: its visible reactions, first on its own, then read off the decoded video."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest
from support.scripted_client import ScriptedSession, open_session
from support.stream_app_harness import running_stream_app

from examples.paint import PaintApp, make_app
from examples.paint.font import glyph
from examples.paint.paint import BACKGROUND, CYAN, GREEN, MAGENTA, ORANGE, RED, STATUS_TOP, SWATCH, WHITE, YELLOW
from stream_app import input_protocol as ip
from stream_app import stamp
from stream_app.app_messages import ClipboardText, Cursor, Message, Rumble

Image = npt.NDArray[np.uint8]


def swatch(frame: Image, index: int) -> tuple[int, ...]:
    """Mean colour of the middle of status swatch `index`."""
    region = frame[STATUS_TOP + 8 : STATUS_TOP + 24, index * SWATCH + 16 : index * SWATCH + 48]
    return tuple(int(v) for v in region.reshape(-1, 3).mean(axis=0))


def near(colour: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def key(code: str, action: str = "down") -> ip.KeyEvent:
    return ip.KeyEvent(0, 0.0, action, code, code, 0, False)


def test_every_frame_carries_the_stamp() -> None:
    paint = PaintApp(1280, 720)
    before = int(time.time() * 1000)
    frame = paint.render()
    assert frame.shape == (720, 1280, 3)
    assert before <= stamp.read(frame[:, :, 1]) <= int(time.time() * 1000)


def test_keys_change_the_brush_and_light_the_key_swatch() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(key("KeyR"))
    frame = paint.render()
    assert swatch(frame, 0) == RED and swatch(frame, 1) == MAGENTA
    paint.handle(key("KeyR", "up"))
    assert swatch(paint.render(), 1) == (0, 0, 0)


def test_arrow_keys_move_the_sprite() -> None:
    paint = PaintApp(1280, 720)
    start = list(paint.sprite)
    paint.handle(key("ArrowRight"))
    paint.handle(key("ArrowDown"))
    assert paint.sprite == [start[0] + 16, start[1] + 16]


def test_mouse_drag_draws_in_the_brush_colour_and_wheel_changes_the_size() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(key("KeyY"))
    paint.handle(ip.MouseButton(0, 0, "down", 0, 0.1, 0.5, 0))
    assert swatch(paint.render(), 2) == CYAN
    paint.handle(ip.MouseMove(0, 0, 0.3, 0.5, 1))
    paint.handle(ip.MouseButton(1, 0, "up", 0, 0.3, 0.5, 0))
    frame = paint.render()
    y = int(0.5 * 719)
    assert all(tuple(frame[y, x]) == YELLOW for x in range(140, 380, 20))
    assert tuple(frame[y - 40, 200]) == BACKGROUND
    size = paint.brush_size
    paint.handle(ip.Wheel(0, 0, 0, -100, 0))
    assert paint.brush_size == size + 2


def test_touch_gamepad_clipboard_and_pointer_lock_react() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(ip.Touch(0, 0, "start", (ip.TouchPoint(1, 0.5, 0.8),)))
    assert swatch(paint.render(), 2) == CYAN
    paint.handle(ip.Touch(0, 0, "end", (ip.TouchPoint(1, 0.5, 0.8),)))
    paint.handle(ip.Gamepad(0, 0, 0, True, "pad", (1.0,), (1.0, 0.0)))
    x = paint.sprite[0]
    time.sleep(0.05)
    frame = paint.render()
    assert swatch(frame, 3) == ORANGE and paint.sprite[0] > x
    paint.handle(ip.Clipboard(0, 0, "HI"))
    frame = paint.render()
    assert swatch(frame, 4) == YELLOW
    assert (frame[-24:-4, 8:40] == 255).any()  # the text is drawn in the bottom band
    before = list(paint.sprite)
    paint.handle(ip.MouseMotion(0, 0, -10, 0, 0))
    assert paint.sprite[0] == before[0] - 10


def test_resize_changes_the_frame_size_within_limits() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(ip.Resize(0, 0, 1024, 576, 512, 288, 2.0))
    assert paint.render().shape == (576, 1024, 3)
    paint.resize(100, 100)
    assert paint.render().shape == (432, 768, 3)


async def _frame_where(session: ScriptedSession, check: Callable[[Image], bool], timeout: float = 10.0) -> Image:
    track = await asyncio.wait_for(asyncio.shield(session.track), timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = (await asyncio.wait_for(track.recv(), timeout)).to_ndarray(format="rgb24")
        if check(frame):
            return frame  # type: ignore[no-any-return]
    raise AssertionError("no decoded frame showed the expected reaction")


async def test_reactions_show_in_the_decoded_video(http: aiohttp.ClientSession) -> None:
    async with running_stream_app(width=960, height=540, fps=30, app_factory=make_app) as app:
        session = await open_session(http, app.sign_in_url, input_channels=True)
        try:
            await session.channels_open()
            first = await _frame_where(session, lambda f: True)
            assert first.shape == (540, 960, 3)
            session.send_input("key", action="down", code="KeyR", key="r", mods=0, repeat=False)
            frame = await _frame_where(session, lambda f: near(swatch(f, 0), RED) and near(swatch(f, 1), MAGENTA))
            latency = time.time() * 1000 - stamp.read(frame[:, :, 1])
            assert 0 < latency < 2000
            session.send_input("resize", width=1024, height=576)
            await _frame_where(session, lambda f: f.shape == (576, 1024, 3))
        finally:
            await session.close()


def test_the_tool_keys_change_the_cursor_and_a_move_drag_grabs_the_sprite() -> None:
    paint = PaintApp(1280, 720)
    assert paint.cursor() == Cursor("crosshair")
    paint.handle(key("KeyM"))
    start = list(paint.sprite)
    paint.handle(ip.MouseButton(0, 0, "down", 0, 0.5, 0.5, 0))
    paint.handle(ip.MouseMove(0, 0, 0.6, 0.5, 1))
    paint.handle(ip.MouseButton(1, 0, "up", 0, 0.6, 0.5, 0))
    paint.handle(key("KeyD"))
    assert paint.to_page == [Cursor("move"), Cursor("grabbing"), Cursor("move"), Cursor("crosshair")]
    assert paint.sprite[0] == pytest.approx(start[0] + 0.1 * 1279) and paint.sprite[1] == start[1]


def test_ctrl_c_copies_the_brush_and_plain_c_clears() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(key("KeyR"))
    paint.handle(ip.KeyEvent(0, 0.0, "down", "KeyC", "c", ip.CTRL, False))
    assert paint.to_page == [ClipboardText("paint brush red 8px")]


def test_gamepad_button_0_rumbles_that_pad() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(ip.Gamepad(0, 0, 2, True, "pad", (1.0,), ()))
    paint.handle(ip.Gamepad(1, 0, 2, True, "pad", (1.0,), ()))  # still held: once
    assert paint.to_page == [Rumble(2, 120, 0.8, 0.4)]


def test_a_text_message_from_the_page_is_shown_and_answered() -> None:
    paint = PaintApp(1280, 720)
    paint.message({"text": "hello page"})
    paint.message(["not", "for", "paint"])
    assert paint.banner == "hello page" and paint.to_page == [Message({"shown": "hello page"})]
    band = paint.render()[720 - 28 :, :200]
    assert band.max() == 255  # white letters in the band


def typed_cell(frame: Image, index: int) -> Image:
    """The glyph cell of typed character `index` (examples/paint/README.md)."""
    top = frame.shape[0] - 52
    return frame[top : top + 20, 8 + 16 * index : 8 + 16 * index + 12]


def test_typed_text_is_drawn_above_the_bottom_band_and_backspace_and_enter_edit_it() -> None:
    paint = PaintApp(1280, 720)
    assert (typed_cell(paint.render(), 0) == BACKGROUND).all()  # no line yet: the canvas
    paint.handle(ip.Text(0, 0, "x"))
    assert paint.typed == "" and (typed_cell(paint.render(), 0) == BACKGROUND).all()  # no line open: ignored
    paint.handle(key("Enter"))
    assert (typed_cell(paint.render(), 0) == 0).all()  # an open, empty line: the black band
    paint.handle(ip.Text(0, 0, "@é"))
    paint.handle(ip.Text(1, 0, "日"))
    frame = paint.render()
    assert paint.typed == "@é日"
    for index in range(3):
        assert (typed_cell(frame, index) == 255).any() and (typed_cell(frame, index) == 0).any()
    assert (typed_cell(frame, 3) == 0).all()  # black band after the last character
    # é is drawn as an E; 日 as the box of a character the font lacks.
    e_glyph = np.kron(glyph("E"), np.ones((4, 4), dtype=bool))
    assert ((typed_cell(frame, 1)[:, :, 0] == 255) == e_glyph).all()
    paint.handle(key("Backspace"))
    assert paint.typed == "@é" and (typed_cell(paint.render(), 2) == 0).all()
    paint.handle(key("Enter"))
    frame = paint.render()
    assert paint.typed == "" and paint.banner == "@é"
    assert (typed_cell(frame, 0) == BACKGROUND).all()
    assert (frame[720 - 24 : 720 - 4, 8:20] == 255).any()  # the entered line is in the bottom band


def test_letter_keys_are_commands_only_while_no_line_is_open() -> None:
    paint = PaintApp(1280, 720)
    paint.handle(key("Enter"))
    for code, text in (("KeyR", "r"), ("KeyC", "c"), ("KeyM", "m"), ("Space", " ")):
        paint.handle(key(code))
        paint.handle(ip.Text(0, 0, text))
    assert paint.typed == "rcm " and paint.brush == WHITE and paint.tool == "draw"
    paint.handle(key("Escape"))
    assert paint.typed == "" and not paint.typing and paint.banner is None
    paint.handle(key("KeyR"))
    paint.handle(ip.Text(0, 0, "r"))
    assert paint.brush == RED and paint.typed == ""


def test_a_pinch_scales_the_brush_from_its_size_at_the_start() -> None:
    paint = PaintApp(1280, 720)
    assert paint.brush_size == 8
    paint.handle(ip.Pinch(0, 0, "start", 1.0, 0.5, 0.5))
    paint.handle(ip.Pinch(1, 0, "move", 1.5, 0.5, 0.5))
    paint.handle(ip.Pinch(2, 0, "move", 2.0, 0.5, 0.5))
    assert paint.brush_size == 16
    paint.handle(ip.Pinch(3, 0, "end", 2.0, 0.5, 0.5))
    paint.handle(ip.Pinch(4, 0, "start", 1.0, 0.5, 0.5))
    paint.handle(ip.Pinch(5, 0, "move", 100.0, 0.5, 0.5))
    assert paint.brush_size == 64  # within the brush's limits
    paint.handle(ip.Pinch(6, 0, "move", 0.01, 0.5, 0.5))
    assert paint.brush_size == 2
    bar = paint.render()[STATUS_TOP + 12, 5 * SWATCH : 5 * SWATCH + 8]
    assert (bar[:2] == 255).all() and (bar[2:] == 0).all()  # the size bar shows 2 px


def test_the_microphone_swatch_is_green_while_the_microphone_is_heard() -> None:
    paint = PaintApp(1280, 720)
    quiet, loud = np.full((1, 960), 200, np.int16), np.array([[0, -20000, 100]], np.int16)
    paint.hear(quiet, time.monotonic())
    assert swatch(paint.render(), 6) == (0, 0, 0)  # the noise floor is not heard
    paint.hear(loud, time.monotonic())
    assert swatch(paint.render(), 6) == GREEN
    paint.hear(loud, time.monotonic() - 2)  # heard two seconds ago: out again
    assert swatch(paint.render(), 6) == (0, 0, 0)
    paint.hear(np.array([[0.5, -0.1]], np.float32), time.monotonic())
    assert swatch(paint.render(), 6) == GREEN
