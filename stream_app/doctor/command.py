"""`stream-app doctor`: run every check, print one line per finding (or JSON), exit 1 if one failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioice.ice import get_host_addresses

from stream_app.config import ConfigError, StreamAppConfig, in_container, load_config
from stream_app.creds import CredsError, parse_creds
from stream_app.doctor.contract import Facts, check_config, ports_needed
from stream_app.doctor.findings import Finding, exit_status, fail, ok, render_json, render_text
from stream_app.doctor.relay import judge_stun, judge_turn, not_checked, stun_binding, turn_allocate
from stream_app.doctor.servers import judge_servers, probe_servers
from stream_app.doctor.udp_range import judge_range, probe_range, wildcard_addresses
from stream_app.media.encoders import h264_nvenc_available

PASSWORD_ENV = "DOCTOR_TURN_PASSWORD"
_DESCRIPTION = """\
Check why a stream app's container does not stream: the configuration against NVCF's contract,
every UDP port of the media range, the STUN/TURN server (a binding and an allocation with the
credentials given here), and a stream app already running with these settings. Takes every
stream-app setting too (stream-app --help), read from the same environment variables.
Exit status 0 when nothing failed (warnings allowed), 1 otherwise."""


@dataclass(frozen=True)
class RelayTarget:
    """The STUN/TURN server to probe, with credentials when both were given."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None


class RelayTargetError(ValueError):
    """Credentials given to doctor that cannot be used; the message says which and why."""


def make_parser() -> argparse.ArgumentParser:
    """Doctor's own flags; the rest are stream-app's settings."""
    parser = argparse.ArgumentParser(prog="stream-app doctor", description=_DESCRIPTION, allow_abbrev=False)
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--timeout", type=float, default=2.0, metavar="SECONDS", help="wait this long for each answer [2]"
    )
    parser.add_argument(
        "--creds",
        metavar="FILE",
        help="JSON file with the body NVCF posts to /v1/streaming/creds "
        '({"stunIp", "stunPort", "username", "password"}); - reads stdin',
    )
    parser.add_argument("--stun-ip", help="STUN/TURN server address or name (wins over --creds)")
    parser.add_argument("--stun-port", type=int, help="STUN/TURN server port (wins over --creds)")
    parser.add_argument("--username", help="long-term credential user name (wins over --creds)")
    parser.add_argument(
        "--password",
        help=f"long-term credential password; prefer the variable {PASSWORD_ENV} or --creds "
        "(a command line is visible to every local user)",
    )
    parser.add_argument(
        "--nvenc", action="store_true", help="the app encodes with NVENC: check that an NVENC encoder opens"
    )
    parser.add_argument(
        "--no-servers", action="store_true", help="do not ask a running stream app's control and streaming servers"
    )
    return parser


def relay_target(args: argparse.Namespace, env: Mapping[str, str], stdin_text: str | None = None) -> RelayTarget | None:
    """The server and credentials from --creds, the flags and the environment; None if none given."""
    body: dict[str, Any] = {}
    if args.creds:
        try:
            text = (stdin_text if stdin_text is not None else sys.stdin.read()) if args.creds == "-" else None
            text = text if text is not None else Path(args.creds).read_text(encoding="utf-8")
            loaded = json.loads(text)
        except OSError as exc:
            raise RelayTargetError(f"--creds {args.creds}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise RelayTargetError(f"--creds {args.creds}: not JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise RelayTargetError(f"--creds {args.creds}: must hold a JSON object like the /v1/streaming/creds body")
        body.update(loaded)
    for field, value in (
        ("stunIp", args.stun_ip),
        ("stunPort", args.stun_port),
        ("username", args.username),
        ("password", args.password or env.get(PASSWORD_ENV)),
    ):
        if value is not None and value != "":
            body[field] = value
    if not body:
        return None
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
    args: argparse.Namespace, settings: Sequence[str], env: Mapping[str, str], dockerenv: Path
) -> list[Finding]:
    """Every finding, in the order a reader should fix them."""
    try:
        config = load_config(settings, env, dockerenv)
    except ConfigError as exc:
        return [fail("config", f"{exc}.", "correct that setting (stream-app --help lists them all).")]
    facts = Facts(
        env=env,
        in_container=in_container(env, dockerenv),
        host_addresses=tuple(get_host_addresses(use_ipv4=True, use_ipv6=True)),
        nvenc=args.nvenc,
    )
    findings = check_config(config, facts)
    if args.nvenc:
        findings.append(await asyncio.to_thread(_nvenc_finding))
    needed, _ = ports_needed(config, facts)
    for address in wildcard_addresses(config.ice_addresses or facts.host_addresses):
        findings += judge_range(probe_range(address, config.port_range), needed)
    try:
        target = relay_target(args, env)
    except RelayTargetError as exc:
        findings.append(fail("stun", f"{exc}.", "give doctor the body NVCF posts to /v1/streaming/creds."))
    else:
        if target is None:
            findings.append(not_checked(config.relay_only, has_server=False))
        else:
            findings += await _relay_findings(target, config, args.timeout)
    if not args.no_servers:
        findings += judge_servers(await probe_servers(config, args.timeout), config)
    return findings


def main(argv: Sequence[str], env: Mapping[str, str], dockerenv: Path = Path("/.dockerenv")) -> int:
    """Run `stream-app doctor ARGV`; print the findings; 0 when nothing failed, else 1."""
    args, settings = make_parser().parse_known_args(argv)
    if args.timeout <= 0:
        print("stream-app doctor: --timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    findings = asyncio.run(examine(args, settings, env, dockerenv))
    print(render_json(findings) if args.json else render_text(findings))
    return exit_status(findings)
