"""How tests and benchmarks launch Firefox ESR (Debian's `firefox-esr`) on this machine: headless, a
fresh profile whose preferences keep WebRTC on loopback and every other kind of traffic off the
network, driven over WebDriver BiDi (`benchmarks.bidi`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from benchmarks.bidi import BidiSession, open_session
from deploy.children import with_death_signal

EXECUTABLE: Final = "/usr/bin/firefox-esr"

DEAD_END: Final = "127.0.0.1:9"
"""Where any background request Firefox still makes goes: loopback's discard port, nothing listens."""

PREFS: Final[Mapping[str, bool | int | str]] = {
    # WebRTC: loopback candidates (Firefox leaves them out by default) with real addresses, not
    # mDNS names; no permission prompt.
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    # OpenH264 is a plugin Firefox would download: never. Firefox then offers VP8 (and VP9) only.
    "media.gmp-manager.url": "",
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-gmpopenh264.enabled": False,
    "media.gmp-provider.enabled": False,
    # Every HTTP(S) request to anything but loopback goes to a proxy that is not there (loopback
    # itself is never proxied: network.proxy.allow_hijacking_localhost is false by default), and so
    # no DNS lookups for them either.
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    # Background services that phone home.
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "services.settings.server": f"http://{DEAD_END}/remote-settings/v1",
    "messaging-system.rsexperimentloader.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.search.update": False,
    "browser.region.network.url": "",
    "browser.newtabpage.enabled": False,
    "browser.topsites.contile.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "geo.provider.network.url": "",
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage_override.mstone": "ignore",
    # Focus and key events as in a focused window, though headless.
    "focusmanager.testmode": True,
}
"""Firefox 153 ESR preferences for a test profile; every name exists in that version (greprefs.js,
browser/defaults/preferences/firefox.js or libxul's static list). Firefox's remote agent adds its
own recommended ones (remote.prefs.recommended) once WebDriver BiDi starts."""

SYSTEM_ACCESS: Final = "--remote-allow-system-access"
"""The argument that lets WebDriver BiDi run scripts in the browser window itself
(`BidiSession.chrome_window`), e.g. to type through Firefox's own TextInputProcessor."""

LISTENING = re.compile(rb"WebDriver BiDi listening on (ws://[\d.]+:\d+)")


def user_js(prefs: Mapping[str, bool | int | str]) -> str:
    """`prefs` as a profile's user.js."""
    return "".join(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n" for name, value in prefs.items())


@asynccontextmanager
async def firefox(
    executable: str = EXECUTABLE,
    prefs: Mapping[str, bool | int | str] | None = None,
    timeout_s: float = 30.0,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[BidiSession]:
    """A headless Firefox with a fresh profile, and a WebDriver BiDi session on it.

    `prefs` are added to (and override) PREFS; `args` are more command-line arguments (e.g.
    `SYSTEM_ACCESS`), `env` more environment variables.
    """
    profile = Path(tempfile.mkdtemp(prefix="firefox-profile-"))
    (profile / "user.js").write_text(user_js({**PREFS, **(prefs or {})}), encoding="utf-8")
    # Tied to this process by a death signal: a test run killed mid-way leaves no Firefox behind.
    process = await asyncio.create_subprocess_exec(
        *with_death_signal(
            [
                executable,
                "--headless",
                "--no-remote",
                "--profile",
                str(profile),
                "--remote-debugging-port",
                "0",
                *args,
                "about:blank",
            ]
        ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stderr is not None
    output = b""
    session: BidiSession | None = None
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(timeout_s):
            while (match := LISTENING.search(output)) is None:
                line = await process.stderr.readline()
                if not line:
                    raise RuntimeError(f"Firefox exited before offering WebDriver BiDi: {output.decode()[-2000:]}")
                output += line
        # Firefox keeps writing to stderr; a full pipe would stall it.
        drain = asyncio.get_running_loop().create_task(_drain(process.stderr))
        session = await open_session(match.group(1).decode())
        session.browser_pid = process.pid
        yield session
    finally:
        if session is not None:
            await session.close()
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            drain.cancel()
        shutil.rmtree(profile, ignore_errors=True)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass
