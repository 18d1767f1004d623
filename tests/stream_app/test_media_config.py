"""MediaConfig: defaults, validation with reasons, and the MEDIA_* environment variables."""

from dataclasses import fields

import pytest

from stream_app.media import MEDIA_SETTINGS, MediaConfig, MediaConfigError
from stream_app.media.config import parse_bitrate


def test_defaults_are_tuned_for_interactive_streaming() -> None:
    config = MediaConfig()
    assert config.codecs == ("H264", "VP8")
    assert config.bitrate_min <= config.bitrate_start <= config.bitrate_max
    assert config.bitrate_max >= 50_000_000
    assert config.x264_preset == "ultrafast" and config.max_fps == 120 and config.gop == 0


def test_every_field_has_an_env_var() -> None:
    assert {s.field for s in MEDIA_SETTINGS} == {f.name for f in fields(MediaConfig)}
    assert all(s.env.startswith("MEDIA_") for s in MEDIA_SETTINGS)


def test_from_env_reads_every_setting() -> None:
    config = MediaConfig.from_env(
        {
            "MEDIA_CODECS": "vp8, h264",
            "MEDIA_CODEC_ORDER": "server",
            "MEDIA_BITRATE_MIN": "500k",
            "MEDIA_BITRATE_START": "2.5M",
            "MEDIA_BITRATE_MAX": "60000000",
            "MEDIA_GOP": "120",
            "MEDIA_X264_PRESET": "superfast",
            "MEDIA_MAX_FPS": "90",
            "MEDIA_ENCODER_THREADS": "3",
            "UNRELATED": "x",
        }
    )
    assert config == MediaConfig(
        codecs=("VP8", "H264"),
        codec_order="server",
        bitrate_min=500_000,
        bitrate_start=2_500_000,
        bitrate_max=60_000_000,
        gop=120,
        x264_preset="superfast",
        max_fps=90,
        encoder_threads=3,
    )


def test_empty_env_vars_keep_defaults() -> None:
    assert MediaConfig.from_env({"MEDIA_CODECS": "", "MEDIA_GOP": ""}) == MediaConfig()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDIA_CODECS": "AV1"}, r"MEDIA_CODECS: codecs: AV1 not supported"),
        ({"MEDIA_CODECS": "H264,H264"}, "names a codec twice"),
        ({"MEDIA_CODECS": ","}, "at least one"),
        ({"MEDIA_BITRATE_START": "fast"}, r"MEDIA_BITRATE_START: 'fast' is not a bitrate"),
        ({"MEDIA_BITRATE_MIN": "20M"}, "min <= start <= max"),
        ({"MEDIA_BITRATE_MAX": "1G"}, "not a bitrate"),
        ({"MEDIA_BITRATE_MAX": "900M"}, "outside"),
        ({"MEDIA_GOP": "-1"}, "gop: -1"),
        ({"MEDIA_GOP": "1.5"}, "not a whole number"),
        ({"MEDIA_X264_PRESET": "placebo"}, "x264_preset: 'placebo' is not one of"),
        ({"MEDIA_MAX_FPS": "0"}, "max_fps: 0 must be 1-240"),
        ({"MEDIA_CODEC_ORDER": "random"}, "codec_order"),
        ({"MEDIA_ENCODER_THREADS": "-1"}, "encoder_threads: -1"),
    ],
)
def test_bad_values_are_refused_with_the_variable_and_the_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(MediaConfigError, match=message):
        MediaConfig.from_env(env)


def test_with_setting_names_the_flag_in_errors() -> None:
    with pytest.raises(MediaConfigError, match="--media-gop: gop: -5"):
        MediaConfig().with_setting("gop", "-5", source="--media-gop")
    assert MediaConfig().with_setting("bitrate_max", "80M").bitrate_max == 80_000_000


def test_clamp_bitrate_keeps_the_configured_range() -> None:
    config = MediaConfig(bitrate_min=1_000_000, bitrate_start=2_000_000, bitrate_max=20_000_000)
    assert config.clamp_bitrate(10) == 1_000_000
    assert config.clamp_bitrate(5_000_000) == 5_000_000
    assert config.clamp_bitrate(10**9) == 20_000_000


@pytest.mark.parametrize(
    ("text", "bps"), [("8000000", 8_000_000), ("8M", 8_000_000), ("500k", 500_000), ("2.5m", 2_500_000)]
)
def test_parse_bitrate(text: str, bps: int) -> None:
    assert parse_bitrate(text) == bps


def test_bitrates_are_judged_together_whatever_order_they_come_in() -> None:
    # The default start (2M) is below this floor: the pair is valid, one alone would not be.
    config = MediaConfig.from_env({"MEDIA_BITRATE_MIN": "4M", "MEDIA_BITRATE_START": "8M"})
    assert (config.bitrate_min, config.bitrate_start) == (4_000_000, 8_000_000)
    with pytest.raises(MediaConfigError, match=r"^MEDIA_BITRATE_MIN: bitrates must satisfy min <= start"):
        MediaConfig.from_env({"MEDIA_BITRATE_MIN": "4M"})
