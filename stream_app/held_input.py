"""Keys and mouse buttons the client holds down, so none stays down when the client goes away.

Pure: `HeldInput.note()` follows every accepted event; `release()` makes the key-ups and
button-ups for whatever is still down (the web client's own release on blur cannot arrive over a
connection that has already gone) and forgets them.
"""

from __future__ import annotations

from stream_app.input_protocol import InputEvent, KeyEvent, MouseButton


class HeldInput:
    """What is down right now, by key `code` and mouse `button`, in the order it went down."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyEvent] = {}
        self._buttons: dict[int, MouseButton] = {}

    @property
    def empty(self) -> bool:
        """True when no key and no button is down."""
        return not self._keys and not self._buttons

    def note(self, event: InputEvent) -> None:
        """Follow `event`: a press is remembered, a release forgets its press."""
        if isinstance(event, KeyEvent):
            if event.action == "down":
                self._keys.setdefault(event.code, event)
            else:
                self._keys.pop(event.code, None)
        elif isinstance(event, MouseButton):
            if event.action == "down":
                self._buttons.setdefault(event.button, event)
            else:
                self._buttons.pop(event.button, None)

    def release(self, t: float) -> list[KeyEvent | MouseButton]:
        """The releases of everything still down (last pressed first), at client time `t` (epoch
        ms); each carries the `seq` of the press it ends. Afterwards nothing is down."""
        ups: list[KeyEvent | MouseButton] = [
            KeyEvent(down.seq, t, "up", down.code, down.key, 0, False) for down in reversed(self._keys.values())
        ]
        ups += [
            MouseButton(down.seq, t, "up", down.button, down.x, down.y, 0) for down in reversed(self._buttons.values())
        ]
        self._keys.clear()
        self._buttons.clear()
        return ups
