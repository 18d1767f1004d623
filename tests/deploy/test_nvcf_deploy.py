"""nvcf-deploy: the pre-flight check, the exact requests it sends (NVCF's API reference), how it reports errors.

The requests are checked against a recording HTTP server on loopback that answers like NVCF's
control API; the end-to-end run against nvcf-local is in test_nvcf_deploy_e2e.py.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from deploy.nvcf_deploy.api import ApiClient, list_functions
from deploy.nvcf_deploy.cli import run
from deploy.nvcf_deploy.preflight import check, on_nvcf
from deploy.nvcf_deploy.retry import retry_pause
from deploy.nvcf_local.config import DEFAULT_DEFINITION

SHIPPED: dict[str, Any] = json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8"))
FID, VID = "6f1c6a7e-4d55-4f0e-9a57-0c8b7d2f4a10", "0b7e5d3c-2a1f-4e6b-8c9d-1f2e3d4c5b6a"
KEY = "nvapi-test-key"


def _edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(SHIPPED)
    edit(data)
    return data


def _env_value(data: dict[str, Any], key: str, value: str) -> None:
    for entry in data["containerEnvironment"]:
        if entry["key"] == key:
            entry["value"] = value


# --- the pre-flight check ----------------------------------------------------------------------


def test_the_shipped_definition_passes() -> None:
    assert check(SHIPPED) == []


BROKEN = [
    (
        lambda d: d.update(functionType="DEFAULT"),
        'functionType: must be "STREAMING" (otherwise NVCF never opens a WebSocket to the stream app), got "DEFAULT"',
    ),
    (
        lambda d: d.update(inferenceUrl="/infer"),
        'inferenceUrl: must be the stream app\'s start endpoint "/sign_in" (STREAMING_START_ENDPOINT), got "/infer"',
    ),
    (
        lambda d: d.update(inferencePort=8000),
        "inferencePort: must be the stream app's streaming port 49100 (STREAMING_SERVER_PORT), got 8000",
    ),
    (
        lambda d: _env_value(d, "STREAMING_SERVER_PORT", "49200"),
        "inferencePort: must be the stream app's streaming port 49200 (STREAMING_SERVER_PORT), got 49100",
    ),
    (
        lambda d: d["health"].update(uri="/health"),
        'health.uri: must be the control server\'s ready endpoint "/v1/streaming/ready", got "/health"',
    ),
    (
        lambda d: d["health"].update(port=49100),
        "health.port: must be the control server's port 8011 (CONTROL_SERVER_PORT), got 49100",
    ),
    (
        lambda d: d["health"].update(expectedStatusCode=204),
        "health.expectedStatusCode: must be 200 (ready answers 200 when it can take a session), got 204",
    ),
    (
        lambda d: d.pop("health"),
        "health: missing: NVCF must health-check the control server's ready endpoint",
    ),
    (
        lambda d: d.update(containerImage="nvcr.io/org/stream-kit:latest"),
        "containerImage: nvcr.io/org/stream-kit:latest is tagged 'latest': NVCF's workers cache images by tag, "
        "so instances may run an old build; tag every build with its own version",
    ),
    (
        lambda d: d.update(containerImage="nvcr.io/org/stream-kit"),
        "containerImage: nvcr.io/org/stream-kit has no tag, which means 'latest': tag every build "
        "(e.g. nvcr.io/org/stream-kit:0.1.0) so a deployment runs the image you tested",
    ),
    (
        lambda d: d.update(name="my function"),
        'name: "my function" must match ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*$ and be at most 128 characters',
    ),
    (
        lambda d: d.update(name="x" * 129),
        f'name: "{"x" * 129}" must match ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*$ and be at most 128 characters',
    ),
    (lambda d: d.update(apiBodyFormat="PREDICT_V2"), 'apiBodyFormat: must be "CUSTOM", got "PREDICT_V2"'),
    (
        lambda d: d["health"].update(timeout="10s"),
        'definition: health.timeout must be an ISO 8601 duration such as "PT10S", got "10s"',
    ),
]


# NVCF's creation rules (NVIDIA/nvcf nvcf-core CreateFunctionRequest, SecretDto, NvcfConstants; the
# seed document for reserved ports, the media port range and Helm chart URLs).
HELM = {"helmChart": "https://helm.ngc.nvidia.com/org/team/charts/stream-kit-0.1.0.tgz", "helmChartServiceName": "s"}


def _helm(data: dict[str, Any]) -> None:
    data.pop("containerImage")
    data.pop("containerEnvironment")
    data.update(HELM)


BROKEN += [
    (
        lambda d: d["health"].update(port=8080) or _env_value(d, "CONTROL_SERVER_PORT", "8080"),
        "health.port: 8080 is reserved by NVCF inside the container (monitoring uses 8080 and 8010)",
    ),
    (
        lambda d: d.update(inferencePort=8010) or _env_value(d, "STREAMING_SERVER_PORT", "8010"),
        "inferencePort: 8010 is reserved by NVCF inside the container (monitoring uses 8080 and 8010)",
    ),
    (
        lambda d: _env_value(d, "STREAMING_PORT_BINDING_RANGE", "40000-40100"),
        "STREAMING_PORT_BINDING_RANGE: must be NVCF's media port range 47998-48020 (NVCF forwards no other UDP port), "
        "got '40000-40100'",
    ),
    (
        lambda d: d.update(description="d" * 257),
        "description: must be a string of at most 256 characters (257)",
    ),
    (lambda d: d.update(tags=["ok", "not ok"]), 'tags[1]: "not ok" must be 1-128 characters of [a-zA-Z0-9\\-_:=]+'),
    (lambda d: d.update(tags=[f"t{i}" for i in range(65)]), "tags: must be a list of at most 64 tags"),
    (
        lambda d: d.update(secrets=[{"name": "_bad", "value": "v"}]),
        'secrets[0].name: "_bad" must be 1-48 characters matching ^[a-z0-9A-Z][a-z0-9A-Z_.\\-]*$',
    ),
    (
        lambda d: d.update(secrets=[{"name": "A" * 49, "value": "v"}]),
        f'secrets[0].name: "{"A" * 49}" must be 1-48 characters matching ^[a-z0-9A-Z][a-z0-9A-Z_.\\-]*$',
    ),
    (
        lambda d: d.update(secrets=[{"name": "K", "value": "v"}, {"name": "K", "value": "w"}]),
        "secrets[1].name: K is given twice",
    ),
    (
        lambda d: d.update(secrets=[{"name": "K", "value": " "}]),
        "secrets[0].value: must be a string or JSON object of 1-32768 characters",
    ),
    (
        lambda d: d.update(HELM),
        "helmChart: cannot be given with containerImage: a function is one or the other",
    ),
    (
        lambda d: _helm(d) or d.pop("helmChartServiceName"),
        "helmChartServiceName: a Helm function needs both helmChart and helmChartServiceName "
        "(the chart's fixed Service name)",
    ),
    (
        lambda d: d.update(helmChartServiceName="s"),
        "helmChartServiceName: is only for a Helm function (with helmChart)",
    ),
    (
        lambda d: _helm(d) or d.update(containerArgs="--x"),
        "containerArgs: a Helm function takes its settings as chart values (configuration), not containerArgs",
    ),
    (
        lambda d: _helm(d) or d.update(containerEnvironment=[]),
        "containerEnvironment: a Helm function takes its settings as chart values (configuration), "
        "not containerEnvironment",
    ),
    (
        lambda d: _helm(d) or d.update(helmChart="https://helm.ngc.nvidia.com/org/charts/stream-kit-0.1.0-rc1.tgz"),
        "helmChart: the chart version 0.1.0-rc1 must not contain '-'",
    ),
    (
        lambda d: _helm(d) or d.update(helmChart="https://example.com/stream-kit-0.1.0.tgz"),
        'helmChart: "https://example.com/stream-kit-0.1.0.tgz" must be '
        "https://helm.ngc.nvidia.com/<org>[/<team>]/charts/<name>-<version>.tgz",
    ),
    (
        lambda d: _helm(d) or d.update(helmChart="https://helm.ngc.nvidia.com/org/charts/stream_kit-0.1.0.tgz"),
        "helmChart: the chart name stream_kit must be lowercase letters, digits, '-'",
    ),
]


def test_a_helm_function_within_nvcfs_rules_passes() -> None:
    assert check(_edited(_helm)) == []


def test_the_placeholder_image_is_an_error_only_when_creating_on_nvcf() -> None:
    assert check(SHIPPED) == []
    assert [str(p) for p in check(SHIPPED, on_nvcf=True)] == [
        "containerImage: nvcr.io/your-org/stream-kit:0.1.0 is the example's placeholder: push yours to your "
        "NGC registry and name it here"
    ]
    assert on_nvcf("https://api.nvcf.nvidia.com") and on_nvcf("http://10.0.0.5:8090")
    assert (
        not on_nvcf("http://127.0.0.1:8090") and not on_nvcf("http://localhost:8090") and not on_nvcf("http://[::1]:1")
    )


async def test_create_and_up_on_nvcf_refuse_the_placeholder_and_a_non_gfn_backend(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["--base-url", "https://api.nvcf.nvidia.com", "--dry-run", "up", str(DEFAULT_DEFINITION)]
    status = await run([*argv, "--gpu", "L40", "--instance-type", "t", "--backend", "OCI"], out=out, err=err, env={})
    assert status == 1 and out.getvalue() == ""
    assert "containerImage: nvcr.io/your-org/stream-kit:0.1.0 is the example's placeholder" in err.getvalue()
    assert (
        'deploymentSpecifications[0].backend: "OCI": low-latency streaming runs only on GFN instances (backend GFN)'
        in err.getvalue()
    )
    # nvcf-local pulls no image: there it is a note, not an error.
    out, err = io.StringIO(), io.StringIO()
    assert await run(["check", str(DEFAULT_DEFINITION)], out=out, err=err, env={}) == 0
    assert "note: containerImage: nvcr.io/your-org/stream-kit:0.1.0 is the example's placeholder" in out.getvalue()


@pytest.mark.parametrize(("edit", "message"), BROKEN)
def test_each_class_of_broken_definition_gets_a_precise_message(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    assert [str(problem) for problem in check(_edited(edit))] == [message]


def test_an_image_pinned_by_digest_or_on_a_registry_port_passes() -> None:
    assert check(_edited(lambda d: d.update(containerImage="nvcr.io/org/app@sha256:" + "a" * 64))) == []
    assert check(_edited(lambda d: d.update(containerImage="registry:5000/org/app:1.2"))) == []
    problems = check(_edited(lambda d: d.update(containerImage="registry:5000/org/app")))
    assert [p.field for p in problems] == ["containerImage"]


def test_every_problem_is_reported_at_once() -> None:
    def many(data: dict[str, Any]) -> None:
        data.update(functionType="DEFAULT", inferencePort=1, containerImage="x/y:latest")

    assert [p.field for p in check(_edited(many))] == ["functionType", "inferencePort", "containerImage"]


async def test_check_prints_the_problems_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps(_edited(lambda d: d.update(inferencePort=1))), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert await run(["check", str(path)], out=out, err=err, env={}) == 1
    assert err.getvalue() == (
        f"nvcf-deploy: {path}: 1 problem(s) make this function fail on NVCF:\n"
        "  inferencePort: must be the stream app's streaming port 49100 (STREAMING_SERVER_PORT), got 1\n"
    )


async def test_create_refuses_a_broken_definition_without_sending_it(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps(_edited(lambda d: d.update(functionType="DEFAULT"))), encoding="utf-8")
    status, _, err = await recorder.deploy("create", str(path))
    assert status == 1
    assert "functionType: must be" in err
    assert recorder.requests == []


# --- the requests, against a recording server --------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Recorder:
    """A loopback HTTP server answering like NVCF's control API, keeping every request."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: ["DEPLOYING", "ACTIVE"])
    failure: tuple[int, dict[str, Any]] | None = None
    health_error: str = ""
    # Canned answers served first, in order: (status, JSON body, headers).
    canned: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)

    async def deploy(self, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        environment = {"NVCF_API_KEY": KEY, **(env or {})}
        status = await run(
            ["--base-url", self.url, "--poll-interval", "0.05", *argv], out=out, err=err, env=environment
        )
        return status, out.getvalue(), err.getvalue()


def _function(status: str) -> dict[str, Any]:
    return {"id": FID, "versionId": VID, "name": SHIPPED["name"], "status": status, "ncaId": "nca"}


@pytest.fixture
async def recorder(unused_tcp_port: int) -> AsyncIterator[Recorder]:
    state = Recorder(url=f"http://127.0.0.1:{unused_tcp_port}")

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        state.requests.append(Recorded(request.method, request.path_qs, dict(request.headers), body))
        if state.canned:
            status, canned, headers = state.canned.pop(0)
            return web.json_response(canned, status=status, headers=headers)
        if state.failure is not None:
            status, problem = state.failure
            return web.json_response(problem, status=status, content_type="application/problem+json")
        path = request.path
        if request.method == "POST" and path.startswith("/v2/nvcf/functions"):
            return web.json_response({"function": _function("INACTIVE")})
        if request.method == "POST" and path.startswith("/v2/nvcf/deployments/"):
            return web.json_response({"deployment": {"functionId": FID, "functionStatus": "DEPLOYING"}})
        if request.method == "GET" and path.startswith("/v2/nvcf/deployments/"):
            return web.json_response({"deployment": {"healthInfo": [{"error": state.health_error}]}})
        if request.method == "GET" and path.endswith("/versions"):
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            return web.json_response({"functions": [_function(status)]})
        if request.method == "GET":
            return web.json_response({"functions": [_function("ACTIVE")]})
        if request.method == "DELETE" and "/deployments/" in path:
            return web.json_response({"function": _function("INACTIVE")})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_up_sends_create_deploy_and_status_requests_as_documented(recorder: Recorder) -> None:
    status, out, err = await recorder.deploy(
        "up",
        str(DEFAULT_DEFINITION),
        "--gpu",
        "L40S",
        "--instance-type",
        "gl40s_1.br25_2xlarge",
        "--backend",
        "GFN",
        "--min-instances",
        "1",
        "--max-instances",
        "2",
        "--regions",
        "us-west-2, eu-north-1",
    )
    assert status == 0, err
    create, deploy, *polls = recorder.requests
    assert (create.method, create.path) == ("POST", "/v2/nvcf/functions")
    assert create.headers["Authorization"] == f"Bearer {KEY}"
    assert create.headers["Content-Type"].startswith("application/json")
    assert create.body == SHIPPED
    assert create.body["functionType"] == "STREAMING"
    assert (create.body["inferenceUrl"], create.body["inferencePort"]) == ("/sign_in", 49100)
    assert create.body["health"] == {
        "protocol": "HTTP",
        "uri": "/v1/streaming/ready",
        "port": 8011,
        "timeout": "PT10S",
        "expectedStatusCode": 200,
    }
    assert (deploy.method, deploy.path) == ("POST", f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}")
    assert deploy.headers["Authorization"] == f"Bearer {KEY}"
    assert deploy.body == {
        "deploymentSpecifications": [
            {
                "gpu": "L40S",
                "instanceType": "gl40s_1.br25_2xlarge",
                "backend": "GFN",
                "minInstances": 1,
                "maxInstances": 2,
                "regions": ["us-west-2", "eu-north-1"],
            }
        ]
    }
    assert [(p.method, p.path) for p in polls] == [("GET", f"/v2/nvcf/functions/{FID}/versions")] * 2
    assert f"created function {SHIPPED['name']} id {FID} version {VID}" in out
    assert out.rstrip().endswith(f"{FID} {VID} {SHIPPED['name']} ACTIVE")
    assert "DEPLOYING" in err and "ACTIVE" in err


async def test_a_new_version_goes_to_the_functions_versions(recorder: Recorder) -> None:
    status, _, err = await recorder.deploy("create", str(DEFAULT_DEFINITION), "--function-id", FID)
    assert status == 0, err
    [request] = recorder.requests
    assert (request.method, request.path, request.body) == ("POST", f"/v2/nvcf/functions/{FID}/versions", SHIPPED)


async def test_list_undeploy_and_delete_use_the_documented_paths(recorder: Recorder) -> None:
    assert (await recorder.deploy("list"))[0] == 0
    assert (await recorder.deploy("list", FID))[0] == 0
    assert (await recorder.deploy("undeploy", FID, VID))[0] == 0
    assert (await recorder.deploy("delete", FID, VID))[0] == 0
    assert [(r.method, r.path) for r in recorder.requests] == [
        ("GET", "/v2/nvcf/functions?visibility=private"),
        ("GET", f"/v2/nvcf/functions/{FID}/versions"),
        ("DELETE", f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}"),
        ("DELETE", f"/v2/nvcf/functions/{FID}/versions/{VID}"),
    ]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in recorder.requests)


async def test_an_api_error_is_shown_with_its_status_and_message_never_a_traceback(recorder: Recorder) -> None:
    recorder.failure = (404, {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such fn"})
    status, out, err = await recorder.deploy("status", FID)
    assert (status, out, err) == (1, "", "nvcf-deploy: HTTP 404: no such fn\n")


async def test_an_unreachable_api_is_one_line_naming_the_url(unused_tcp_port: int) -> None:
    out, err = io.StringIO(), io.StringIO()
    url = f"http://127.0.0.1:{unused_tcp_port}"
    assert await run(["--base-url", url, "--retries", "0", "list"], out=out, err=err, env={"NVCF_API_KEY": KEY}) == 1
    assert err.getvalue().startswith(f"nvcf-deploy: GET {url}/v2/nvcf/functions?visibility=private: cannot reach")
    assert "Traceback" not in err.getvalue()


async def test_status_wait_on_error_shows_the_deployment_health_info(recorder: Recorder) -> None:
    recorder.statuses = ["DEPLOYING", "ERROR"]
    recorder.health_error = "instance never became healthy; last output:\nImportError: no module"
    status, out, err = await recorder.deploy("status", FID, VID, "--wait")
    assert status == 1
    assert out.strip() == f"{FID} {VID} {SHIPPED['name']} ERROR"
    assert "ImportError: no module" in err
    assert recorder.requests[-1].path == f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}"


async def test_status_wait_gives_up_after_the_timeout_with_status_3(recorder: Recorder) -> None:
    recorder.statuses = ["DEPLOYING"]
    status, _, err = await recorder.deploy("--timeout", "0.3", "status", FID, VID, "--wait")
    assert status == 3
    assert "still DEPLOYING after 0.3 s (instances are starting;" in err


async def test_the_key_comes_from_a_file_and_is_required(recorder: Recorder, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("nvapi-from-file\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert await run(["--base-url", recorder.url, "list"], out=out, err=err, env={}) == 2
    assert "an API key is required" in err.getvalue()
    argv = ["--base-url", recorder.url, "--api-key-file", str(tmp_path / "key"), "list"]
    assert await run(argv, out=out, err=err, env={}) == 0
    assert recorder.requests[-1].headers["Authorization"] == "Bearer nvapi-from-file"


async def test_dry_run_prints_the_exact_requests_and_sends_nothing(recorder: Recorder) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["--base-url", recorder.url, "--dry-run", "deploy", FID, VID, "--gpu", "L40S", "--instance-type", "t"]
    assert await run(argv, out=out, err=err, env={}) == 0
    assert recorder.requests == []
    head, _, body = out.getvalue().partition("\n\n")
    assert head.splitlines() == [
        f"POST {recorder.url}/v2/nvcf/deployments/functions/{FID}/versions/{VID}",
        "Authorization: Bearer <API key>",
        "Content-Type: application/json",
    ]
    assert json.loads(body) == {
        "deploymentSpecifications": [{"gpu": "L40S", "instanceType": "t", "minInstances": 1, "maxInstances": 1}]
    }
    assert KEY not in out.getvalue()


# --- NVCF-shaped answers (tests/deploy/fixtures/nvcf, written from NVCF's API reference and nvcf-core) ----

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvcf"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


async def test_list_asks_for_the_accounts_own_functions_unless_told_otherwise(recorder: Recorder) -> None:
    # NVCF lists authorized, private and public (NVIDIA's catalogue) functions when not filtered.
    recorder.canned = [(200, _fixture("functions_all_visibilities.json"), {})] * 2
    status, out, _ = await recorder.deploy("list")
    assert status == 0 and recorder.requests[-1].path == "/v2/nvcf/functions?visibility=private"
    status, out, _ = await recorder.deploy("list", "--visibility", "all")
    assert recorder.requests[-1].path == "/v2/nvcf/functions?visibility=authorized,private,public"
    assert [line.split()[-1] for line in out.splitlines()] == ["stream-kit-test-pattern", "ai-public-model"]
    status, _, err = await recorder.deploy("list", "--visibility", "mine")
    assert status == 2 and "--visibility: 'mine' is not 'all' or a list of authorized, private, public" in err


@pytest.mark.parametrize(
    ("final", "explained"),
    [
        ("DEGRADED", "DEGRADED: was ACTIVE, now no instance is ready"),
        ("INACTIVE", "INACTIVE: not deployed"),
        ("ERROR", "ERROR: every instance failed before it became ready; final"),
    ],
)
async def test_status_wait_ends_on_every_final_status_and_explains_it(
    recorder: Recorder, final: str, explained: str
) -> None:
    recorder.statuses = ["DEPLOYING", "DEGRADING", final]
    status, out, err = await recorder.deploy("status", FID, VID, "--wait")
    assert status == 1
    assert out.split()[-1] == final
    assert "DEGRADING (0 s): was ACTIVE, now below minInstances" in err
    assert explained in err


async def test_the_deployments_health_info_is_shown_as_nvcf_sends_it(recorder: Recorder) -> None:
    recorder.statuses = ["ERROR"]
    recorder.canned = [(200, {"functions": [_function("ERROR")]}, {}), (200, _fixture("deployment_error.json"), {})]
    status, _, err = await recorder.deploy("status", FID, VID, "--wait")
    assert status == 1
    assert "health check on port 8011 /v1/streaming/ready failed: connection refused" in err
    recorder.canned = [(200, _fixture("deployment_error.json"), {})]
    status, out, _ = await recorder.deploy("logs", FID, VID)
    assert status == 0
    assert out.splitlines()[:2] == [f"function {FID} version {VID}: ERROR", "L40S GFN gl40s_1.br25_2xlarge:"]
    assert recorder.requests[-1].path == f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}"


async def test_a_redeploy_refused_by_nvcf_shows_its_status_and_message(recorder: Recorder) -> None:
    recorder.canned = [(400, _fixture("problem_deployment_with_errors.json"), {})]
    status, _, err = await recorder.deploy("deploy", FID, VID, "--gpu", "L40S", "--instance-type", "t")
    assert status == 1
    assert err == (
        f"nvcf-deploy: HTTP 400: Function id '{FID}', version '{VID}': Function already has a deployment with errors\n"
    )
    assert len(recorder.requests) == 1  # a 400 is not tried again


async def test_transient_failures_are_tried_again_honouring_retry_after(recorder: Recorder) -> None:
    unavailable = _fixture("problem_unavailable.json")
    recorder.canned = [(503, unavailable, {"Retry-After": "1"}), (502, {"detail": "bad gateway"}, {})]
    started = time.monotonic()
    status, _, err = await recorder.deploy("list")
    assert status == 0
    assert time.monotonic() - started >= 1.0  # Retry-After: 1
    assert len(recorder.requests) == 3
    assert "HTTP 503: Service temporarily unavailable, please retry; trying again in 1.0 s" in err
    # A create is not repeated after an answer that may mean it was done (500), only after 503/429.
    recorder.requests.clear()
    recorder.canned = [(500, {"detail": "internal"}, {})]
    assert (await recorder.deploy("create", str(DEFAULT_DEFINITION)))[0] == 1
    assert len(recorder.requests) == 1
    recorder.requests.clear()
    recorder.canned = [(429, {"detail": "slow down"}, {"Retry-After": "0"})]
    assert (await recorder.deploy("create", str(DEFAULT_DEFINITION)))[0] == 0
    assert [r.method for r in recorder.requests] == ["POST", "POST"]


async def test_retries_give_up_after_the_limit_with_the_last_error(recorder: Recorder) -> None:
    recorder.canned = [(503, {"detail": "down"}, {"Retry-After": "0"})] * 3
    status, _, err = await recorder.deploy("--retries", "2", "list")
    assert status == 1 and len(recorder.requests) == 3
    assert err.splitlines()[-1] == "nvcf-deploy: HTTP 503: down"


async def test_update_graceful_undeploy_and_several_specifications(recorder: Recorder, tmp_path: Path) -> None:
    specs = [
        {"gpu": "L40S", "instanceType": "gl40s_1.br25_2xlarge", "backend": "GFN", "minInstances": 1, "maxInstances": 2},
        {"gpu": "L40S", "instanceType": "gl40s_1.br25_2xlarge", "clusters": ["eu-1"], "minInstances": 0,
         "maxInstances": 1, "regions": ["eu-north-1"], "maxRequestConcurrency": 1},
    ]  # fmt: skip
    (tmp_path / "specs.json").write_text(json.dumps(specs), encoding="utf-8")
    assert (await recorder.deploy("deploy", FID, VID, "--specs", str(tmp_path / "specs.json")))[0] == 0
    recorder.canned = [(200, {"deployment": {"functionStatus": "ACTIVE"}}, {})]
    argv = ("--gpu", "L40S", "--instance-type", "t", "--backend", "GFN", "--min-instances", "2", "--max-instances", "3")
    status, out, _ = await recorder.deploy("update", FID, VID, *argv)
    assert status == 0 and out.strip() == f"updated the deployment of function {FID} version {VID}: ACTIVE"
    assert (await recorder.deploy("undeploy", FID, VID, "--graceful"))[0] == 0
    deploy, update, undeploy = recorder.requests
    assert (deploy.method, deploy.body) == ("POST", {"deploymentSpecifications": specs})
    assert (update.method, update.path) == ("PUT", f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}")
    assert update.body["deploymentSpecifications"][0]["minInstances"] == 2
    assert (undeploy.method, undeploy.path) == (
        "DELETE",
        f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}?graceful=true",
    )
    status, _, err = await recorder.deploy("deploy", FID, VID, "--gpu", "L40S", "--instance-type", "t", "--backend",
                                           "GFN", "--clusters", "c1")  # fmt: skip
    assert status == 2 and "--backend and --clusters cannot be given together" in err


async def test_dry_run_masks_secret_values_as_it_masks_the_key(recorder: Recorder, tmp_path: Path) -> None:
    definition = _edited(lambda d: d.update(secrets=[{"name": "TURN_SECRET", "value": "s3cr3t-value"}]))
    path = tmp_path / "f.json"
    path.write_text(json.dumps(definition), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert await run(["--base-url", recorder.url, "--dry-run", "create", str(path)], out=out, err=err, env={}) == 0
    assert "s3cr3t-value" not in out.getvalue()
    body = json.loads(out.getvalue().partition("\n\n")[2])
    assert body["secrets"] == [{"name": "TURN_SECRET", "value": "<secret value>"}]


NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("attempt", "method", "status", "retry_after", "pause"),
    [
        (1, "GET", 503, None, 0.5),
        (2, "GET", 0, None, 1.0),  # no answer (timeout, refused)
        (4, "GET", 500, None, 4.0),
        (1, "GET", 503, "7", 7.0),
        (1, "GET", 429, "Wed, 02 Dec 2026 12:00:30 GMT", 30.0),
        (1, "GET", 503, "Wed, 02 Dec 2026 11:00:00 GMT", 0.0),  # a date past
        (1, "GET", 503, "3600", 60.0),  # capped
        (1, "GET", 503, "soon", 0.5),  # unreadable: backoff
        (5, "GET", 503, None, None),  # out of attempts
        (1, "GET", 404, None, None),
        (1, "POST", 500, None, None),  # may have created it
        (1, "POST", 0, None, None),
        (1, "POST", 503, "2", 2.0),
        (1, "DELETE", 502, None, 0.5),
    ],
)
def test_retry_pause(attempt: int, method: str, status: int, retry_after: str | None, pause: float | None) -> None:
    assert retry_pause(attempt, method=method, status=status, retry_after=retry_after, now=NOW) == pause


async def test_a_get_that_times_out_is_tried_again(unused_tcp_port: int) -> None:
    calls = 0

    async def slow_once(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1)  # past the client's 0.3 s request timeout
        return web.json_response({"functions": []})

    app = web.Application()
    app.router.add_get("/v2/nvcf/functions", slow_once)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    notices: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            client = ApiClient(f"http://127.0.0.1:{unused_tcp_port}", KEY, http, 0.3, notice=notices.append)
            assert await client.send(list_functions()) == {"functions": []}
    finally:
        await runner.cleanup()
    assert calls == 2
    assert notices == [
        f"GET http://127.0.0.1:{unused_tcp_port}/v2/nvcf/functions?visibility=private: no answer within 0.3 s; "
        "trying again in 0.5 s"
    ]
