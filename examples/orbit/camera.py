"""The orbit camera: pure state and maths, driven by input events, no GL.

The camera circles a target point on the ground: a drag turns it (yaw, pitch), the wheel or a
two-finger pinch moves it nearer or farther, WASD and the arrow keys move the target over the
ground, relative to where the camera looks. `view_projection()` is the matrix the scene is drawn with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stream_app.input_protocol import InputEvent, KeyEvent, MouseButton, MouseMotion, MouseMove, Pinch, Wheel

Matrix = npt.NDArray[np.float32]

# Key code -> (right, forward) direction of travel.
MOVE_KEYS: dict[str, tuple[int, int]] = {
    "KeyW": (0, 1),
    "ArrowUp": (0, 1),
    "KeyS": (0, -1),
    "ArrowDown": (0, -1),
    "KeyA": (-1, 0),
    "ArrowLeft": (-1, 0),
    "KeyD": (1, 0),
    "ArrowRight": (1, 0),
}
MOVE_SPEED = 4.0  # ground units a second while a key is held
DRAG_YAW = math.pi  # radians turned by dragging across the whole picture
DRAG_PITCH = math.pi / 2
LOCKED_RADIANS_PER_PIXEL = 0.005  # pointer-lock motion (MouseMotion dx, dy in pixels)
PITCH_RANGE = (math.radians(5), math.radians(85))
DISTANCE_RANGE = (2.0, 40.0)
GROUND_LIMIT = 10.0  # the target stays over the ground plane
FIELD_OF_VIEW = math.radians(60)
NEAR, FAR = 0.1, 200.0


@dataclass
class OrbitCamera:
    """Where the camera is and what it does with input; mutated on the event loop, read when drawing."""

    target: list[float] = field(default_factory=lambda: [0.0, 0.0])  # x, z on the ground
    yaw: float = math.radians(30)
    pitch: float = math.radians(30)
    distance: float = 9.0
    held: set[str] = field(default_factory=set)
    drag_from: tuple[float, float] | None = None
    pinch_from: float | None = None  # the distance when the current pinch started

    def handle(self, event: InputEvent) -> None:
        """Apply one input event (the types this camera does not use are ignored)."""
        if isinstance(event, MouseButton) and event.button == 0:
            self.drag_from = (event.x, event.y) if event.action == "down" else None
        elif isinstance(event, MouseMove):
            if self.drag_from is not None and event.buttons & 1:
                self.turn((event.x - self.drag_from[0]) * DRAG_YAW, (event.y - self.drag_from[1]) * DRAG_PITCH)
                self.drag_from = (event.x, event.y)
            elif not event.buttons & 1:
                self.drag_from = None  # the button came up outside the picture
        elif isinstance(event, MouseMotion):
            self.turn(event.dx * LOCKED_RADIANS_PER_PIXEL, event.dy * LOCKED_RADIANS_PER_PIXEL)
        elif isinstance(event, Wheel):
            self._set_distance(self.distance * math.exp(event.dy * 0.001))
        elif isinstance(event, Pinch):
            # Spreading the fingers brings the scene nearer: twice their distance, half the camera's.
            if event.phase == "start" or self.pinch_from is None:
                self.pinch_from = self.distance
            self._set_distance(self.pinch_from / event.scale)
            if event.phase == "end":
                self.pinch_from = None
        elif isinstance(event, KeyEvent) and event.code in MOVE_KEYS:
            if event.action == "down":
                self.held.add(event.code)
            else:
                self.held.discard(event.code)

    def _set_distance(self, distance: float) -> None:
        low, high = DISTANCE_RANGE
        self.distance = min(high, max(low, distance))

    def turn(self, yaw: float, pitch: float) -> None:
        """Orbit: dragging right turns the scene right, dragging down looks from higher up."""
        self.yaw -= yaw
        self.pitch = min(PITCH_RANGE[1], max(PITCH_RANGE[0], self.pitch + pitch))

    def advance(self, seconds: float) -> None:
        """Move the target for `seconds` of the keys held now (forward is where the camera looks)."""
        right = sum(MOVE_KEYS[code][0] for code in self.held)
        forward = sum(MOVE_KEYS[code][1] for code in self.held)
        if not (right or forward):
            return
        step = MOVE_SPEED * seconds / math.hypot(right, forward)
        sin, cos = math.sin(self.yaw), math.cos(self.yaw)
        # The camera looks along -(sin yaw, cos yaw) on the ground; right is (cos yaw, -sin yaw).
        self.target[0] = _clamp(self.target[0] + step * (right * cos - forward * sin), GROUND_LIMIT)
        self.target[1] = _clamp(self.target[1] + step * (-right * sin - forward * cos), GROUND_LIMIT)

    def eye(self) -> npt.NDArray[np.float64]:
        """The camera's position in the world."""
        flat = self.distance * math.cos(self.pitch)
        return np.array(
            [
                self.target[0] + flat * math.sin(self.yaw),
                self.distance * math.sin(self.pitch),
                self.target[1] + flat * math.cos(self.yaw),
            ]
        )

    def view_projection(self, aspect: float, *, top_down_rows: bool = True) -> Matrix:
        """Projection x view, row-major. `top_down_rows` mirrors the picture vertically so that
        OpenGL, which stores the bottom row first, stores the top row first: a read-back is then
        in video order and needs no flip."""
        projection = perspective(FIELD_OF_VIEW, aspect, NEAR, FAR)
        if top_down_rows:
            projection[1] *= -1
        target = np.array([self.target[0], 0.5, self.target[1]])
        return (projection @ look_at(self.eye(), target)).astype(np.float32)


def perspective(fov_y: float, aspect: float, near: float, far: float) -> npt.NDArray[np.float64]:
    """OpenGL's perspective projection (clip z in -w..w), row-major."""
    f = 1 / math.tan(fov_y / 2)
    return np.array(
        [
            [f / aspect, 0, 0, 0],
            [0, f, 0, 0],
            [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0, 0, -1, 0],
        ]
    )


def look_at(eye: npt.NDArray[np.float64], target: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The view matrix of a camera at `eye` looking at `target`, world up +y, row-major."""
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    view = np.identity(4)
    view[0, :3], view[1, :3], view[2, :3] = right, up, -forward
    view[:3, 3] = -view[:3, :3] @ eye
    return view


def _clamp(value: float, limit: float) -> float:
    return min(limit, max(-limit, value))
