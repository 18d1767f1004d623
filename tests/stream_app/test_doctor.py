"""stream-app doctor: real coturn, real sockets, a real stream app, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from support.stream_app_harness import running_stream_app

from benchmarks.ports import free_port, free_udp_port_range
from deploy.coturn import RunningCoturn
from stream_app.config import SETTINGS as APP_SETTINGS
from stream_app.config import StreamAppConfig
from stream_app.doctor.command import examine
from stream_app.doctor.command import main as doctor_main
from stream_app.doctor.config import SETTINGS as DOCTOR_SETTINGS
from stream_app.doctor.config import load_doctor_config
from stream_app.doctor.findings import Finding, Status, exit_status, render_json, render_text
from stream_app.doctor.relay import Answered, turn_allocate
from stream_app.doctor.udp_range import probe_range, wildcard_addresses
from stream_app.ports import PortRange

NO_DOCKERENV = Path("/nonexistent/.dockerenv")


async def doctor(*argv: str, env: Mapping[str, str] | None = None) -> list[Finding]:
    """Run doctor's checks in this event loop, outside any container, with only `env`."""
    config, app = load_doctor_config(argv, env or {}, NO_DOCKERENV)
    return await examine(config, app, env or {}, NO_DOCKERENV)


def private_range(count: int = 4) -> str:
    first, last = free_udp_port_range(count)
    return f"{first}-{last}"


def only(findings: list[Finding], check: str) -> Finding:
    matching = [f for f in findings if f.check == check]
    assert len(matching) == 1, matching
    return matching[0]


def port_after(text: str, said: str) -> int:
    match = re.search(re.escape(text) + r"(\d+)", said)
    assert match, said
    return int(match.group(1))


def creds_file(tmp_path: Path, coturn: RunningCoturn, password: str) -> str:
    path = tmp_path / "creds.json"
    body = {"stunIp": coturn.host, "stunPort": coturn.port, "username": coturn.user, "password": password}
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def _relay_settings(port_range: str) -> tuple[str, ...]:
    return ("--host", "127.0.0.1", "--port-range", port_range, "--no-servers", "--timeout", "1")


# --- STUN and TURN against a real coturn ---


async def test_a_working_turn_server_gives_a_mapped_address_and_a_relay(coturn: RunningCoturn, tmp_path: Path) -> None:
    port_range = private_range()
    findings = await doctor("--creds", creds_file(tmp_path, coturn, coturn.password), *_relay_settings(port_range))

    stun = only(findings, "stun")
    assert stun.status is Status.OK, stun
    # The probe's socket is bound inside the media range, as the stream app's are.
    mapped_port = port_after("sees this container at 127.0.0.1:", stun.what)
    assert mapped_port in PortRange.parse(port_range)

    turn = only(findings, "turn")
    assert turn.status is Status.OK, turn
    relay_port = port_after("allocated a relay at 127.0.0.1:", turn.what)
    assert coturn.config.min_port <= relay_port <= coturn.config.max_port
    assert exit_status(findings) == 0


async def test_a_wrong_password_is_reported_as_refused_credentials(coturn: RunningCoturn, tmp_path: Path) -> None:
    findings = await doctor(
        "--creds", creds_file(tmp_path, coturn, coturn.password + "x"), *_relay_settings(private_range())
    )
    turn = only(findings, "turn")
    assert turn.status is Status.FAIL
    assert "refused the credentials (Unauthorized): error 401" in turn.what
    assert "password is wrong" in turn.fix
    # The STUN binding needs no credentials: the server itself is fine.
    assert only(findings, "stun").status is Status.OK
    assert exit_status(findings) == 1


async def test_flags_and_the_password_variable_give_the_credentials(coturn: RunningCoturn) -> None:
    findings = await doctor(
        "--stun-ip", coturn.host, "--stun-port", str(coturn.port), "--username", coturn.user,
        *_relay_settings(private_range()),
        env={"DOCTOR_TURN_PASSWORD": coturn.password},
    )  # fmt: skip
    assert only(findings, "turn").status is Status.OK


async def test_a_user_name_without_a_password_says_where_the_password_goes() -> None:
    findings = await doctor("--stun-ip", "127.0.0.1", "--stun-port", "3478", "--username", "u", "--no-servers")
    stun = only(findings, "stun")
    assert stun.status is Status.FAIL
    assert "--username u but no password: set DOCTOR_TURN_PASSWORD" in stun.what


async def test_the_password_never_appears_in_the_output(coturn: RunningCoturn, tmp_path: Path) -> None:
    for password in (coturn.password, coturn.password + "x"):
        findings = await doctor("--creds", creds_file(tmp_path, coturn, password), *_relay_settings(private_range()))
        assert password not in render_text(findings) and password not in render_json(findings)


async def test_a_port_where_nothing_listens_gets_no_stun_answer() -> None:
    started = time.monotonic()
    findings = await doctor(
        "--stun-ip", "127.0.0.1", "--stun-port", str(free_port()), *_relay_settings(private_range())
    )
    stun = only(findings, "stun")
    assert stun.status is Status.FAIL
    assert stun.what.startswith("no STUN answer from 127.0.0.1:")
    assert "nothing listens on that port" in stun.what
    assert time.monotonic() - started < 1.0


async def test_a_server_that_stays_silent_is_a_timeout_blamed_on_udp() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        started = time.monotonic()
        findings = await doctor(
            "--stun-ip", "127.0.0.1", "--stun-port", str(port), *_relay_settings(private_range()), "--timeout", "0.4"
        )
        elapsed = time.monotonic() - started
    stun = only(findings, "stun")
    assert stun.status is Status.FAIL
    assert f"no STUN answer from 127.0.0.1:{port} within 0.4 s" in stun.what
    assert "UDP to it is blocked" in stun.what
    assert 0.4 <= elapsed < 1.5


async def test_without_credentials_the_turn_check_says_how_to_give_them() -> None:
    findings = await doctor(*_relay_settings(private_range()))
    stun = only(findings, "stun")
    assert stun.status is Status.WARN
    assert "--creds FILE" in stun.fix
    assert exit_status(findings) == 0


async def test_a_creds_file_with_a_bad_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"stunIp": "127.0.0.1", "stunPort": "3478", "username": "u", "password": "p"}))
    findings = await doctor("--creds", str(path), *_relay_settings(private_range()))
    stun = only(findings, "stun")
    assert stun.status is Status.FAIL
    assert "field 'stunPort' must be an integer, not str" in stun.what


# --- the UDP range ---


async def test_a_held_port_of_the_range_is_named_with_its_holder() -> None:
    port_range = private_range(4)
    first = PortRange.parse(port_range).first
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", first + 1))
        findings = await doctor(*_relay_settings(port_range))
    ports = only(findings, "ports")
    assert ports.status is Status.WARN
    assert f"1 of 4 taken ({first + 1} by " in ports.what
    assert f"(pid {os.getpid()})" in ports.what
    assert "3 free" in ports.what


async def test_a_range_with_too_few_free_ports_fails() -> None:
    port_range = private_range(2)
    first = PortRange.parse(port_range).first
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", first))
        findings = await doctor(*_relay_settings(port_range))
    ports = only(findings, "ports")
    assert ports.status is Status.FAIL
    assert "1 free. A session needs 2." in ports.what


async def test_a_free_range_is_fine() -> None:
    port_range = private_range(3)
    ports = only(await doctor(*_relay_settings(port_range)), "ports")
    assert ports == Finding(Status.OK, "ports", f"UDP {port_range} on 0.0.0.0: all 3 ports can be bound.")


# --- a running stream app ---


async def test_a_running_stream_app_is_found_ready_without_starting_a_session() -> None:
    async with running_stream_app() as running:
        control_port = running.control_url.rsplit(":", 1)[1]
        streaming_port = running.sign_in_url.split(":")[2].split("/")[0]
        findings = await doctor(
            "--host", "127.0.0.1", "--control-port", control_port, "--streaming-port", streaming_port,
            "--port-range", private_range(), "--timeout", "2",
        )  # fmt: skip
        servers = [f for f in findings if f.check == "servers"]
        assert [f.status for f in servers] == [Status.OK, Status.OK], servers
        assert "ready for a session" in servers[0].what
        assert "sign-in WebSocket answers" in servers[1].what
        assert running.state.slot.current is None

        wrong = await doctor(
            "--host", "127.0.0.1", "--control-port", control_port, "--streaming-port", streaming_port,
            "--start-endpoint", "/elsewhere", "--port-range", private_range(), "--timeout", "2",
        )  # fmt: skip
        sign_in = [f for f in wrong if f.check == "servers"][1]
        assert sign_in.status is Status.FAIL
        assert "nothing at /elsewhere (404)" in sign_in.what


async def test_no_running_stream_app_is_a_warning() -> None:
    control, streaming = free_port(), free_port()
    findings = await doctor(
        "--host", "127.0.0.1", "--control-port", str(control), "--streaming-port", str(streaming),
        "--port-range", private_range(), "--timeout", "1",
    )  # fmt: skip
    servers = only(findings, "servers")
    assert servers.status is Status.WARN
    assert f"no stream app answers on 127.0.0.1:{control}" in servers.what


async def test_a_bad_setting_is_one_finding_naming_it() -> None:
    findings = await doctor("--port-range", "48020-47998")
    assert len(findings) == 1
    assert findings[0].status is Status.FAIL
    assert "--port-range" in findings[0].what


# --- doctor's settings ---


def test_the_password_is_no_flag_and_help_shows_only_whether_it_is_set(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        load_doctor_config(["--password", "hunter22"], {})
    assert usage.value.code == 2
    assert "unrecognized arguments: --password hunter22" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_doctor_config(["--help"], {"DOCTOR_TURN_PASSWORD": "hunter22"})
    shown = " ".join(capsys.readouterr().out.split())
    assert "DOCTOR_TURN_PASSWORD: long-term credential password (wins over --creds) [now: set]" in shown
    assert "hunter22" not in shown


def test_help_lists_doctors_settings_and_the_stream_app_settings_it_checks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_doctor_config(["--help"], {})
    shown = " ".join(capsys.readouterr().out.split())
    for text in (
        "--timeout SECONDS",
        "[env DOCTOR_TIMEOUT; default: 2]",
        "--servers, --no-servers",
        "settings of stream-app:",
    ):
        assert text in shown, text
    for setting in (*DOCTOR_SETTINGS, *APP_SETTINGS):
        assert setting.env in shown, setting.env
    assert shown.count("[env LOG_FORMAT;") == 1  # one setting, though both groups declare it


def test_each_setting_comes_from_its_variable_and_a_flag_wins() -> None:
    env = {"DOCTOR_STUN_IP": "127.0.0.1", "DOCTOR_STUN_PORT": "3478", "DOCTOR_TIMEOUT": "0.5", "DOCTOR_SERVERS": "no"}
    config, app = load_doctor_config(["--timeout", "3", "--port-range", "48000-48001"], env)
    assert (config.stun_ip, config.stun_port, config.timeout, config.servers) == ("127.0.0.1", 3478, 3.0, False)
    assert isinstance(app, StreamAppConfig) and app.port_range == PortRange(48000, 48001)
    password_config, _ = load_doctor_config([], {"DOCTOR_TURN_PASSWORD": "hunter22"})
    assert password_config.turn_password == "hunter22" and "hunter22" not in repr(password_config)


def test_a_bad_setting_of_doctors_own_stops_it_with_status_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor_main(["--timeout", "0"], {}, NO_DOCKERENV) == 2
    assert capsys.readouterr().err == "stream-app doctor: --timeout: '0' is not a number of seconds > 0\n"
    assert doctor_main([], {"DOCTOR_STUN_PORT": "70000"}, NO_DOCKERENV) == 2
    assert "DOCTOR_STUN_PORT: 70000 is not a port (1-65535)" in capsys.readouterr().err


# --- the console script ---


def _run_cli(*argv: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "stream_app", "doctor", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **(env or {})},
    )
    return result.returncode, result.stdout


async def test_the_console_script_prints_json_and_exits_by_outcome(coturn: RunningCoturn, tmp_path: Path) -> None:
    # NVCF's own range and the default host, so the contract holds in a container too (this machine
    # may have /.dockerenv); a port of the range that another run holds is only a warning.
    settings = ("--port-range", "47998-48020", "--no-servers", "--timeout", "1")
    good = creds_file(tmp_path, coturn, coturn.password)
    status, out = await asyncio.to_thread(_run_cli, "--json", "--creds", good, *settings)
    report = json.loads(out)
    assert status == 0 and report["ok"] is True
    turn = next(f for f in report["findings"] if f["check"] == "turn")
    assert turn["status"] == "ok" and turn["what"].startswith("TURN server 127.0.0.1:")

    bad = creds_file(tmp_path, coturn, coturn.password + "x")
    status, out = await asyncio.to_thread(_run_cli, "--creds", bad, *settings)
    assert status == 1
    assert re.search(r"^FAIL\s+turn\s+TURN server .* refused the credentials", out, re.MULTILINE)


async def test_an_allocation_right_after_another_from_the_same_port_is_tried_again_elsewhere(
    coturn: RunningCoturn,
) -> None:
    # coturn answers 437 for about 2 s to a new allocation from a 5-tuple whose allocation was just
    # deleted; with one port in the range both probes would use it.
    one_port = PortRange.parse(private_range(1))
    first = await turn_allocate(coturn.host, coturn.port, coturn.user, coturn.password, one_port, 2.0)
    second = await turn_allocate(coturn.host, coturn.port, coturn.user, coturn.password, one_port, 2.0)
    assert isinstance(first, Answered) and first.local_port == one_port.first
    assert isinstance(second, Answered) and second.local_port != one_port.first


def test_ipv6_ice_addresses_add_the_ipv6_wildcard_to_the_port_probe() -> None:
    assert wildcard_addresses(()) == ("0.0.0.0",)
    assert wildcard_addresses(("10.0.0.5",)) == ("0.0.0.0",)
    assert wildcard_addresses(("10.0.0.5", "fd00::5")) == ("0.0.0.0", "::")


async def test_a_held_ipv6_port_is_seen_by_the_ipv6_probe_only() -> None:
    port_range = PortRange.parse(private_range(3))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as held:
        held.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        held.bind(("::1", port_range.first))
        assert [port for port, _ in probe_range("::", port_range).taken] == [port_range.first]
        assert probe_range("0.0.0.0", port_range).taken == ()
