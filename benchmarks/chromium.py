"""How tests, benchmarks and stress runs launch Chromium on this machine: Debian's binary and
the flags that keep WebRTC on loopback and every other kind of traffic off the network."""

from __future__ import annotations

from typing import Final

EXECUTABLE: Final = "/usr/bin/chromium"

LOOPBACK_ICE: Final = "--allow-loopback-in-peer-connection"
"""WebRTC on loopback only: Chromium leaves 127.0.0.1 out of ICE unless told otherwise."""

LOCAL_ARGS: Final = (
    LOOPBACK_ICE,
    # Real host candidates instead of mDNS names, so ICE needs no multicast.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    # No traffic beyond this machine: no background services, update checks or QUIC probes.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-sandbox",
    "--disable-gpu",
)

UNTHROTTLED_ARGS: Final = (
    # A hidden or occluded headless tab must not throttle requestVideoFrameCallback and timers.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)
