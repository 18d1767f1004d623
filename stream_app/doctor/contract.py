"""The stream app's configuration held against NVCF's streaming (LLS) contract. Pure: no I/O.

Outside a container a breach of the contract is a warning (it works here, NVCF would not take
it); in a container (``/.dockerenv``, Kubernetes or NVCF's variables) it is a failure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stream_app.config import StreamAppConfig
from stream_app.doctor.findings import Finding, fail, ok, warn
from stream_app.ports import PortRange

NVCF_PORT_RANGE = PortRange(47998, 48020)
# NVCF monitors the container on these (its function creation page).
NVCF_RESERVED_PORTS = (8080, 8010)
NVCF_START_ENDPOINT = "/sign_in"
# What NVCF adds to a streaming function's container environment.
NVCF_ENV = ("NVCF_FUNCTION_ID", "NVCF_FUNCTION_VERSION_ID", "NVCF_NCA_ID", "NVCF_REGION")

CHECK = "config"


@dataclass(frozen=True)
class Facts:
    """What the contract checks need beyond the config: where we run and what the app uses.

    `host_addresses` are the addresses ICE gathers host candidates on when `ICE_HOST_ADDRESSES`
    is empty (every non-loopback address of the machine); `nvenc` says the app encodes with NVENC.
    """

    env: Mapping[str, str]
    in_container: bool
    host_addresses: tuple[str, ...]
    nvenc: bool = False


def ports_needed(config: StreamAppConfig, facts: Facts) -> tuple[int, str]:
    """UDP ports one session binds, and how that number is made up.

    Media is bundled on one ICE transport: one port per host address, plus one for the TURN
    client; relay only binds the TURN client alone.
    """
    if config.relay_only:
        return 1, "relay only: the TURN client socket"
    hosts = len(config.ice_addresses or facts.host_addresses)
    return hosts + 1, f"{hosts} host address{'es' if hosts != 1 else ''} + 1 TURN client socket"


def check_config(config: StreamAppConfig, facts: Facts) -> list[Finding]:
    """Every contract finding for `config`, the good ones too."""
    breach: Callable[[str, str, str], Finding] = fail if facts.in_container else warn
    nvcf_note = "" if facts.in_container else " (fine outside NVCF; NVCF would break)"
    findings: list[Finding] = []

    if config.control_port == config.streaming_port and config.control_port != 0:
        findings.append(
            fail(
                CHECK,
                f"CONTROL_SERVER_PORT and STREAMING_SERVER_PORT are both {config.control_port}: "
                "the second server cannot listen.",
                "give them different ports (defaults: 8011 and 49100), the same as the function's "
                "health.port and inferencePort.",
            )
        )
    for name, port in (("CONTROL_SERVER_PORT", config.control_port), ("STREAMING_SERVER_PORT", config.streaming_port)):
        if port in NVCF_RESERVED_PORTS:
            findings.append(
                breach(
                    CHECK,
                    f"{name} is {port}, which NVCF reserves for its monitoring inside the container{nvcf_note}.",
                    f"use another port (not {' or '.join(map(str, NVCF_RESERVED_PORTS))}) and set the "
                    "function definition to match.",
                )
            )
        elif port == 0:
            findings.append(
                breach(
                    CHECK,
                    f"{name} is 0 (a port the OS picks): NVCF connects to the port the function "
                    f"definition names{nvcf_note}.",
                    f"set {name} to the function's {'health.port' if name.startswith('CONTROL') else 'inferencePort'}.",
                )
            )
    if not findings:
        findings.append(
            ok(
                CHECK,
                f"control server port {config.control_port}, streaming server port {config.streaming_port}: "
                "distinct and not reserved by NVCF.",
            )
        )

    if config.start_endpoint == NVCF_START_ENDPOINT:
        findings.append(ok(CHECK, f"STREAMING_START_ENDPOINT is {NVCF_START_ENDPOINT}, NVCF's sign-in path."))
    else:
        findings.append(
            warn(
                CHECK,
                f"STREAMING_START_ENDPOINT is {config.start_endpoint!r}, not {NVCF_START_ENDPOINT!r}: NVCF's "
                "relay opens the function's inferenceUrl, and a sign-in anywhere else gets 404.",
                f"make the function's inferenceUrl {config.start_endpoint!r}, or set STREAMING_START_ENDPOINT="
                f"{NVCF_START_ENDPOINT} (what NVCF streaming functions use).",
            )
        )

    findings += _port_range_findings(config, facts, breach, nvcf_note)
    findings += _container_findings(config, facts)
    findings += _nvenc_findings(facts)
    return findings


def _port_range_findings(
    config: StreamAppConfig, facts: Facts, breach: Callable[[str, str, str], Finding], nvcf_note: str
) -> list[Finding]:
    findings: list[Finding] = []
    port_range = config.port_range
    if port_range.first < NVCF_PORT_RANGE.first or port_range.last > NVCF_PORT_RANGE.last:
        findings.append(
            breach(
                CHECK,
                f"STREAMING_PORT_BINDING_RANGE {port_range} reaches outside {NVCF_PORT_RANGE}, the only UDP "
                f"ports NVCF forwards to the container{nvcf_note}.",
                f"set STREAMING_PORT_BINDING_RANGE to {NVCF_PORT_RANGE} (or a part of it).",
            )
        )
    needed, parts = ports_needed(config, facts)
    if len(port_range) < needed:
        findings.append(
            fail(
                CHECK,
                f"STREAMING_PORT_BINDING_RANGE {port_range} has {len(port_range)} port(s); a session needs "
                f"{needed} ({parts}), so sign-ins end with 'no free media port' (close 1013).",
                f"widen the range (up to {NVCF_PORT_RANGE}), or gather on fewer addresses with ICE_HOST_ADDRESSES.",
            )
        )
    elif not findings:
        findings.append(
            ok(
                CHECK,
                f"STREAMING_PORT_BINDING_RANGE {port_range}: inside NVCF's {NVCF_PORT_RANGE}, "
                f"{len(port_range)} ports for the {needed} a session needs ({parts}).",
            )
        )
    return findings


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address == "localhost"


def _container_findings(config: StreamAppConfig, facts: Facts) -> list[Finding]:
    if not facts.in_container:
        return [ok(CHECK, "not in a container: the NVCF environment checks do not apply.")]
    findings: list[Finding] = []
    present = [name for name in NVCF_ENV if facts.env.get(name)]
    missing = [name for name in NVCF_ENV if not facts.env.get(name)]
    if not present:
        findings.append(
            warn(
                CHECK,
                f"in a container, but none of {', '.join(NVCF_ENV)} is set: not started by NVCF.",
                "nothing to do for a local docker run; on NVCF these are always set, so check the "
                "container really runs as the streaming function.",
            )
        )
    elif missing:
        findings.append(
            warn(
                CHECK,
                f"NVCF's variables are incomplete: {', '.join(missing)} unset.",
                "do not set NVCF_* variables yourself in containerEnvironment; NVCF sets them all.",
            )
        )
    else:
        findings.append(
            ok(
                CHECK,
                f"NVCF function {facts.env['NVCF_FUNCTION_ID']} version {facts.env['NVCF_FUNCTION_VERSION_ID']} "
                f"in region {facts.env['NVCF_REGION']}.",
            )
        )
    if _is_loopback(config.host):
        findings.append(
            fail(
                CHECK,
                f"STREAM_APP_HOST is {config.host}: in a container nothing outside it (NVCF's health check, "
                "its relay) can reach a loopback address.",
                "set STREAM_APP_HOST=0.0.0.0 (the default).",
            )
        )
    loopback_ice = [a for a in config.ice_addresses if _is_loopback(a)]
    if loopback_ice:
        findings.append(
            warn(
                CHECK,
                f"ICE_HOST_ADDRESSES has loopback {', '.join(loopback_ice)}: no client outside the container "
                "can reach a candidate there.",
                "leave ICE_HOST_ADDRESSES empty (every non-loopback address) or name the container's own address.",
            )
        )
    if not config.exit_after_session:
        findings.append(
            warn(
                CHECK,
                "STREAM_APP_EXIT_AFTER_SESSION is off in a container: the next session runs in a container "
                "another user has used.",
                "leave it on (the default in a container), so NVCF starts a fresh container per session.",
            )
        )
    return findings


def _nvenc_findings(facts: Facts) -> list[Finding]:
    capabilities = {c.strip() for c in facts.env.get("NVIDIA_DRIVER_CAPABILITIES", "").split(",") if c.strip()}
    has_video = bool(capabilities & {"video", "all"})
    gpu_container = bool(facts.env.get("NVIDIA_VISIBLE_DEVICES"))
    if has_video or not (facts.nvenc or gpu_container):
        return []
    shown = ",".join(sorted(capabilities)) or "unset (the toolkit's default is compute,utility)"
    what = (
        f"NVIDIA_DRIVER_CAPABILITIES is {shown}, without 'video': the NVIDIA container toolkit does not "
        "mount the NVENC library, so a hardware encoder cannot open."
    )
    fix = "set NVIDIA_DRIVER_CAPABILITIES=compute,utility,video in the image (deploy/container/Dockerfile does)."
    return [fail(CHECK, what, fix) if facts.nvenc else warn(CHECK, what, fix)]
