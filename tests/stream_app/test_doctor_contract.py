"""stream-app doctor's configuration checks against NVCF's streaming contract (pure: no sockets)."""

from __future__ import annotations

import pytest

from stream_app.config import StreamAppConfig
from stream_app.doctor.contract import Facts, check_config, ports_needed
from stream_app.doctor.findings import Finding, Status
from stream_app.ports import PortRange

NVCF_ENV = {
    "NVCF_FUNCTION_ID": "6f1c0000-0000-4000-8000-000000000001",
    "NVCF_FUNCTION_VERSION_ID": "0b7e0000-0000-4000-8000-000000000002",
    "NVCF_NCA_ID": "nca",
    "NVCF_REGION": "us-west-1",
}
ON_NVCF = Facts(env=NVCF_ENV, in_container=True, host_addresses=("10.0.0.5",))
LOCAL = Facts(env={}, in_container=False, host_addresses=("192.168.1.2",))
# What the image and the function definition give (deploy/container/Dockerfile).
NVCF_CONFIG = StreamAppConfig(exit_after_session=True)


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status is not Status.OK]


def test_the_image_defaults_on_nvcf_are_all_fine() -> None:
    findings = check_config(NVCF_CONFIG, ON_NVCF)
    assert problems(findings) == []
    assert any("NVCF function 6f1c0000" in f.what for f in findings)


@pytest.mark.parametrize(
    ("config", "said"),
    [
        (StreamAppConfig(exit_after_session=True, control_port=9000, streaming_port=9000), "are both 9000"),
        (
            StreamAppConfig(exit_after_session=True, control_port=8080),
            "CONTROL_SERVER_PORT is 8080, which NVCF reserves",
        ),
        (
            StreamAppConfig(exit_after_session=True, streaming_port=8010),
            "STREAMING_SERVER_PORT is 8010, which NVCF reserves",
        ),
        (StreamAppConfig(exit_after_session=True, control_port=0), "CONTROL_SERVER_PORT is 0 (a port the OS picks)"),
        (
            StreamAppConfig(exit_after_session=True, port_range=PortRange(40000, 40100)),
            "40000-40100 reaches outside 47998-48020",
        ),
        (
            StreamAppConfig(exit_after_session=True, port_range=PortRange(48000, 48000)),
            "has 1 port(s); a session needs 2 (1 host address + 1 TURN client socket)",
        ),
        (
            StreamAppConfig(exit_after_session=True, host="127.0.0.1"),
            "STREAM_APP_HOST is 127.0.0.1: in a container nothing outside it",
        ),
    ],
)
def test_each_breach_of_the_contract_fails_in_a_container(config: StreamAppConfig, said: str) -> None:
    failed = [f for f in check_config(config, ON_NVCF) if f.status is Status.FAIL]
    assert len(failed) == 1, failed
    assert said in failed[0].what
    assert failed[0].fix


def test_outside_a_container_nvcf_only_breaches_are_warnings() -> None:
    config = StreamAppConfig(control_port=8080, port_range=PortRange(20000, 20010))
    findings = check_config(config, LOCAL)
    assert [f.status for f in problems(findings)] == [Status.WARN, Status.WARN]
    assert all("fine outside NVCF" in f.what for f in problems(findings))


def test_two_servers_on_one_port_fail_anywhere() -> None:
    failed = [f for f in check_config(StreamAppConfig(control_port=9000, streaming_port=9000), LOCAL)]
    assert [f.status for f in failed if f.status is Status.FAIL] == [Status.FAIL]


def test_another_start_endpoint_is_a_warning_naming_inference_url() -> None:
    config = StreamAppConfig(exit_after_session=True, start_endpoint="/ws")
    (finding,) = problems(check_config(config, ON_NVCF))
    assert finding.status is Status.WARN
    assert "STREAMING_START_ENDPOINT is '/ws', not '/sign_in'" in finding.what
    assert "inferenceUrl" in finding.fix


def test_a_container_without_nvcf_variables_is_said_to_be_not_started_by_nvcf() -> None:
    (finding,) = problems(check_config(NVCF_CONFIG, Facts(env={}, in_container=True, host_addresses=("10.0.0.5",))))
    assert finding.status is Status.WARN
    assert "not started by NVCF" in finding.what


def test_incomplete_nvcf_variables_are_named() -> None:
    env = {k: v for k, v in NVCF_ENV.items() if k != "NVCF_REGION"}
    (finding,) = problems(check_config(NVCF_CONFIG, Facts(env=env, in_container=True, host_addresses=())))
    assert finding.what == "NVCF's variables are incomplete: NVCF_REGION unset."


def test_not_exiting_after_the_session_in_a_container_is_a_warning() -> None:
    (finding,) = problems(check_config(StreamAppConfig(exit_after_session=False), ON_NVCF))
    assert finding.status is Status.WARN
    assert "STREAM_APP_EXIT_AFTER_SESSION is off" in finding.what


def test_loopback_ice_addresses_in_a_container_are_a_warning() -> None:
    config = StreamAppConfig(exit_after_session=True, ice_addresses=("127.0.0.1",))
    (finding,) = problems(check_config(config, ON_NVCF))
    assert "ICE_HOST_ADDRESSES has loopback 127.0.0.1" in finding.what


@pytest.mark.parametrize(
    ("capabilities", "nvenc", "status"),
    [
        ("compute,utility", True, Status.FAIL),
        (None, True, Status.FAIL),
        ("compute,utility", False, Status.WARN),  # a GPU container: an app might want NVENC
        ("compute,utility,video", True, None),
        ("all", True, None),
    ],
)
def test_nvenc_needs_the_video_driver_capability(capabilities: str | None, nvenc: bool, status: Status | None) -> None:
    env = {**NVCF_ENV, "NVIDIA_VISIBLE_DEVICES": "all"}
    if capabilities is not None:
        env["NVIDIA_DRIVER_CAPABILITIES"] = capabilities
    findings = problems(check_config(NVCF_CONFIG, Facts(env=env, in_container=True, host_addresses=(), nvenc=nvenc)))
    assert [f.status for f in findings] == ([status] if status else [])
    if status:
        assert "without 'video'" in findings[0].what
        assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in findings[0].fix


def test_a_session_needs_a_port_per_host_address_and_one_for_turn() -> None:
    facts = Facts(env={}, in_container=False, host_addresses=("10.0.0.5", "fd00::5", "172.17.0.2"))
    assert ports_needed(StreamAppConfig(), facts)[0] == 4
    assert ports_needed(StreamAppConfig(ice_addresses=("10.0.0.5",)), facts)[0] == 2
    assert ports_needed(StreamAppConfig(relay_only=True), facts)[0] == 1
