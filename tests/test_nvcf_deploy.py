"""nvcf-deploy: the pre-flight check, the exact requests it sends (REFERENCE.md section 1), how it reports errors.

The requests are checked against a recording HTTP server on loopback that answers like NVCF's
control API; the end-to-end run against nvcf-local is in test_nvcf_deploy_e2e.py.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from deploy.nvcf_deploy.cli import run
from deploy.nvcf_deploy.preflight import check
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
        ("GET", "/v2/nvcf/functions"),
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
    assert await run(["--base-url", url, "list"], out=out, err=err, env={"NVCF_API_KEY": KEY}) == 1
    assert err.getvalue().startswith(f"nvcf-deploy: GET {url}/v2/nvcf/functions: cannot reach the API:")
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
    assert "still DEPLOYING after 0.3 s" in err


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
