"""A textured, moving scene like a game or a 3D viewer, stamped like the test pattern.

The test pattern is too easy to encode to show congestion: x264 spends a fraction of any budget on
it. This scene keeps x264 busy at the bitrate it is given: a detailed noise texture panned
along a curve (the "world"), a second texture scrolling the other way under it at another speed
(parallax), and textured sprites moving across both, all with fine detail that costs bits to keep.

Cheap to make: the textures are computed once, a frame is numpy slices of them copied into one
YUV 4:2:0 buffer (about 1 ms at 720p here), stamped with its capture time (`stream_app.stamp`).

`python -m stream_app --app benchmarks.scene:make_app` (or ``STREAM_APP_FACTORY``) serves it;
`benchmarks/js/scene.js` draws the same kind of scene on a canvas for the libwebrtc reference.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
from av import VideoFrame

from stream_app import FrameSource, StreamApp, stamp
from stream_app.app import VideoSource
from stream_app.config import StreamAppConfig

SPRITES: Final = 6
_SPRITE: Final = 128
_SEED: Final = 20261202


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> npt.NDArray[np.float32]:
    """Smooth noise: a coarse random grid blown up with bilinear interpolation."""
    grid = rng.random((height // cell + 2, width // cell + 2), dtype=np.float32)
    ys = np.arange(height, dtype=np.float32) / cell
    xs = np.arange(width, dtype=np.float32) / cell
    y0, x0 = ys.astype(np.int32), xs.astype(np.int32)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = grid[y0][:, x0], grid[y0][:, x0 + 1]
    c, d = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    out: npt.NDArray[np.float32] = ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy).astype(
        np.float32, copy=False
    )
    return out


def texture(rng: np.random.Generator, height: int, width: int) -> npt.NDArray[np.uint8]:
    """Octaves of noise from 64 px down to single-pixel detail, 16-235 (video range)."""
    layers = [(64, 0.40), (16, 0.25), (4, 0.20)]
    out = rng.random((height, width), dtype=np.float32) * np.float32(0.15)  # per-pixel grit: the expensive part
    for cell, weight in layers:
        out += _value_noise(rng, height, width, cell) * np.float32(weight)
    levels: npt.NDArray[np.uint8] = (16 + np.clip(out, 0, 1) * 219).astype(np.uint8)
    return levels


class TexturedScene:
    """Renders the scene at a size; `render(capture_time)` gives the stamped frame for that time."""

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 60) -> None:
        if width % 2 or height % 2 or width < stamp.STAMP_WIDTH or height < 2 * stamp.CELL + _SPRITE:
            raise ValueError(
                f"scene size {width}x{height} must be even and at least {stamp.STAMP_WIDTH}x{2 * stamp.CELL + _SPRITE}"
            )
        self.width, self.height, self.fps = width, height, fps
        rng = np.random.default_rng(_SEED)
        # Textures twice the frame in each direction, so a pan never runs off their edge.
        self._world = texture(rng, 2 * height, 2 * width)
        self._ground = texture(rng, height, 2 * width)
        self._world_u = texture(rng, height, width) // 4 + 96
        self._world_v = texture(rng, height, width) // 4 + 96
        self._sprites = [texture(rng, _SPRITE, _SPRITE) // 2 + (i * 37 % 100) for i in range(SPRITES)]
        self._buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self._horizon = height * 3 // 5

    def draw(self, index: int, capture_ms: int) -> VideoFrame:
        """Frame `index` of the animation, stamped with `capture_ms`."""
        w, h = self.width, self.height
        luma = self._buffer[:h]
        t = index / 60.0  # motion in frames of a 60 fps clock, whatever the stream's rate
        # The world pans along a Lissajous curve, a few pixels a frame, as a camera would.
        wx = int((math.sin(t * 0.7) * 0.5 + 0.5) * (w - 1))
        wy = int((math.sin(t * 0.45 + 1.0) * 0.5 + 0.5) * (h - 1))
        horizon = self._horizon
        luma[:horizon] = self._world[wy : wy + horizon, wx : wx + w]
        gx = int(index * 6) % w  # the ground scrolls faster, the other way: parallax
        luma[horizon:] = self._ground[: h - horizon, w - gx : 2 * w - gx]
        span_x, span_y = w - _SPRITE, h - stamp.CELL - _SPRITE
        for i, sprite in enumerate(self._sprites):
            x = abs((index * (5 + 3 * i) + i * 211) % (2 * span_x) - span_x)
            y = stamp.CELL + abs((index * (3 + 2 * i) + i * 97) % (2 * span_y) - span_y)
            luma[y : y + _SPRITE, x : x + _SPRITE] = sprite
        half_w, half_h = w // 2, h // 2
        quarter = h // 4
        cx, cy = (wx // 2) % half_w, (wy // 2) % half_h
        u = self._world_u[cy : cy + half_h, cx : cx + half_w]
        v = self._world_v[cy : cy + half_h, cx : cx + half_w]
        self._buffer[h : h + quarter] = u.reshape(quarter, w)
        self._buffer[h + quarter :] = v.reshape(quarter, w)
        # Neutral chroma under the stamp, so its cells stay black and white.
        chroma_u = self._buffer[h : h + quarter].reshape(half_h, half_w)
        chroma_v = self._buffer[h + quarter :].reshape(half_h, half_w)
        chroma_u[: stamp.CELL // 2, : stamp.STAMP_WIDTH // 2] = 128
        chroma_v[: stamp.CELL // 2, : stamp.STAMP_WIDTH // 2] = 128
        stamp.paint(luma, capture_ms)
        return VideoFrame.from_ndarray(self._buffer, format="yuv420p")

    def render(self, capture_time: float) -> VideoFrame:
        """The frame for `capture_time` (seconds since the epoch): motion follows the clock."""
        return self.draw(int(capture_time * 60), int(capture_time * 1000))


class SceneApp(StreamApp):
    """The textured scene as a stream app, ignoring input."""

    def __init__(self, config: StreamAppConfig) -> None:
        self._source = FrameSource(config.fps, render=TexturedScene(config.width, config.height, config.fps).render)

    def video(self) -> VideoSource:
        return self._source


def make_app(config: StreamAppConfig) -> StreamApp:
    """`--app benchmarks.scene:make_app`."""
    return SceneApp(config)
