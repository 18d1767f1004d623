"""Where features of other branches plug into the suite: one place each, switched on after a merge.

Each seam says what the suite does today (on the skeleton) and what to change once the feature
is on main. The report prints `describe()` so a reader knows which numbers measured what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --- 1. Media (merged): the stream app's codec and encoder settings --------------------------
STREAM_APP_CODEC_ENV: Final[str | None] = "MEDIA_CODECS"
"""The stream app's setting that allows codecs (`stream_app.media.config.MEDIA_SETTINGS`).

Each glass-to-glass configuration runs its own stack with exactly one codec allowed (``H264`` or
``VP8``), and the page asks for the same one (`PAGE_CODEC_PARAM`), so both ends agree and a
failed negotiation shows up as an error rather than as the other codec's numbers.
"""

PAGE_CODEC_PARAM: Final = "codec"
"""The web client's URL-fragment option picking the codec it offers first (docs/web-client.md
"Video codec"; it calls `setCodecPreferences` itself, after the bench instrument's own preference)."""


def codec_fragment(codec: str) -> dict[str, str]:
    """URL-fragment items that make the page offer `codec` first: the web client's own option, and
    the bench instrument's (which the web client's `setCodecPreferences` call would override)."""
    return {"bench_codec": codec, PAGE_CODEC_PARAM: codec}


STREAM_APP_EXTRA_ENV: Final[dict[str, str]] = {
    # Chromium's REMB estimate falls on the easy test pattern (it sends little, so the estimate
    # ratchets down) and would end near the 1 Mbps default floor; 4 Mbps keeps 720p60 and 1080p
    # pictures sharp without hiding congestion (the start and ceiling are the defaults).
    "MEDIA_BITRATE_MIN": "4M",
    "MEDIA_BITRATE_START": "8M",
    "MEDIA_BITRATE_MAX": "50M",
    "MEDIA_GOP": "0",
    "MEDIA_X264_PRESET": "ultrafast",
    "MEDIA_CODEC_ORDER": "client",
}
"""Stream-app media settings for every run through the full chain (docs/media.md)."""

NETWORK_APP_ENV: Final[dict[str, str]] = {"MEDIA_BITRATE_MIN": "150k", "MEDIA_BITRATE_START": "2M"}
"""What the network benchmark changes on top of `STREAM_APP_EXTRA_ENV`: the product's own bitrate
floor and start (`MediaConfig`'s defaults) instead of the loopback runs' 4M and 8M, so a narrow
link is met as a user would meet it. Congestion control and degradation are the defaults."""

# --- 2. Input (merged): the app's input data channels ----------------------------
APP_INPUT_CHANNELS: Final = True
"""Whether the stream app has the `input`/`input-motion` channels of docs/protocol.md section 5.

Today: False, so the app-path input latency is reported as *pending* (the baseline server's own
`input` channel is still measured, labelled as such). After the session merge set True and set
`APP_INPUT_LOG_MARKER` to the log line the app writes per applied input message.
"""

APP_INPUT_LOG_MARKER: Final[str | None] = "input applied"
"""Text of the stream app's per-message log line carrying ``seq``, ``t`` and its receive time.

The benchmark runs the app with `APP_INPUT_LOG_ENV` and matches lines containing this marker with
the regex `benchmarks.input_latency.APP_LINE`; e.g. ``"input applied"`` for a line
``input applied type=key seq=12 t=1732512345678.123 recv=1732512345679.456`` (``recv`` = the
handler's ``time.time() * 1000`` when the message arrived).
"""

APP_INPUT_LOG_ENV: Final[dict[str, str]] = {"LOG_LEVELS": "stream_app.input_receiver=DEBUG"}
"""Environment that makes the stream app write that line: DEBUG for the input receiver's logger only
(``LOG_LEVEL=DEBUG`` would also make aiortc log every RTP packet, slowing the app being measured)."""

# --- 3. Proxy (merged): token algorithm and metrics ----------------------------------
PROXY_TOKEN_MODE: Final[str] = "rs256-jwks"
"""``"hs256"``: the skeleton proxy's shared-secret tokens. ``"rs256-jwks"`` after the proxy merge:
the suite then serves a JWKS on loopback and mints RS256 tokens (see `benchmarks.tokens`)."""

PROXY_JWKS_URL_ENV: Final = "PROXY_JWKS_URL"
"""The proxy's setting naming its JWKS URL (used only in ``rs256-jwks`` mode)."""

PROXY_METRICS_PATH: Final[str | None] = "/metrics"
"""Path of the proxy's Prometheus metrics (`proxy/metrics.py`, docs/proxy.md)."""

PROXY_TOKEN_CHECK_METRIC: Final[str | None] = None
"""The proxy's token-check histogram: it has none (its metrics are sessions, handshakes by outcome,
bytes, messages, upstream connect time and JWKS fetches), so the token check is timed in-process
(`proxy_overhead.token_check_in_process`). Name it here if the proxy ever exports one."""

PROXY_UPSTREAM_CONNECT_METRIC: Final = "proxy_upstream_connect_seconds"
"""The proxy's histogram of opening its upstream WebSocket: the part of the page's
"token check + upstream connect" phase spent reaching nvcf-local and the stream app."""

PROXY_ENV: Final[dict[str, str]] = {
    # The handshake benchmarks open thousands of sessions from one address and one user a
    # minute; the default limits (120 per address, 30 per user, a minute) would answer 429 and
    # the numbers would measure refusals. 0 = no limit. Sessions per user are unlimited by default.
    "PROXY_RATE_PER_ADDRESS": "0",
    "PROXY_RATE_PER_USER": "0",
    "PROXY_MAX_SESSIONS_PER_USER": "0",
}
"""Settings of every proxy the suite starts. The Origin check stays on: pages are served by the
proxy itself (its own origin) and the Python clients send no Origin, which the proxy allows."""


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
            f"one codec per stack via {STREAM_APP_CODEC_ENV}, page #{PAGE_CODEC_PARAM}=<codec>; "
            + " ".join(f"{k}={v}" for k, v in STREAM_APP_EXTRA_ENV.items())
            if STREAM_APP_CODEC_ENV
            else "not merged: aiortc's stock encoders, codec picked by the page",
        ),
        SeamState(
            "network benchmark app settings",
            "on top of the above: " + " ".join(f"{k}={v}" for k, v in NETWORK_APP_ENV.items()),
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
            f"token check from {PROXY_TOKEN_CHECK_METRIC} at {PROXY_METRICS_PATH}"
            if PROXY_METRICS_PATH and PROXY_TOKEN_CHECK_METRIC
            else f"{PROXY_METRICS_PATH} has no token-check histogram: token check timed in-process; "
            f"upstream connect from {PROXY_UPSTREAM_CONNECT_METRIC}"
            if PROXY_METRICS_PATH
            else "not merged: token check timed in-process",
        ),
    ]
