"""nvcf-local's control API: validation, NVCF's status codes, ERROR with the instance's last lines, SQLite state.

nvcf-local runs in the test's event loop here (`make_app`), its instances as real child processes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support.services import write_definition

from benchmarks.ports import free_port
from deploy.nvcf_local.app import make_app
from deploy.nvcf_local.config import NvcfLocalConfig, TurnServer
from deploy.nvcf_local.store import Store, StoredDeployment, StoredVersion
from deploy.nvcf_local.turn_credentials import rest_credentials

KEY = "local-test-key"
FAILING = (sys.executable, "-c", "print('boom: the stream app cannot start', flush=True); raise SystemExit(3)")

Api = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """``await api(method, path, body=None, key=KEY)`` against an nvcf-local whose instances fail at once."""
    config = NvcfLocalConfig(
        api_key=KEY,
        turn=TurnServer("127.0.0.1", 3478, "u", "p"),
        instance_command=FAILING,
        health_poll_interval=0.1,
    )
    runner = web.AppRunner(make_app(config, Store(tmp_path / "state.sqlite3")))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, body: object = None, key: str | None = KEY) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            async with http.request(method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers) as response:
                text = await response.text()
                return response.status, json.loads(text) if text else None

        try:
            yield call
        finally:
            await runner.cleanup()


def _definition(tmp_path: Path) -> dict[str, Any]:
    return write_definition(tmp_path).data


SPEC = {"deploymentSpecifications": [{"gpu": "L40S", "instanceType": "local", "minInstances": 1, "maxInstances": 1}]}


async def test_every_call_needs_the_api_key(api: Api) -> None:
    assert (await api("GET", "/v2/nvcf/functions", key=None))[0] == 401
    status, body = await api("GET", "/v2/nvcf/functions", key="wrong")
    assert (status, body["detail"]) == (401, "send 'Authorization: Bearer <API key>'")


async def test_create_answers_the_function_inactive_and_lists_it(api: Api, tmp_path: Path) -> None:
    status, body = await api("POST", "/v2/nvcf/functions", _definition(tmp_path))
    assert status == 200
    function = body["function"]
    assert (function["status"], function["functionType"], function["name"]) == (
        "INACTIVE",
        "STREAMING",
        "stream-kit-test-pattern",
    )
    status, body = await api("GET", "/v2/nvcf/functions")
    assert [(f["id"], f["versionId"]) for f in body["functions"]] == [(function["id"], function["versionId"])]
    status, body = await api("POST", f"/v2/nvcf/functions/{function['id']}/versions", _definition(tmp_path))
    assert status == 200 and body["function"]["id"] == function["id"]
    assert len((await api("GET", f"/v2/nvcf/functions/{function['id']}/versions"))[1]["functions"]) == 2


async def test_a_broken_definition_gets_400_naming_the_field(api: Api, tmp_path: Path) -> None:
    definition = _definition(tmp_path)
    definition["inferencePort"] = "49100"
    status, body = await api("POST", "/v2/nvcf/functions", definition)
    assert (status, body["detail"]) == (400, 'inferencePort must be an integer port 1-65535, got "49100"')


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        ({}, 'the body must be {"deploymentSpecifications": [...]}'),
        ({"deploymentSpecifications": []}, "deploymentSpecifications must not be empty"),
        (
            {"deploymentSpecifications": [{"instanceType": "x", "minInstances": 1, "maxInstances": 1}]},
            "deploymentSpecifications[0].gpu must be a non-empty string",
        ),
        (
            {"deploymentSpecifications": [{"gpu": "L40S", "instanceType": "x", "minInstances": 2, "maxInstances": 1}]},
            "deploymentSpecifications[0]: minInstances 2 must be lesser than or equal to maxInstances 1",
        ),
        (
            {
                "deploymentSpecifications": [
                    {"gpu": "L40S", "instanceType": "x", "minInstances": 1, "maxInstances": 1, "regions": "us"}
                ]
            },
            "deploymentSpecifications[0].regions must be a list of non-empty strings",
        ),
        (
            {
                "deploymentSpecifications": [
                    {"gpu": "L40S", "instanceType": "x", "minInstances": 1, "maxInstances": 1, "backend": "GFN",
                     "clusters": ["c1"]}
                ]
            },
            "deploymentSpecifications[0]: backend and clusters cannot be given together",
        ),
        (
            {
                "deploymentSpecifications": [
                    {"gpu": "L40S", "instanceType": "x", "minInstances": 1, "maxInstances": 1,
                     "configuration": {"replicas": 1}}
                ]
            },
            "deploymentSpecifications[0].configuration (Helm values) must be empty for a container function",
        ),
        (
            {
                "deploymentSpecifications": [
                    {"gpu": "L40S", "instanceType": "x", "minInstances": 1, "maxInstances": 1,
                     "maxRequestConcurrency": 0}
                ]
            },
            "deploymentSpecifications[0].maxRequestConcurrency must be an integer >= 1",
        ),
    ],
)  # fmt: skip
# Rules and messages from NVIDIA/nvcf's DeploymentValidationService.
async def test_a_bad_deployment_specification_gets_400(
    api: Api, tmp_path: Path, spec: dict[str, Any], detail: str
) -> None:
    function = (await api("POST", "/v2/nvcf/functions", _definition(tmp_path)))[1]["function"]
    status, body = await api(
        "POST", f"/v2/nvcf/deployments/functions/{function['id']}/versions/{function['versionId']}", spec
    )
    assert (status, body["detail"]) == (400, detail)


async def test_unknown_ids_get_404(api: Api) -> None:
    fid = "00000000-0000-4000-8000-000000000000"
    assert (await api("GET", f"/v2/nvcf/functions/{fid}/versions"))[0] == 404
    assert (await api("POST", f"/v2/nvcf/deployments/functions/{fid}/versions/{fid}", SPEC))[0] == 404
    assert (await api("DELETE", f"/v2/nvcf/functions/not-a-uuid/versions/{fid}"))[0] == 404


async def test_an_instance_that_never_comes_up_turns_the_deployment_to_error_with_its_last_lines(
    api: Api, tmp_path: Path
) -> None:
    function = (await api("POST", "/v2/nvcf/functions", _definition(tmp_path)))[1]["function"]
    path = f"/v2/nvcf/deployments/functions/{function['id']}/versions/{function['versionId']}"
    ids = f"Function id '{function['id']}', version '{function['versionId']}'"
    status, body = await api("POST", path, SPEC)
    assert (status, body["deployment"]["functionStatus"]) == (200, "DEPLOYING")
    # NVIDIA/nvcf FunctionDeploymentService.createFunctionDeployment: 400 while deployed ...
    assert await _problem(api, "POST", path, SPEC) == (
        400,
        f"{ids}: Status DEPLOYING, use PATCH endpoint to update gpu-specification",
    )
    deadline = time.monotonic() + 20
    while (await api("GET", f"/v2/nvcf/functions/{function['id']}/versions"))[1]["functions"][0]["status"] != "ERROR":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    [info] = (await api("GET", path))[1]["deployment"]["healthInfo"]
    assert info["gpu"] == "L40S"
    assert "boom: the stream app cannot start" in info["error"]
    # ... and, ERROR being final, until undeployed; no instance starts any more.
    assert await _problem(api, "POST", path, SPEC) == (400, f"{ids}: Function already has a deployment with errors")
    assert await _problem(api, "PUT", path, SPEC) == (400, f"{ids}: Invalid status 'ERROR'")
    instances = f"/local/v1/functions/{function['id']}/versions/{function['versionId']}/instances"
    for _ in range(10):
        assert (await api("GET", instances))[1]["instances"] == []
        await asyncio.sleep(0.1)
    status, body = await api("DELETE", path)
    assert (status, body["function"]["status"]) == (200, "INACTIVE")
    assert (await api("DELETE", path))[0] == 404
    assert (await api("POST", path, SPEC))[0] == 200  # undeployed: it may be deployed again


async def _problem(api: Api, method: str, path: str, body: object = None) -> tuple[int, str]:
    status, answer = await api(method, path, body)
    return status, answer["detail"]


async def test_the_function_list_honours_nvcfs_visibility_filter(api: Api, tmp_path: Path) -> None:
    function = (await api("POST", "/v2/nvcf/functions", _definition(tmp_path)))[1]["function"]
    # nvcf-local's functions are all the account's own: private; it has no public catalogue.
    for query in ("", "?visibility=private", "?visibility=authorized,private", "?visibility=public&visibility=private"):
        status, body = await api("GET", f"/v2/nvcf/functions{query}")
        assert (status, [f["id"] for f in body["functions"]]) == (200, [function["id"]])
    for query in ("?visibility=public", "?visibility=authorized"):
        assert (await api("GET", f"/v2/nvcf/functions{query}"))[1]["functions"] == []
    assert await _problem(api, "GET", "/v2/nvcf/functions?visibility=mine") == (
        400,
        "visibility mine is not one of authorized, private, public",
    )


def test_the_store_keeps_versions_and_deployments_across_a_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    store.add_version(StoredVersion("f", "v", "name", {"name": "name"}, "t"))
    store.set_deployment(StoredDeployment("f", "v", [{"gpu": "L40S"}], "t"))
    store.close()
    again = Store(tmp_path / "s.sqlite3")
    assert [(v.function_id, v.definition) for v in again.versions()] == [("f", {"name": "name"})]
    assert [d.specifications for d in again.deployments()] == [[{"gpu": "L40S"}]]
    again.delete_version("f", "v")
    assert again.deployments() == []


def test_rest_credentials_follow_coturns_scheme() -> None:
    # base64(HMAC-SHA1("secret", "1700000600:abc")), computed independently with openssl.
    creds = rest_credentials("secret", "abc", now=1_700_000_000, ttl=600)
    assert creds.username == "1700000600:abc"
    assert creds.password == "938t0wY0kHdWFI0EWiShFAB+qL8="


async def test_a_helm_based_function_is_created_and_takes_chart_values_as_configuration(api: Api) -> None:
    definition = json.loads((Path(__file__).resolve().parents[2] / "deploy/functions/stream-app-helm.json").read_text())
    status, body = await api("POST", "/v2/nvcf/functions", definition)
    assert status == 200, body
    function = body["function"]
    path = f"/v2/nvcf/deployments/functions/{function['id']}/versions/{function['versionId']}"
    spec = {**SPEC["deploymentSpecifications"][0], "configuration": {"resumeWindow": "120"}}
    status, body = await api("POST", path, {"deploymentSpecifications": [spec]})
    assert status == 200, body
    assert body["deployment"]["deploymentSpecifications"][0]["configuration"] == {"resumeWindow": "120"}
