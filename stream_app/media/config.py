"""The media pipeline's settings: one frozen dataclass, read from `MEDIA_*` environment variables.

`MEDIA_SETTINGS` declares every field once (`settings.Setting`); the stream app includes them in
its own settings, so each is a flag too and `--help` and docs/configuration.md list them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from settings import Setting, parsers, with_defaults
from stream_app.media.degradation import POLICIES, DegradationPolicy

SUPPORTED_CODECS = ("H264", "VP8")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
CodecOrder = Literal["client", "server"]
CongestionControl = Literal["transport-cc", "legacy"]
CONGESTION_CONTROLS: tuple[CongestionControl, ...] = ("transport-cc", "legacy")

PLAYOUT_DELAY_MAX_MS = 0xFFF * 10  # the playout-delay extension's 12 bits of 10 ms units
_BITRATE_FLOOR = 100_000
_BITRATE_CEILING = 500_000_000


class MediaConfigError(ValueError):
    """A media setting with a value the pipeline cannot use; the message says which and why."""


@dataclass(frozen=True)
class MediaConfig:
    """How video is encoded and which codecs are negotiated (docs/media.md explains every field).

    - `codecs`: video codecs we allow, in our order of preference (`H264`, `VP8`).
    - `codec_order`: `client` (default) sends the first allowed codec in the browser's offer order,
      so a browser that calls `setCodecPreferences` gets its choice; `server` uses `codecs`' order.
    - `bitrate_min` / `bitrate_start` / `bitrate_max`: bits per second; the encoder starts at
      `bitrate_start` and follows the congestion controller's estimate, clamped to [min, max]. The
      start is conservative (a link's capacity is unknown until feedback arrives) and probing finds
      more within the first second; the floor is low enough for a 500 kbit/s link.
    - `congestion_control`: `transport-cc` (default) paces packets and estimates the rate on our
      side from the browser's transport feedback, or from its REMB when it does not offer
      `transport-cc`; `legacy` is aiortc's own loop (every frame in one burst, REMB only), kept
      for comparison.
    - `degradation`: what gives when the estimate cannot carry the source (`degradation.py`):
      `latency` (default), `resolution` (keep it), `framerate` (keep it) or `off`.
    - `gop`: frames between periodic keyframes; 0 means keyframes only at start and when the
      receiver asks (PLI/FIR), which keeps the bitrate smooth (no periodic keyframe spikes).
    - `x264_preset`: libx264 speed preset; `tune=zerolatency` is always on.
    - `max_fps`: the highest source frame rate accepted.
    - `encoder_threads`: encoder threads per stream; 0 picks: 1 on a machine with 2 CPUs or
      fewer (threads there stall behind other work: measured p95 10x worse), more on larger ones.
    - `playout_delay_ms`: the most playout delay the browser is asked for with the playout-delay
      RTP header extension (minimum always 0); 0 asks it to show each frame as soon as it is
      decoded, None sends no extension (the browser schedules frames itself).
    - `audio_fec`: Opus in-band FEC when the browser offers `useinbandfec=1`, sized by the loss the
      link shows (`audio_encoder.py`); False sends aiortc's Opus as is.
    """

    codecs: tuple[str, ...] = SUPPORTED_CODECS
    codec_order: CodecOrder = "client"
    bitrate_min: int = 150_000
    bitrate_start: int = 2_000_000
    bitrate_max: int = 50_000_000
    gop: int = 0
    x264_preset: str = "ultrafast"
    max_fps: int = 120
    encoder_threads: int = 0
    playout_delay_ms: int | None = 0
    congestion_control: CongestionControl = "transport-cc"
    degradation: DegradationPolicy = "latency"
    audio_fec: bool = True

    def __post_init__(self) -> None:
        if not self.codecs:
            raise MediaConfigError("codecs: allow at least one of H264, VP8")
        unknown = [c for c in self.codecs if c not in SUPPORTED_CODECS]
        if unknown:
            raise MediaConfigError(f"codecs: {', '.join(unknown)} not supported; use H264 and/or VP8")
        if len(set(self.codecs)) != len(self.codecs):
            raise MediaConfigError(f"codecs: {','.join(self.codecs)} names a codec twice")
        if self.codec_order not in ("client", "server"):
            raise MediaConfigError(f"codec_order: {self.codec_order!r} must be 'client' or 'server'")
        for name in ("bitrate_min", "bitrate_start", "bitrate_max"):
            value = getattr(self, name)
            if not _BITRATE_FLOOR <= value <= _BITRATE_CEILING:
                raise MediaConfigError(f"{name}: {value} bps is outside {_BITRATE_FLOOR}-{_BITRATE_CEILING} bps")
        if not self.bitrate_min <= self.bitrate_start <= self.bitrate_max:
            raise MediaConfigError(
                f"bitrates must satisfy min <= start <= max, got {self.bitrate_min} <= "
                f"{self.bitrate_start} <= {self.bitrate_max}"
            )
        if not 0 <= self.gop <= 100_000:
            raise MediaConfigError(f"gop: {self.gop} must be 0 (keyframes on request only) or a frame count")
        if self.x264_preset not in X264_PRESETS:
            raise MediaConfigError(f"x264_preset: {self.x264_preset!r} is not one of {', '.join(X264_PRESETS)}")
        if not 1 <= self.max_fps <= 240:
            raise MediaConfigError(f"max_fps: {self.max_fps} must be 1-240")
        if not 0 <= self.encoder_threads <= 64:
            raise MediaConfigError(f"encoder_threads: {self.encoder_threads} must be 0 (automatic) to 64")
        if self.playout_delay_ms is not None and not 0 <= self.playout_delay_ms <= PLAYOUT_DELAY_MAX_MS:
            raise MediaConfigError(
                f"playout_delay_ms: {self.playout_delay_ms} must be 0-{PLAYOUT_DELAY_MAX_MS} ms, or off"
            )

        if self.congestion_control not in CONGESTION_CONTROLS:
            raise MediaConfigError(
                f"congestion_control: {self.congestion_control!r} is not one of {', '.join(CONGESTION_CONTROLS)}"
            )
        if self.degradation not in POLICIES:
            raise MediaConfigError(f"degradation: {self.degradation!r} is not one of {', '.join(POLICIES)}")

    def clamp_bitrate(self, bitrate: int) -> int:
        """`bitrate` limited to [bitrate_min, bitrate_max]."""
        return max(self.bitrate_min, min(int(bitrate), self.bitrate_max))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MediaConfig:
        """Defaults overridden by every `MEDIA_*` variable that is set and not empty."""
        return cls().with_settings({s.field: (env[s.env], s.env) for s in MEDIA_SETTINGS if env.get(s.env, "")})

    def with_setting(self, field: str, text: str, *, source: str | None = None) -> MediaConfig:
        """A copy with one field parsed from text (an env var or a CLI flag named by `source`)."""
        setting = _setting(field)
        return self.with_settings({field: (text, source or setting.env)})

    def with_settings(self, texts: Mapping[str, tuple[str, str]]) -> MediaConfig:
        """A copy with several fields parsed from text, `{field: (text, source)}`, validated together."""
        values: dict[str, Any] = {}
        for field, (text, source) in texts.items():
            try:
                values[field] = _setting(field).parse(text)
            except ValueError as exc:
                raise MediaConfigError(f"{source}: {exc}") from None
        return self.with_values(values, {field: source for field, (_, source) in texts.items()})

    def with_values(self, values: Mapping[str, Any], sources: Mapping[str, str]) -> MediaConfig:
        """A copy with several fields, validated together, errors naming their `{field: source}`:
        `min <= start <= max` can only be judged on all three, whatever order they are given in."""
        try:
            return replace(self, **values)
        except MediaConfigError as exc:
            raise MediaConfigError(f"{_blame(str(exc), sources)}: {exc}") from None


def _setting(field: str) -> Setting:
    setting = next((s for s in MEDIA_SETTINGS if s.field == field), None)
    if setting is None:
        raise MediaConfigError(f"{field!r} is not a media setting")
    return setting


def _blame(message: str, sources: Mapping[str, str]) -> str:
    """The sources a validation message is about: its field's, the bitrates' for the bitrate rule."""
    for field, source in sources.items():
        if message.startswith(f"{field}:"):
            return source
    if message.startswith("bitrates"):
        named = [source for field, source in sources.items() if field.startswith("bitrate_")]
        if named:
            return ", ".join(named)
    return ", ".join(sources.values())


def parse_bitrate(text: str) -> int:
    """Bits per second from `8000000`, `8M`, `8m`, `2.5M` or `500k`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a bitrate (e.g. 8000000, 8M, 500k)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def _codecs(text: str) -> tuple[str, ...]:
    return tuple(item.upper() for item in parsers.text_list(text))


def _playout_delay(text: str) -> int | None:
    return None if text.strip().lower() == "off" else parsers.integer(text)


MEDIA_SETTINGS = with_defaults(
    (
        Setting("codecs", "MEDIA_CODECS", _codecs, "video codecs allowed, our preference first (H264,VP8)"),
        Setting("codec_order", "MEDIA_CODEC_ORDER", str, "whose codec order wins: client (browser's offer) or server"),
        Setting("bitrate_min", "MEDIA_BITRATE_MIN", parse_bitrate, "lowest video bitrate, bps (or 1M, 500k)"),
        Setting("bitrate_start", "MEDIA_BITRATE_START", parse_bitrate, "video bitrate before receiver feedback"),
        Setting("bitrate_max", "MEDIA_BITRATE_MAX", parse_bitrate, "highest video bitrate, bps"),
        Setting("gop", "MEDIA_GOP", parsers.integer, "frames between keyframes; 0 = only when the receiver asks"),
        Setting("x264_preset", "MEDIA_X264_PRESET", str, "libx264 preset (tune=zerolatency always)"),
        Setting("max_fps", "MEDIA_MAX_FPS", parsers.integer, "highest source frame rate accepted"),
        Setting(
            "encoder_threads", "MEDIA_ENCODER_THREADS", parsers.integer, "encoder threads per stream; 0 = automatic"
        ),
        Setting(
            "playout_delay_ms",
            "MEDIA_PLAYOUT_DELAY",
            _playout_delay,
            "most playout delay asked of the browser, ms (0 = show frames as soon as decoded; off = let it choose)",
        ),
        Setting(
            "congestion_control",
            "MEDIA_CONGESTION_CONTROL",
            str,
            "transport-cc (paced, send-side estimate; REMB when not offered) or legacy (aiortc's loop)",
        ),
        Setting(
            "degradation",
            "MEDIA_DEGRADATION",
            str,
            "what gives on a narrow link: latency (lower resolution first), resolution, framerate (kept) or off",
        ),
        Setting(
            "audio_fec",
            "MEDIA_AUDIO_FEC",
            parsers.on_off,
            "Opus in-band FEC following the link's loss: on or off",
            default_text="on",
        ),
    ),
    MediaConfig,
)
"""Every `MediaConfig` field as the outside world sets it; the stream app offers each as a flag too."""
