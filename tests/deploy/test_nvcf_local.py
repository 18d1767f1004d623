"""nvcf-local: the definition it accepts, its settings, and the real process running the real stream app."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from multidict import CIMultiDict, CIMultiDictProxy
from support.processes import alive, wait_until_gone
from support.services import (
    DefinitionFactory,
    NvcfLocalFactory,
    RunningNvcfLocal,
    running_coturn,
    running_nvcf_local,
    write_definition,
)

from benchmarks.ports import free_port
from deploy.nvcf_local.config import DEFAULT_DEFINITION, ConfigError, load_config
from deploy.nvcf_local.definition import (
    DefinitionError,
    load_definition,
    parse_definition,
    parse_duration,
    with_ports,
)
from deploy.nvcf_local.instance import InstancePorts, Placement, connect_host, instance_environment
from deploy.nvcf_local.relay import choose_protocol, parse_sign_in
from deploy.nvcf_local.sessions import poll_pauses, reconnect_window

# --- the function definition -------------------------------------------------------------------

SHIPPED: dict[str, Any] = json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8"))


def test_the_shipped_test_pattern_definition_is_a_streaming_create_function_body() -> None:
    definition = parse_definition(SHIPPED)
    assert SHIPPED["name"] == "stream-kit-test-pattern"
    assert SHIPPED["functionType"] == "STREAMING"
    assert SHIPPED["apiBodyFormat"] == "CUSTOM"
    assert (definition.inference_url, definition.inference_port) == ("/sign_in", 49100)
    assert SHIPPED["health"] == {
        "protocol": "HTTP",
        "uri": "/v1/streaming/ready",
        "port": 8011,
        "timeout": "PT10S",
        "expectedStatusCode": 200,
    }
    assert definition.environment == {
        "CONTROL_SERVER_PORT": "8011",
        "STREAMING_SERVER_PORT": "49100",
        "STREAMING_START_ENDPOINT": "/sign_in",
        "STREAMING_PORT_BINDING_RANGE": "47998-48020",
    }
    image, _, tag = SHIPPED["containerImage"].rpartition(":")
    assert image.startswith("nvcr.io/") and tag and tag != "latest"
    assert definition.ignored_fields == () and definition.warnings == ()


def _edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(SHIPPED)
    edit(data)
    return data


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value

    return edit


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        del data[last]

    return edit


def _env(index: int, entry: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["containerEnvironment"][index] = entry

    return edit


BAD_DEFINITIONS = [
    (
        _set("functionType", "DEFAULT"),
        'functionType must be "STREAMING" (nvcf-local runs streaming functions only), got "DEFAULT"',
    ),
    (_delete("functionType"), "functionType is missing"),
    (_delete("inferenceUrl"), "inferenceUrl is missing"),
    (_set("inferenceUrl", "sign_in"), "inferenceUrl must be a URL path starting with '/', got \"sign_in\""),
    (_set("inferenceUrl", 5), "inferenceUrl must be a string, got 5"),
    (_delete("inferencePort"), "inferencePort is missing"),
    (_set("inferencePort", "49100"), 'inferencePort must be an integer port 1-65535, got "49100"'),
    (_set("inferencePort", 70000), "inferencePort must be an integer port 1-65535, got 70000"),
    (_set("inferencePort", True), "inferencePort must be an integer port 1-65535, got true"),
    (_delete("health"), "health is missing: a STREAMING function needs a health check on its control server"),
    (_set("health", []), "health must be an object, got a list"),
    (_set("health.protocol", "gRPC"), 'health.protocol must be "HTTP" (the control server speaks HTTP), got "gRPC"'),
    (_delete("health.uri"), "health.uri is missing"),
    (_set("health.uri", "ready"), "health.uri must be a URL path starting with '/', got \"ready\""),
    (_set("health.port", "8011"), 'health.port must be an integer port 1-65535, got "8011"'),
    (_delete("health.port"), "health.port is missing"),
    (_set("health.timeout", "10s"), 'health.timeout must be an ISO 8601 duration such as "PT10S", got "10s"'),
    (_set("health.timeout", 10), "health.timeout must be a string, got 10"),
    (_set("health.timeout", "PT0S"), 'health.timeout must be longer than zero, got "PT0S"'),
    (
        _set("health.expectedStatusCode", "200"),
        'health.expectedStatusCode must be an integer HTTP status 100-599, got "200"',
    ),
    (_set("health.expectedStatusCode", 42), "health.expectedStatusCode must be an integer HTTP status 100-599, got 42"),
    (_delete("health.expectedStatusCode"), "health.expectedStatusCode is missing"),
    (
        _set("name", "-leading-dash"),
        'name "-leading-dash" must match ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*$ and be at most 128 characters',
    ),
    (
        _set("name", "a" * 129),
        f'name "{"a" * 129}" must match ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*$ and be at most 128 characters',
    ),
    (_delete("name"), "name is missing"),
    (_delete("containerImage"), "containerImage is missing (NVCF needs containerImage or helmChart)"),
    (_set("apiBodyFormat", "PREDICT_V2"), 'apiBodyFormat must be "CUSTOM" for a STREAMING function, got "PREDICT_V2"'),
    (
        _set("containerEnvironment", {"A": "1"}),
        "containerEnvironment must be a list of {key, value} objects, got an object",
    ),
    (
        _env(1, "STREAMING_SERVER_PORT=49100"),
        'containerEnvironment[1] must be an object {key, value}, got "STREAMING_SERVER_PORT=49100"',
    ),
    (
        _env(2, {"key": "BAD-NAME", "value": "x"}),
        'containerEnvironment[2].key "BAD-NAME" is not an environment variable name',
    ),
    (
        _env(0, {"key": "CONTROL_SERVER_PORT", "value": 8011}),
        "containerEnvironment[0].value must be a string, got 8011",
    ),
    (_env(3, {"key": "STREAMING_PORT_BINDING_RANGE"}), "containerEnvironment[3].value is missing"),
    (
        _env(3, {"key": "CONTROL_SERVER_PORT", "value": "8011"}),
        'containerEnvironment[3].key "CONTROL_SERVER_PORT" appears more than once',
    ),
]


@pytest.mark.parametrize(("edit", "message"), BAD_DEFINITIONS, ids=[m[:60] for _, m in BAD_DEFINITIONS])
def test_a_bad_definition_is_refused_with_a_precise_message(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(_edited(edit))
    assert str(raised.value) == message


def test_a_definition_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"^the definition must be a JSON object, got a list$"):
        parse_definition([SHIPPED])


def test_a_definition_moved_to_other_ports_stays_consistent_and_leaves_the_original() -> None:
    moved = parse_definition(with_ports(SHIPPED, 18111, 19100))
    assert (moved.health.port, moved.inference_port) == (18111, 19100)
    assert moved.environment["CONTROL_SERVER_PORT"] == "18111"
    assert moved.environment["STREAMING_SERVER_PORT"] == "19100"
    assert SHIPPED == json.loads(DEFAULT_DEFINITION.read_text(encoding="utf-8"))


def test_a_file_that_is_not_json_is_refused_naming_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "function.json"
    path.write_text('{"name": "x",\n  functionType: 1}')
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    assert (
        str(raised.value)
        == f"{path}: not valid JSON: Expecting property name enclosed in double quotes at line 2 column 3"
    )


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=f"^{tmp_path}/absent.json: cannot read: No such file or directory$"):
        load_definition(tmp_path / "absent.json")


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "function.json"
    path.write_text(json.dumps(_edited(_set("functionType", "CONTAINER"))))
    with pytest.raises(DefinitionError, match=f'^{path}: functionType must be "STREAMING"'):
        load_definition(path)


def test_nvcf_fields_nvcf_local_does_not_use_are_listed_not_refused() -> None:
    data = _edited(_set("tags", ["demo"]))
    data["secrets"] = [{"name": "x", "value": "y"}]
    assert parse_definition(data).ignored_fields == ("secrets", "tags")


def test_environment_that_contradicts_the_ports_gives_a_warning() -> None:
    definition = parse_definition(_edited(_set("inferencePort", 49200)))
    assert definition.warnings == (
        "containerEnvironment STREAMING_SERVER_PORT=49100 differs from inferencePort 49200: "
        "the instance will not listen where NVCF connects",
    )


def test_one_port_for_health_and_inference_gives_a_warning() -> None:
    data = _edited(_set("inferencePort", 8011))
    data["containerEnvironment"] = []
    assert parse_definition(data).warnings == (
        "health.port and inferencePort are both 8011: the stream app's control server and "
        "streaming server cannot listen on one port",
    )


@pytest.mark.parametrize(("text", "seconds"), [("PT10S", 10), ("PT1M30S", 90), ("PT0.5S", 0.5), ("P1DT1H", 90000)])
def test_health_timeouts_are_iso_8601_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "PT", "P", "PT10", "10S", "PT-1S"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- settings ----------------------------------------------------------------------------------

TURN_ENV = {"NVCF_LOCAL_TURN": "127.0.0.1:3478", "NVCF_LOCAL_TURN_USER": "u", "NVCF_LOCAL_TURN_PASSWORD": "p"}


def test_the_api_key_is_required() -> None:
    with pytest.raises(
        ConfigError, match=r"^an API key is required: set NVCF_LOCAL_API_KEY or pass --api-key-file PATH$"
    ):
        load_config([], TURN_ENV)


def test_the_turn_server_is_required() -> None:
    with pytest.raises(ConfigError, match=r"^a STUN/TURN server is required"):
        load_config([], {"NVCF_LOCAL_API_KEY": "k"})


def test_the_api_key_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    config = load_config(["--api-key-file", str(tmp_path / "key")], {**TURN_ENV, "NVCF_LOCAL_API_KEY": "from-env"})
    assert config.api_key == "from-file"


def test_flags_override_the_environment() -> None:
    env = {**TURN_ENV, "NVCF_LOCAL_API_KEY": "k", "NVCF_LOCAL_PORT": "9000", "NVCF_LOCAL_HOST": "127.0.0.2"}
    config = load_config(["--port", "9001"], env)
    assert (config.host, config.port) == ("127.0.0.2", 9001)


def test_defaults_follow_the_brief() -> None:
    config = load_config([], {**TURN_ENV, "NVCF_LOCAL_API_KEY": "k"})
    assert (config.host, config.port, config.definition) == ("127.0.0.1", 8090, None)
    assert config.instance_command == (sys.executable, "-m", "stream_app")
    assert config.function_id != load_config([], {**TURN_ENV, "NVCF_LOCAL_API_KEY": "k"}).function_id
    assert (config.turn.host, config.turn.port, config.turn.user, config.turn.password) == ("127.0.0.1", 3478, "u", "p")


def test_a_function_id_must_be_a_uuid() -> None:
    with pytest.raises(ConfigError, match=r"^--function-id: badly formed hexadecimal UUID string$"):
        load_config(["--function-id", "not-a-uuid"], {**TURN_ENV, "NVCF_LOCAL_API_KEY": "k"})


def test_the_api_key_is_not_in_the_config_repr() -> None:
    config = load_config(
        [], {**TURN_ENV, "NVCF_LOCAL_API_KEY": "very-secret-key", "NVCF_LOCAL_TURN_PASSWORD": "turn-secret"}
    )
    assert "very-secret-key" not in repr(config) and "turn-secret" not in repr(config)


def test_help_lists_every_setting_with_its_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.nvcf_local", "--help"], capture_output=True, text=True, check=True, timeout=30
    )
    text = " ".join(result.stdout.split())
    for flag, env in [
        ("--definition", "NVCF_LOCAL_DEFINITION"),
        ("--host", "NVCF_LOCAL_HOST"),
        ("--port", "NVCF_LOCAL_PORT"),
        ("--function-id", "NVCF_LOCAL_FUNCTION_ID"),
        ("--version-id", "NVCF_LOCAL_VERSION_ID"),
        ("--instance-command", "NVCF_LOCAL_INSTANCE_COMMAND"),
        ("--health-poll-interval", "NVCF_LOCAL_HEALTH_POLL_INTERVAL"),
        ("--start-timeout", "NVCF_LOCAL_START_TIMEOUT"),
        ("--log-level", "NVCF_LOCAL_LOG_LEVEL"),
        ("--reconnect-window", "NVCF_LOCAL_RECONNECT_WINDOW"),
        ("--end-session-poll-interval", "NVCF_LOCAL_END_SESSION_POLL_INTERVAL"),
        ("--turn", "NVCF_LOCAL_TURN"),
        ("--turn-user", "NVCF_LOCAL_TURN_USER"),
        ("--turn-credential-ttl", "NVCF_LOCAL_TURN_CREDENTIAL_TTL"),
        ("--log-format", "LOG_FORMAT"),
        ("--api-key-file", "NVCF_LOCAL_API_KEY_FILE"),
    ]:
        assert flag in text and env in text, flag
    assert "NVCF_LOCAL_API_KEY" in text


def test_an_invalid_definition_stops_it_with_status_2(tmp_path: Path) -> None:
    path = tmp_path / "function.json"
    path.write_text(json.dumps(_edited(_delete("health"))))
    result = subprocess.run(
        [sys.executable, "-m", "deploy.nvcf_local", "--definition", str(path)],
        env={**os.environ, **TURN_ENV, "NVCF_LOCAL_API_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"nvcf-local: invalid function definition: {path}: health is missing: "
        "a STREAMING function needs a health check on its control server"
    )


def test_a_taken_port_stops_it_with_status_1_before_any_instance_starts() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "deploy.nvcf_local",
                "--port",
                str(port),
                "--instance-command",
                "/nonexistent/instance",
            ],
            env={**os.environ, **TURN_ENV, "NVCF_LOCAL_API_KEY": "k"},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"nvcf-local: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "/nonexistent/instance" not in result.stderr


# --- reading a sign-in -------------------------------------------------------------------------


def _headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_credentials_are_read_from_headers() -> None:
    sign_in = parse_sign_in(_headers(("authorization", "bearer K"), ("function-id", "F"), ("Function-Version-ID", "V")))
    assert (sign_in.api_key, sign_in.function_id, sign_in.version_id) == ("K", "F", "V")


def test_credentials_are_read_from_subprotocol_items_in_any_case() -> None:
    sign_in = parse_sign_in(
        _headers(
            ("Sec-WebSocket-Protocol", "nvcf-stream-v1, Authorization.K"), ("Sec-WebSocket-Protocol", "FUNCTION-ID.F")
        )
    )
    assert (sign_in.api_key, sign_in.function_id, sign_in.version_id) == ("K", "F", None)
    assert sign_in.app_protocols == ("nvcf-stream-v1",)


def test_headers_win_over_subprotocol_items() -> None:
    sign_in = parse_sign_in(
        _headers(
            ("Authorization", "Bearer H"),
            ("Function-ID", "HF"),
            ("Sec-WebSocket-Protocol", "authorization.P, function-id.PF"),
        )
    )
    assert (sign_in.api_key, sign_in.function_id) == ("H", "HF")


def test_an_authorization_header_that_is_not_bearer_is_a_problem() -> None:
    sign_in = parse_sign_in(_headers(("Authorization", "Basic dTpw"), ("Sec-WebSocket-Protocol", "authorization.K")))
    assert sign_in.api_key is None
    assert sign_in.authorization_problem == "the Authorization header must be 'Bearer <API key>'"


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, 300.0), ("60", 60.0), ("7200", 1800.0), ("0", 0.0), ("-5", 300.0), ("soon", 300.0)],
)
def test_a_sign_in_may_ask_for_a_reconnect_window_up_to_nvcfs_cap(header: str | None, expected: float) -> None:
    # NICLLS caps X-NVCF-RECONNECT-WINDOW-SECS at 1800 s (NVIDIA's notes on Kit 109 sessions on NVCF).
    assert reconnect_window(header, 300.0) == expected


def test_endsession_polls_start_short_and_back_off_to_the_interval() -> None:
    pauses = poll_pauses(1.0)
    assert [next(pauses) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_the_echoed_protocol_is_never_the_authorization_item() -> None:
    only_items = parse_sign_in(_headers(("Sec-WebSocket-Protocol", "authorization.K, function-id.F")))
    assert choose_protocol(only_items, None) == "function-id.F"
    secret_only = parse_sign_in(_headers(("Sec-WebSocket-Protocol", "authorization.K")))
    assert choose_protocol(secret_only, None) is None
    with_app = parse_sign_in(_headers(("Sec-WebSocket-Protocol", "authorization.K, function-id.F, app-a, app-b")))
    assert choose_protocol(with_app, "app-b") == "app-b"
    assert choose_protocol(with_app, None) == "app-a"


# --- the running process -------------------------------------------------------------------------


async def _attempt(url: str, headers: dict[str, str] | None = None, protocols: str | None = None) -> tuple[int, str]:
    """A WebSocket upgrade request by hand, so a refusal's status and body can be read."""
    request = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        **(headers or {}),
    }
    if protocols is not None:
        request["Sec-WebSocket-Protocol"] = protocols
    async with aiohttp.ClientSession() as http:
        async with http.get(url.replace("ws://", "http://"), headers=request) as response:
            return response.status, (await response.text()).strip() if response.status != 101 else ""


async def _hello(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    hello: dict[str, Any] = json.loads(message.data)
    assert (hello["v"], hello["type"]) == (1, "hello")
    return hello


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningNvcfLocal]:
    """One ACTIVE nvcf-local for the tests that leave it as they found it (saves a start per test)."""
    async with running_coturn() as turn:
        async with running_nvcf_local(turn, write_definition(tmp_path_factory.mktemp("shared"))) as running:
            await running.wait_for_status("ACTIVE")
            yield running


on_shared = pytest.mark.asyncio(loop_scope="module")


@asynccontextmanager
async def _client(running: RunningNvcfLocal) -> AsyncIterator[aiohttp.ClientSession]:
    # The instance serves one session at a time; wait until the previous test's session is over.
    await running.wait_until_idle()
    async with aiohttp.ClientSession() as session:
        yield session


@on_shared
async def test_it_reaches_active_and_reports_the_version(shared: RunningNvcfLocal) -> None:
    async with _client(shared) as http:
        async with http.get(shared.status_url, headers={"Authorization": f"Bearer {shared.api_key}"}) as response:
            assert response.status == 200
            body = await response.json()
    [version] = body["functions"]
    assert version["id"] == shared.function_id
    assert version["versionId"] == shared.version_id
    assert version["name"] == "stream-kit-test-pattern"
    assert version["status"] == "ACTIVE"
    assert version["inferencePort"] == shared.definition.streaming_port


@on_shared
async def test_the_stream_app_is_ready_once_active(shared: RunningNvcfLocal) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{shared.control_url}/v1/streaming/ready") as response:
            assert response.status == 200


@on_shared
async def test_the_status_api_needs_the_key_and_knows_only_its_function(shared: RunningNvcfLocal) -> None:
    async with _client(shared) as http:
        async with http.get(shared.status_url) as response:
            assert response.status == 401
        async with http.get(shared.status_url, headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
        key = {"Authorization": f"Bearer {shared.api_key}"}
        other = f"{shared.base_url}/v2/nvcf/functions/00000000-0000-4000-8000-000000000000/versions"
        async with http.get(other, headers=key) as response:
            assert response.status == 404
        async with http.get(f"{shared.status_url}/{shared.version_id}", headers=key) as response:
            assert (await response.json())["function"]["status"] == "ACTIVE"
        async with http.get(f"{shared.status_url}/{shared.function_id}", headers=key) as response:
            assert response.status == 404


@on_shared
async def test_the_instance_gets_nvcf_environment_and_none_of_nvcf_local_secrets(shared: RunningNvcfLocal) -> None:
    [instance] = shared.instances()
    env = instance.environ()
    assert env["NVCF_FUNCTION_ID"] == shared.function_id
    assert env["NVCF_FUNCTION_VERSION_ID"] == shared.version_id
    # NVIDIA/nvcf's workload environment (common.MakeWorkloadEnvVars); the node's address is the sidecar's only.
    assert env["NVCF_FUNCTION_NAME"] == "stream-kit-test-pattern"
    assert (env["NVCF_NCA_ID"], env["NVCF_REGION"], env["NVCF_BACKEND"]) == ("local", "local", "local")
    assert (env["NVCF_INSTANCETYPE"], env["NVCF_ENV"]) == ("local", "local")
    assert "NVCF_WORKER_NODE_IP" not in env
    assert env["CONTROL_SERVER_PORT"] == str(shared.definition.control_port)
    assert env["STREAMING_PORT_BINDING_RANGE"] == "47998-48020"
    assert not [key for key in env if key.startswith("NVCF_LOCAL_")]
    assert shared.api_key not in "\0".join(env.values())


@on_shared
async def test_the_instance_listens_only_on_nvcf_locals_own_host(shared: RunningNvcfLocal) -> None:
    [instance] = shared.instances()
    listening = {c.laddr for c in instance.net_connections(kind="tcp") if c.status == "LISTEN"}
    assert {address.port for address in listening} >= {
        shared.definition.control_port,
        shared.definition.streaming_port,
    }
    assert {address.ip for address in listening} == {"127.0.0.1"}


def test_the_instance_environment_names_nvcf_locals_host_and_drops_the_node_address() -> None:
    definition = parse_definition(
        _edited(lambda d: d["containerEnvironment"].append({"key": "STREAM_APP_HOST", "value": "0.0.0.0"}))
    )
    env = instance_environment(
        function_id="f",
        version_id="v",
        definition=definition,
        ports=InstancePorts(8011, 49100),
        base={"NVCF_WORKER_NODE_IP": "10.0.0.1", "STREAM_APP_HOST": "0.0.0.0", "NVCF_LOCAL_API_KEY": "k"},
        host="127.0.0.2",
        placement=Placement(gpu="L40S", instance_type="gl40s_1.br25_2xlarge", backend="GFN", region="us-west-2"),
    )
    assert env["STREAM_APP_HOST"] == "127.0.0.2"
    assert "NVCF_WORKER_NODE_IP" not in env and "NVCF_LOCAL_API_KEY" not in env
    assert (env["NVCF_INSTANCETYPE"], env["NVCF_BACKEND"], env["NVCF_REGION"], env["NVCF_INSTANCETYPE_VALUE"]) == (
        "gl40s_1.br25_2xlarge",
        "GFN",
        "us-west-2",
        "L40S",
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("box", "box")],
)
def test_instances_are_reached_on_the_host_they_listen_on(host: str, expected: str) -> None:
    assert connect_host(host) == expected


@on_shared
async def test_header_credentials_open_a_session_carrying_the_pushed_turn_credentials(shared: RunningNvcfLocal) -> None:
    turn = shared.turn
    async with _client(shared) as http, http.ws_connect(shared.sign_in_url, headers=shared.auth_headers) as ws:
        assert ws.protocol is None
        hello = await _hello(ws)
        with_credentials = [server for server in hello["iceServers"] if server.get("username")]
        assert with_credentials == [
            {
                "urls": [f"turn:127.0.0.1:{turn.port}?transport=udp", f"turn:127.0.0.1:{turn.port}?transport=tcp"],
                "username": turn.user,
                "credential": turn.password,
            }
        ]
        # And the other way: the stream app answers a message it cannot use with an error message.
        await ws.send_str(json.dumps({"v": 1, "type": "no-such-type"}))
        answer = json.loads((await ws.receive(timeout=10)).data)
        assert (answer["type"], answer["code"]) == ("error", "unknown-type")


@on_shared
async def test_subprotocol_credentials_open_a_session_and_only_the_app_protocol_is_echoed(
    shared: RunningNvcfLocal,
) -> None:
    protocols = ["nvcf-stream-v1", f"Authorization.{shared.api_key}", f"function-id.{shared.function_id}"]
    async with _client(shared) as http, http.ws_connect(shared.sign_in_url, protocols=protocols) as ws:
        assert ws.protocol == "nvcf-stream-v1"
        assert ws._response is not None and ws._response.headers.get("NVCF-REQID")
        await _hello(ws)
        await ws.send_str(json.dumps({"v": 1, "type": "no-such-type"}))
        assert json.loads((await ws.receive(timeout=10)).data)["code"] == "unknown-type"


@on_shared
async def test_a_client_with_only_relay_items_gets_the_function_id_item_echoed(shared: RunningNvcfLocal) -> None:
    protocols = [f"authorization.{shared.api_key}", f"function-id.{shared.function_id}"]
    async with _client(shared) as http, http.ws_connect(shared.sign_in_url, protocols=protocols) as ws:
        assert ws.protocol == f"function-id.{shared.function_id}"
        await _hello(ws)


@on_shared
async def test_a_second_sign_in_while_a_session_runs_is_refused_with_503(shared: RunningNvcfLocal) -> None:
    async with _client(shared) as http, http.ws_connect(shared.sign_in_url, headers=shared.auth_headers) as ws:
        await _hello(ws)
        assert await _attempt(shared.sign_in_url, shared.auth_headers) == (
            503,
            "function instance busy: 1 of 1 instances have a session (maxInstances 1)",
        )


@on_shared
async def test_a_plain_get_with_good_credentials_is_refused_with_400(shared: RunningNvcfLocal) -> None:
    async with _client(shared) as http:
        async with http.get(shared.sign_in_url.replace("ws://", "http://"), headers=shared.auth_headers) as response:
            assert (response.status, (await response.text()).strip()) == (
                400,
                "sign-in must be a WebSocket upgrade request",
            )


class _InstanceTap:
    """An HTTP listener standing where the instance's WebSocket server should be; counts connections.

    It answers every request 404, so a sign-in that gets through is refused by "the instance".
    """

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_refusals_come_before_any_connection_to_the_instance(
    nvcf_local_factory: NvcfLocalFactory, definition_factory: DefinitionFactory
) -> None:
    # The stream app listens on its own port; the definition sends the relay to the tap instead.
    tap_port = free_port()
    running = await nvcf_local_factory(definition_factory(lambda data: data.update(inferencePort=tap_port)))
    await running.wait_for_status("ACTIVE")
    tap = _InstanceTap()
    await tap.start(tap_port)
    try:
        url, key, fid = running.sign_in_url, running.api_key, running.function_id
        refusals = [
            (await _attempt(url, {"Function-ID": fid}), 401),
            (await _attempt(url, {"Authorization": "Bearer wrong", "Function-ID": fid}), 401),
            (await _attempt(url, protocols=f"authorization.wrong, function-id.{fid}"), 401),
            (await _attempt(url, {"Authorization": f"Bearer {key}"}), 400),
            (
                await _attempt(
                    url, {"Authorization": f"Bearer {key}", "Function-ID": "00000000-0000-4000-8000-000000000000"}
                ),
                404,
            ),
            (
                await _attempt(url, {"Authorization": f"Bearer {key}", "Function-ID": fid, "Function-Version-ID": fid}),
                404,
            ),
        ]
        assert [(answer[0], expected) for answer, expected in refusals] == [(e, e) for _, e in refusals]
        assert [answer[1] for answer, _ in refusals] == [
            "API key missing: send 'Authorization: Bearer <key>' or the subprotocol item 'authorization.<key>'",
            "API key invalid",
            "API key invalid",
            "function id missing: send the Function-ID header or the subprotocol item 'function-id.<id>'",
            "function 00000000-0000-4000-8000-000000000000 not found",
            f"version {fid} of function {fid} not found",
        ]
        assert tap.connections == 0
        # The same tap sees a sign-in with good credentials, and the relay reports its refusal.
        assert await _attempt(url, running.auth_headers) == (502, "function instance refused the WebSocket: HTTP 404")
        assert tap.connections == 1
    finally:
        await tap.stop()


async def test_an_instance_that_cannot_be_reached_gives_502(
    nvcf_local_factory: NvcfLocalFactory, definition_factory: DefinitionFactory
) -> None:
    nobody = free_port()
    running = await nvcf_local_factory(definition_factory(lambda data: data.update(inferencePort=nobody)))
    await running.wait_for_status("ACTIVE")
    status, reason = await _attempt(running.sign_in_url, running.auth_headers)
    assert status == 502
    assert reason.startswith("function instance unreachable:"), reason


async def test_an_instance_that_is_not_healthy_yet_gives_503_and_deploying(
    nvcf_local_factory: NvcfLocalFactory,
) -> None:
    never_healthy = f"{sys.executable} -c 'import time; time.sleep(60)'"
    running = await nvcf_local_factory(extra_args=("--instance-command", never_healthy))
    assert await running.status() == "DEPLOYING"
    assert await _attempt(running.sign_in_url, running.auth_headers) == (
        503,
        "function instance not ready: status DEPLOYING",
    )


async def test_an_instance_that_keeps_failing_to_start_turns_the_status_to_error(
    nvcf_local_factory: NvcfLocalFactory,
) -> None:
    running = await nvcf_local_factory(extra_args=("--instance-command", f"{sys.executable} -c 'raise SystemExit(3)'"))
    await running.wait_for_status("ERROR", timeout=15)
    assert any("exited with status 3 before it could become healthy" in line for line in running.output)
    assert await _attempt(running.sign_in_url, running.auth_headers) == (
        503,
        "function instance not ready: status ERROR",
    )


async def test_an_instance_is_not_started_where_another_process_already_listens(
    nvcf_local_factory: NvcfLocalFactory, definition_factory: DefinitionFactory
) -> None:
    definition = definition_factory()
    with socket.create_server(("127.0.0.1", definition.control_port)):
        running = await nvcf_local_factory(definition)
        for _ in range(100):
            if any("something else already listens on health.port" in line for line in running.output):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("\n".join(running.output))
        assert running.instances() == []
        assert await running.status() in ("DEPLOYING", "ERROR")


async def test_an_instance_that_exits_is_restarted(nvcf_local: RunningNvcfLocal) -> None:
    [first] = nvcf_local.instances()
    first.kill()
    # Active, then none ready: DEGRADED (NVIDIA/nvcf FunctionStatusLifeCycle.md), until replaced.
    await nvcf_local.wait_for_status("DEGRADED", timeout=3)
    await nvcf_local.wait_for_status("ACTIVE")
    [second] = nvcf_local.instances()
    assert second.pid != first.pid
    assert any("exited with status -9; starting a new instance" in line for line in nvcf_local.output)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_it_and_its_instance(nvcf_local: RunningNvcfLocal, sig: signal.Signals) -> None:
    processes = [nvcf_local.process, *nvcf_local.instances()]
    assert len(processes) == 2
    os.kill(nvcf_local.child.pid, sig)
    assert await asyncio.wait_for(nvcf_local.child.wait(), 10) == 0
    assert await wait_until_gone(processes, timeout=3) == []


async def test_shutdown_closes_open_sessions_with_going_away(
    nvcf_local: RunningNvcfLocal, http: aiohttp.ClientSession
) -> None:
    instance = nvcf_local.instances()
    async with http.ws_connect(nvcf_local.sign_in_url, headers=nvcf_local.auth_headers) as ws:
        await _hello(ws)
        os.kill(nvcf_local.child.pid, signal.SIGTERM)
        message = await ws.receive(timeout=10)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1001
    assert await asyncio.wait_for(nvcf_local.child.wait(), 10) == 0
    assert await wait_until_gone(instance, timeout=3) == []


async def test_its_instance_dies_with_it_when_it_is_killed(nvcf_local: RunningNvcfLocal) -> None:
    [instance] = nvcf_local.instances()
    nvcf_local.process.kill()
    await nvcf_local.child.wait()
    assert await wait_until_gone([instance], timeout=3) == []
    assert not alive(instance)


async def test_with_min_instances_0_it_is_active_at_once_and_starts_an_instance_for_a_sign_in(
    nvcf_local_factory: NvcfLocalFactory, http: aiohttp.ClientSession
) -> None:
    running = await nvcf_local_factory(extra_args=("--min-instances", "0", "--max-instances", "1"))
    await running.wait_for_status("ACTIVE", timeout=5)
    assert running.instances() == []
    async with http.ws_connect(running.sign_in_url, headers=running.auth_headers) as ws:
        assert (await _hello(ws))["type"] == "hello"
        assert len(running.instances()) == 1
    assert any("started for a sign-in" in line for line in running.output)
