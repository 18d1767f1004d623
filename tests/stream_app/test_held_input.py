"""What the app is given for keys and buttons still down when the client goes away (pure)."""

from stream_app import input_protocol as ip
from stream_app.held_input import HeldInput


def key(seq: int, action: str, code: str, key: str, mods: int = 0) -> ip.KeyEvent:
    return ip.KeyEvent(seq, 1000.0 + seq, action, code, key, mods, False)


def test_release_lets_go_of_every_key_and_button_still_down_last_first() -> None:
    held = HeldInput()
    for event in (
        key(0, "down", "ShiftLeft", "Shift", ip.SHIFT),
        key(1, "down", "KeyW", "W", ip.SHIFT),
        key(2, "down", "KeyW", "W", ip.SHIFT),  # a repeat: still one key down
        key(3, "down", "KeyA", "A", ip.SHIFT),
        key(4, "up", "KeyA", "A", ip.SHIFT),
        ip.MouseButton(5, 1005.0, "down", 0, 0.25, 0.5, 0),
        ip.MouseButton(6, 1006.0, "down", 2, 0.5, 0.5, 0),
        ip.MouseButton(7, 1007.0, "up", 2, 0.5, 0.5, 0),
        ip.Wheel(8, 1008.0, 0, 10, 0),
    ):
        held.note(event)
    assert not held.empty
    ups = held.release(2000.0)
    assert ups == [
        ip.KeyEvent(1, 2000.0, "up", "KeyW", "W", 0, False),
        ip.KeyEvent(0, 2000.0, "up", "ShiftLeft", "Shift", 0, False),
        ip.MouseButton(5, 2000.0, "up", 0, 0.25, 0.5, 0),
    ]
    assert held.empty and held.release(3000.0) == []


def test_nothing_to_release_when_every_press_was_released() -> None:
    held = HeldInput()
    held.note(key(0, "down", "KeyQ", "q"))
    held.note(key(1, "up", "KeyQ", "q"))
    assert held.empty and held.release(5.0) == []
