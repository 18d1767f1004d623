"""The degradation ladder: which resolution and frame rate the current bitrate can carry.

When the link cannot carry the source's resolution and frame rate at a sane quality, an encoder
held to the estimate makes every frame a smear, and one held to the quality overshoots the link and
queues. libwebrtc lowers resolution or frame rate instead (its "degradation preference"); so does
this, by bits per pixel: a step is sustainable while the target gives each encoded pixel at least
`BPP_DOWN` bits, and the ladder climbs back only when the step above would get `BPP_UP` (the gap
is the hysteresis that stops it flapping). A change costs a keyframe, so the ladder also waits:
`HOLD_DOWN` of a too-low target before stepping down (a short dip is the estimator probing or a
loss burst), at once when it is far below, and `HOLD_UP` of a target good enough before climbing.
A low target means nothing while the content is easy (the encoder makes less than it may, so the
estimate never had reason to grow): the caller says so (`content_limited`) and the ladder holds.

Policies (`MEDIA_DEGRADATION`):
- `latency` (default): keep the frame rate (a lower one adds a frame interval of latency) and
  lower the resolution, down to half; only then halve the frame rate.
- `resolution`: keep the resolution, lower the frame rate.  (Named for what it keeps, as
  libwebrtc's `maintain-resolution`.)
- `framerate`: keep the frame rate, lower the resolution down to a quarter.
- `off`: never change either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DegradationPolicy = Literal["latency", "resolution", "framerate", "off"]
POLICIES: tuple[DegradationPolicy, ...] = ("latency", "resolution", "framerate", "off")

# Bits per encoded pixel and frame below which a step is too poor to hold, and above which the
# next step up is worth a keyframe. Chosen for libx264 ultrafast on textured game-like content:
# 720p60 at 0.05 bpp is 2.8 Mbit/s, where the picture is soft but still readable.
BPP_DOWN = 0.05
BPP_UP = 0.08
# Far below the step's need there is no point in waiting.
FAR_BELOW = 0.6
HOLD_DOWN = 1.0
HOLD_UP = 3.0


@dataclass(frozen=True)
class Step:
    """One rung: `scale` of the source's width and height, `fps` frames per second."""

    level: int
    scale: float
    fps: float


# Each ladder as (scale, share of the source frame rate), best first.
_LADDERS: dict[DegradationPolicy, tuple[tuple[float, float], ...]] = {
    "latency": ((1.0, 1.0), (0.75, 1.0), (0.5, 1.0), (0.5, 0.5), (0.375, 0.5)),
    "resolution": ((1.0, 1.0), (1.0, 0.75), (1.0, 0.5), (1.0, 0.33), (1.0, 0.25)),
    "framerate": ((1.0, 1.0), (0.75, 1.0), (0.5, 1.0), (0.375, 1.0), (0.25, 1.0)),
    "off": ((1.0, 1.0),),
}


class DegradationLadder:
    """Decides the step from the target bitrate over time; pure, the clock is passed in."""

    def __init__(self, policy: DegradationPolicy, source_fps: float) -> None:
        if policy not in _LADDERS:
            raise ValueError(f"degradation policy {policy!r} is not one of {', '.join(POLICIES)}")
        if source_fps <= 0:
            raise ValueError(f"the source frame rate must be positive, got {source_fps}")
        self.policy = policy
        self.source_fps = source_fps
        self._rungs = tuple(
            Step(level, scale, max(1.0, round(source_fps * share, 2)))
            for level, (scale, share) in enumerate(_LADDERS[policy])
        )
        self.step = self._rungs[0]
        self._low_since: float | None = None
        self._high_since: float | None = None

    @property
    def rungs(self) -> tuple[Step, ...]:
        """Every step of this policy's ladder, best first."""
        return self._rungs

    def needed(self, step: Step, pixels: int, bpp: float) -> float:
        """Bits per second `step` needs at `bpp` for a source of `pixels` per frame."""
        return pixels * step.scale * step.scale * step.fps * bpp

    def update(self, target_bitrate: int, pixels: int, now: float, content_limited: bool = False) -> Step:
        """The step for a target of `target_bitrate` bps and a source of `pixels` per frame.

        `content_limited`: the encoder makes clearly less than its target, so the target does not
        say what the link carries; the ladder does not step down then.
        """
        level = self.step.level
        need = self.needed(self.step, pixels, BPP_DOWN)
        if level + 1 < len(self._rungs) and target_bitrate < need and not content_limited:
            self._high_since = None
            if self._low_since is None:
                self._low_since = now
            if target_bitrate < need * FAR_BELOW or now - self._low_since >= HOLD_DOWN:
                self.step = self._lowest_fitting(target_bitrate, pixels)
                self._low_since = None
            return self.step
        self._low_since = None
        if level > 0 and target_bitrate >= self.needed(self._rungs[level - 1], pixels, BPP_UP):
            if self._high_since is None:
                self._high_since = now
            if now - self._high_since >= HOLD_UP:
                self.step = self._rungs[level - 1]
                self._high_since = now  # climb one rung per hold
            return self.step
        self._high_since = None
        return self.step

    def _lowest_fitting(self, target_bitrate: int, pixels: int) -> Step:
        """The best step below the current one that the target carries (else the last)."""
        for step in self._rungs[self.step.level + 1 :]:
            if target_bitrate >= self.needed(step, pixels, BPP_DOWN):
                return step
        return self._rungs[-1]
