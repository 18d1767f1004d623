"""Where features of other branches plug into the suite: one place each, switched on after a merge.

Each seam says what the suite does today (on the skeleton) and what to change once the feature
is on main. The report prints `describe()` so a reader knows which numbers measured what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --- 1. Media (branch `media`): the stream app's codec setting -------------------------------
STREAM_APP_CODEC_ENV: Final[str | None] = None
"""Name of the stream app's environment variable that picks the codec (``h264``/``vp8``).

Today: None, so the stream app runs aiortc's stock encoders and the codec is chosen by the page
(`RTCRtpTransceiver.setCodecPreferences`, which aiortc's answer follows). After the media merge set
it to `MediaConfig`'s codec variable (e.g. ``"STREAM_APP_CODEC"``); the page keeps its preference
so both ends agree.
"""

STREAM_APP_EXTRA_ENV: Final[dict[str, str]] = {}
"""Further stream-app settings for every glass-to-glass run (bitrate, GOP, preset after the media merge)."""

# --- 2. Input (branch `session`): the app's input data channels ----------------------------
APP_INPUT_CHANNELS: Final = False
"""Whether the stream app has the `input`/`input-motion` channels of docs/protocol.md section 5.

Today: False, so the app-path input latency is reported as *pending* (the baseline server's own
`input` channel is still measured, labelled as such). After the session merge set True and set
`APP_INPUT_LOG_MARKER` to the log line the app writes per applied input message.
"""

APP_INPUT_LOG_MARKER: Final[str | None] = None
"""Text of the stream app's per-message log line carrying ``seq``, ``t`` and its receive time.

The benchmark runs the app with `APP_INPUT_LOG_ENV` and matches lines containing this marker with
the regex `benchmarks.input_latency.APP_LINE`; e.g. ``"input applied"`` for a line
``input applied type=key seq=12 t=1732512345678.123 recv=1732512345679.456`` (``recv`` = the
handler's ``time.time() * 1000`` when the message arrived).
"""

APP_INPUT_LOG_ENV: Final[dict[str, str]] = {"LOG_LEVEL": "DEBUG"}
"""Environment that makes the stream app write that line (its log level is ``LOG_LEVEL``)."""

# --- 3. Proxy (branch `proxy`): token algorithm and metrics ----------------------------------
PROXY_TOKEN_MODE: Final[str] = "hs256"
"""``"hs256"``: the skeleton proxy's shared-secret tokens. ``"rs256-jwks"`` after the proxy merge:
the suite then serves a JWKS on loopback and mints RS256 tokens (see `benchmarks.tokens`)."""

PROXY_JWKS_URL_ENV: Final = "PROXY_JWKS_URL"
"""The proxy's setting naming its JWKS URL (used only in ``rs256-jwks`` mode)."""

PROXY_METRICS_PATH: Final[str | None] = None
"""Path of the proxy's Prometheus metrics (e.g. ``"/metrics"``) once it has them. With it, the
time-to-first-frame breakdown reads the proxy's token-check histogram; without it, the token
check is timed in-process (`proxy.tokens.validate_token`) and reported as such."""

PROXY_TOKEN_CHECK_METRIC: Final = "proxy_token_check_seconds"


@dataclass(frozen=True)
class SeamState:
    """One line of the report's "what was measured" table."""

    name: str
    state: str


def describe() -> list[SeamState]:
    """Which features the numbers of this run include."""
    return [
        SeamState(
            "stream app codec setting",
            f"env {STREAM_APP_CODEC_ENV}"
            if STREAM_APP_CODEC_ENV
            else "not merged: aiortc's stock encoders, codec picked by the page",
        ),
        SeamState(
            "app input channels",
            "merged: app handler timestamps from its log"
            if APP_INPUT_CHANNELS
            else "not merged: app input latency pending",
        ),
        SeamState(
            "proxy tokens",
            "RS256 via JWKS" if PROXY_TOKEN_MODE == "rs256-jwks" else "HS256 shared secret (JWKS not merged)",
        ),
        SeamState(
            "proxy metrics",
            f"token check from {PROXY_METRICS_PATH}"
            if PROXY_METRICS_PATH
            else "not merged: token check timed in-process",
        ),
    ]
