"""`stream-app doctor`: run every check, print one line per finding (or JSON), exit 1 if one failed."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioice.ice import get_host_addresses

from observability import configure_logging
from settings import SettingsError, secret_values
from stream_app.config import ConfigError, StreamAppConfig, in_container
from stream_app.creds import CredsError, parse_creds
from stream_app.doctor.config import SETTINGS, DoctorConfig, load_doctor_config
from stream_app.doctor.contract import Facts, check_config, ports_needed
from stream_app.doctor.findings import Finding, exit_status, fail, ok, render_json, render_text
from stream_app.doctor.relay import judge_stun, judge_turn, not_checked, stun_binding, turn_allocate
from stream_app.doctor.servers import judge_servers, probe_servers
from stream_app.doctor.udp_range import judge_range, probe_range, wildcard_addresses
from stream_app.media.encoders import h264_nvenc_available

PIECE = "stream-app-doctor"
"""The piece doctor's log lines name."""


@dataclass(frozen=True)
class RelayTarget:
    """The STUN/TURN server to probe, with credentials when both were given."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


class RelayTargetError(ValueError):
    """Credentials given to doctor that cannot be used; the message says which and why."""


def relay_target(config: DoctorConfig, stdin_text: str | None = None) -> RelayTarget | None:
    """The server and credentials from the creds file, then the settings one by one; None if none given."""
    body: dict[str, Any] = {}
    if config.creds:
        try:
            text = (stdin_text if stdin_text is not None else sys.stdin.read()) if config.creds == "-" else None
            text = text if text is not None else Path(config.creds).read_text(encoding="utf-8")
            loaded = json.loads(text)
        except OSError as exc:
            raise RelayTargetError(f"--creds {config.creds}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise RelayTargetError(f"--creds {config.creds}: not JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise RelayTargetError(f"--creds {config.creds}: must hold a JSON object like the /v1/streaming/creds body")
        body.update(loaded)
    for field, value in (
        ("stunIp", config.stun_ip),
        ("stunPort", config.stun_port),
        ("username", config.username),
        ("password", config.turn_password),
    ):
        if value is not None and value != "":
            body[field] = value
    if not body:
        return None
    if config.username and "password" not in body:
        raise RelayTargetError(
            f"--username {config.username} but no password: set DOCTOR_TURN_PASSWORD (never a flag: "
            "a command line is visible to every local user) or give --creds"
        )
    has_credentials = "username" in body or "password" in body
    # parse_creds checks a whole creds body; without credentials only the address is checked.
    checked = body if has_credentials else {**body, "username": "-", "password": "-"}
    try:
        creds = parse_creds(checked)
    except CredsError as exc:
        raise RelayTargetError(f"STUN/TURN server given to doctor: {exc}") from None
    if not has_credentials:
        return RelayTarget(creds.stun_ip, creds.stun_port)
    return RelayTarget(creds.stun_ip, creds.stun_port, creds.username, creds.password)


async def _relay_findings(target: RelayTarget, config: StreamAppConfig, timeout: float) -> list[Finding]:
    server = f"{target.host}:{target.port}"
    if target.username is None or target.password is None:
        stun = await stun_binding(target.host, target.port, config.port_range, timeout)
        return [judge_stun(server, stun), not_checked(config.relay_only, has_server=True)]
    stun, allocation = await asyncio.gather(
        stun_binding(target.host, target.port, config.port_range, timeout),
        turn_allocate(target.host, target.port, target.username, target.password, config.port_range, timeout),
    )
    return [judge_stun(server, stun), judge_turn(server, target.username, allocation, config.relay_only)]


def _nvenc_finding() -> Finding:
    works, reason = h264_nvenc_available()
    if works:
        return ok("nvenc", "an h264_nvenc encoder opens here.")
    return fail(
        "nvenc",
        f"NVENC is not usable: {reason}.",
        "run on an NVIDIA GPU with NVENC, with NVIDIA_DRIVER_CAPABILITIES including video; "
        "or let the stream app encode in software (no --nvenc).",
    )


async def examine(
    config: DoctorConfig, app: StreamAppConfig | ConfigError, env: Mapping[str, str], dockerenv: Path
) -> list[Finding]:
    """Every finding about the stream app `app` (or why its settings do not load), in the order a
    reader should fix them."""
    if isinstance(app, ConfigError):
        return [fail("config", f"{app}.", "correct that setting (stream-app --help lists them all).")]
    facts = Facts(
        env=env,
        in_container=in_container(env, dockerenv),
        host_addresses=tuple(get_host_addresses(use_ipv4=True, use_ipv6=True)),
        nvenc=config.nvenc,
    )
    findings = check_config(app, facts)
    if config.nvenc:
        findings.append(await asyncio.to_thread(_nvenc_finding))
    needed, _ = ports_needed(app, facts)
    for address in wildcard_addresses(app.ice_addresses or facts.host_addresses):
        findings += judge_range(probe_range(address, app.port_range), needed)
    try:
        target = relay_target(config)
    except RelayTargetError as exc:
        findings.append(fail("stun", f"{exc}.", "give doctor the body NVCF posts to /v1/streaming/creds."))
    else:
        if target is None:
            findings.append(not_checked(app.relay_only, has_server=False))
        else:
            findings += await _relay_findings(target, app, config.timeout)
    if config.servers:
        findings += judge_servers(await probe_servers(app, config.timeout), app)
    return findings


def main(argv: Sequence[str], env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")) -> int:
    """Run `stream-app doctor ARGV`; print the findings; 0 when nothing failed, 1 when one did, 2 for a
    setting of doctor's own it cannot use."""
    try:
        config, app = load_doctor_config(argv, env, dockerenv)
    except SettingsError as exc:
        print(f"stream-app doctor: {exc}", file=sys.stderr)
        return 2
    # Findings are printed (stdout); log lines are what the libraries under the probes say (stderr).
    configure_logging(
        PIECE,
        config.log.level,
        config.log.format,
        dict(config.log.logger_levels),
        secrets=secret_values(config, SETTINGS.secret_fields),
    )
    findings = asyncio.run(examine(config, app, env, dockerenv))
    print(render_json(findings) if config.json else render_text(findings))
    return exit_status(findings)
