"""Is a stream app running with this configuration? Asks its control server and its sign-in path.

Read-only on purpose: the sign-in path is asked with a plain GET, never upgraded to a WebSocket,
because a WebSocket there signs in, which would start a session (or take over one waiting to be
resumed). aiohttp answers a plain GET on a WebSocket route with 400, and 404 where there is none.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import aiohttp

from stream_app.config import StreamAppConfig
from stream_app.doctor.findings import Finding, fail, ok, warn

CHECK = "servers"


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP status and the start of the body."""

    status: int
    body: str


@dataclass(frozen=True)
class NoServer:
    """No HTTP answer: connection refused, timed out, or not HTTP."""

    reason: str


Answer = HttpAnswer | NoServer


@dataclass(frozen=True)
class ServersProbe:
    """What the running stream app (if any) answered."""

    host: str
    startup: Answer
    ready: Answer
    sign_in: Answer


def local_address(host: str) -> str:
    """Where to reach servers that listen on `host` from this machine."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return str(address)


def _url(host: str, port: int, path: str) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


async def _get(session: aiohttp.ClientSession, url: str) -> Answer:
    try:
        async with session.get(url, allow_redirects=False) as response:
            return HttpAnswer(response.status, (await response.text(errors="replace"))[:200])
    except (aiohttp.ClientError, TimeoutError) as exc:
        return NoServer(str(exc) or type(exc).__name__)


async def probe_servers(config: StreamAppConfig, timeout: float) -> ServersProbe:
    """GET /v1/streaming/startup and /ready on the control server, and the sign-in path."""
    host = local_address(config.host)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        return ServersProbe(
            host=host,
            startup=await _get(session, _url(host, config.control_port, "/v1/streaming/startup")),
            ready=await _get(session, _url(host, config.control_port, "/v1/streaming/ready")),
            sign_in=await _get(session, _url(host, config.streaming_port, config.start_endpoint)),
        )


def judge_servers(probe: ServersProbe, config: StreamAppConfig) -> list[Finding]:
    """Findings about the running stream app, or that none runs."""
    control = f"{probe.host}:{config.control_port}"
    sign_in = f"ws://{probe.host}:{config.streaming_port}{config.start_endpoint}"
    if isinstance(probe.startup, NoServer) and isinstance(probe.sign_in, NoServer):
        return [
            warn(
                CHECK,
                f"no stream app answers on {control} (control) or {sign_in} (sign-in): {probe.startup.reason}.",
                "start stream-app with the same settings to have them checked; in a container that will not "
                "become healthy, its log says why it did not start.",
            )
        ]
    findings: list[Finding] = []
    findings.append(_judge_control(probe, control))
    findings.append(_judge_sign_in(probe.sign_in, sign_in, config))
    return findings


def _judge_control(probe: ServersProbe, control: str) -> Finding:
    startup, ready = probe.startup, probe.ready
    if isinstance(startup, NoServer) or isinstance(ready, NoServer):
        reason = startup.reason if isinstance(startup, NoServer) else getattr(ready, "reason", "")
        return fail(
            CHECK,
            f"the sign-in path answers but the control server on {control} does not ({reason}): NVCF's health "
            "check fails and the function stays DEPLOYING.",
            "check CONTROL_SERVER_PORT against the function's health.port and the app's log.",
        )
    if startup.status == 404 or ready.status == 404:
        return fail(
            CHECK,
            f"something answers on {control}, but not as a stream app's control server (404 for /v1/streaming/...).",
            "another process holds CONTROL_SERVER_PORT; stop it or choose another port (and health.port).",
        )
    if startup.status == 503:
        return warn(
            CHECK,
            f"the control server on {control} says the stream app is still starting.",
            "wait, then run doctor again.",
        )
    if ready.status == 200:
        return ok(CHECK, f"control server on {control}: started and ready for a session (/v1/streaming/ready 200).")
    if ready.status == 500:
        return ok(
            CHECK,
            f"control server on {control}: started, busy with a session (/v1/streaming/ready 500: {ready.body}).",
        )
    return fail(
        CHECK,
        f"control server on {control} answered /v1/streaming/ready with {ready.status}: {ready.body}",
        "NVCF expects 200 (ready) or 500 (busy); check the app's log.",
    )


def _judge_sign_in(answer: Answer, sign_in: str, config: StreamAppConfig) -> Finding:
    if isinstance(answer, NoServer):
        return fail(
            CHECK,
            f"the control server answers but nothing listens for the sign-in at {sign_in} ({answer.reason}).",
            "check STREAMING_SERVER_PORT against the function's inferencePort and the app's log.",
        )
    if answer.status == 404:
        return fail(
            CHECK,
            f"the streaming server has nothing at {config.start_endpoint} (404): the running app uses another "
            "STREAMING_START_ENDPOINT than this configuration.",
            "run doctor with the app's own settings, and make STREAMING_START_ENDPOINT equal the function's "
            "inferenceUrl.",
        )
    if answer.status == 400 and "websocket" in answer.body.lower():
        return ok(
            CHECK,
            f"the sign-in WebSocket answers at {sign_in} (checked without signing in, which would start a session).",
        )
    return fail(
        CHECK,
        f"{sign_in} answered a plain GET with {answer.status}, not as a WebSocket endpoint: {answer.body}",
        "another process may hold STREAMING_SERVER_PORT; check the app's log.",
    )
