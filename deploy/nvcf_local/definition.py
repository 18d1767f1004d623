"""A STREAMING function definition: the JSON body of NVCF's create-function API, validated.

`parse_definition` checks what nvcf-local needs to run the function the way NVCF would (function
type, inference URL and port, health check, container environment) and says precisely what is
wrong when something is. Fields NVCF knows that nvcf-local does not use (``tags``, ``secrets``,
...) are accepted and reported in `FunctionDefinition.ignored_fields`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
MAX_NAME_LENGTH = 128
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ISO 8601 durations as NVCF writes them ("PT10S"); years and months make no sense for a timeout.
_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_USED_FIELDS = frozenset(
    {
        "name",
        "description",
        "functionType",
        "inferenceUrl",
        "inferencePort",
        "containerImage",
        "helmChart",
        "apiBodyFormat",
        "health",
        "containerEnvironment",
    }
)
# The LLS contract's own variable for each value the definition also names: when both are given
# and differ, NVCF would route to a port the container does not listen on.
_ENV_CROSS_CHECKS = (
    ("CONTROL_SERVER_PORT", "health.port"),
    ("STREAMING_SERVER_PORT", "inferencePort"),
    ("STREAMING_START_ENDPOINT", "inferenceUrl"),
)


class DefinitionError(ValueError):
    """The definition cannot be run; the message names the field and what is wrong with it."""


@dataclass(frozen=True)
class HealthCheck:
    """How NVCF decides an instance is healthy: ``GET <uri>`` on ``port`` answers ``expected_status``."""

    protocol: str
    uri: str
    port: int
    timeout_seconds: float
    expected_status: int


@dataclass(frozen=True)
class FunctionDefinition:
    """The parts of a STREAMING function definition nvcf-local acts on."""

    name: str
    description: str
    inference_url: str
    inference_port: int
    container_image: str | None
    health: HealthCheck
    container_environment: tuple[tuple[str, str], ...]
    ignored_fields: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def environment(self) -> dict[str, str]:
        """``containerEnvironment`` as a mapping."""
        return dict(self.container_environment)


def _describe(value: object) -> str:
    """A JSON value as the user wrote it: quotes tell a string "8011" from the number 8011."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)


def _require(obj: Mapping[str, object], key: str, where: str) -> object:
    if key not in obj:
        raise DefinitionError(f"{where}{key} is missing")
    return obj[key]


def _string(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise DefinitionError(f"{field} must be a string, got {_describe(value)}")
    return value


def _path(value: object, field: str) -> str:
    text = _string(value, field)
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise DefinitionError(f"{field} must be a URL path starting with '/', got {json.dumps(text)}")
    return text


def _port(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise DefinitionError(f"{field} must be an integer port 1-65535, got {_describe(value)}")
    return value


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as ``PT10S`` or ``PT1M30S``; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(text)
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def _health(value: object) -> HealthCheck:
    if value is None:
        raise DefinitionError("health is missing: a STREAMING function needs a health check on its control server")
    if not isinstance(value, dict):
        raise DefinitionError(f"health must be an object, got {_describe(value)}")
    protocol = _string(_require(value, "protocol", "health."), "health.protocol")
    if protocol != "HTTP":
        raise DefinitionError(
            f'health.protocol must be "HTTP" (the control server speaks HTTP), got {json.dumps(protocol)}'
        )
    uri = _path(_require(value, "uri", "health."), "health.uri")
    port = _port(_require(value, "port", "health."), "health.port")
    timeout_text = _string(_require(value, "timeout", "health."), "health.timeout")
    try:
        timeout = parse_duration(timeout_text)
    except ValueError:
        raise DefinitionError(
            f'health.timeout must be an ISO 8601 duration such as "PT10S", got {json.dumps(timeout_text)}'
        ) from None
    if timeout <= 0:
        raise DefinitionError(f"health.timeout must be longer than zero, got {json.dumps(timeout_text)}")
    status = _require(value, "expectedStatusCode", "health.")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise DefinitionError(
            f"health.expectedStatusCode must be an integer HTTP status 100-599, got {_describe(status)}"
        )
    return HealthCheck(protocol=protocol, uri=uri, port=port, timeout_seconds=timeout, expected_status=status)


def _environment(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise DefinitionError(f"containerEnvironment must be a list of {{key, value}} objects, got {_describe(value)}")
    items: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = f"containerEnvironment[{index}]"
        if not isinstance(entry, dict):
            raise DefinitionError(f"{where} must be an object {{key, value}}, got {_describe(entry)}")
        key = _string(_require(entry, "key", f"{where}."), f"{where}.key")
        if not _ENV_NAME.match(key):
            raise DefinitionError(f"{where}.key {json.dumps(key)} is not an environment variable name")
        item = _string(_require(entry, "value", f"{where}."), f"{where}.value")
        if key in seen:
            raise DefinitionError(f"{where}.key {json.dumps(key)} appears more than once")
        seen.add(key)
        items.append((key, item))
    return tuple(items)


def parse_definition(data: object) -> FunctionDefinition:
    """Validate a decoded create-function body; raise `DefinitionError` naming the first problem."""
    if not isinstance(data, dict):
        raise DefinitionError(f"the definition must be a JSON object, got {_describe(data)}")
    name = _string(_require(data, "name", ""), "name")
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME_LENGTH:
        raise DefinitionError(
            f"name {json.dumps(name)} must match {NAME_PATTERN.pattern} and be at most {MAX_NAME_LENGTH} characters"
        )
    function_type = _require(data, "functionType", "")
    if function_type != "STREAMING":
        raise DefinitionError(
            'functionType must be "STREAMING" (nvcf-local runs streaming functions only), '
            f"got {_describe(function_type)}"
        )
    inference_url = _path(_require(data, "inferenceUrl", ""), "inferenceUrl")
    inference_port = _port(_require(data, "inferencePort", ""), "inferencePort")
    image = data.get("containerImage")
    if image is not None:
        image = _string(image, "containerImage")
    elif "helmChart" not in data:
        raise DefinitionError("containerImage is missing (NVCF needs containerImage or helmChart)")
    body_format = data.get("apiBodyFormat")
    if body_format is not None and body_format != "CUSTOM":
        raise DefinitionError(f'apiBodyFormat must be "CUSTOM" for a STREAMING function, got {_describe(body_format)}')
    health = _health(data.get("health"))
    environment = _environment(data.get("containerEnvironment", []))
    description = _string(data.get("description", ""), "description")
    env = dict(environment)
    defined = {"health.port": str(health.port), "inferencePort": str(inference_port), "inferenceUrl": inference_url}
    warnings = tuple(
        f"containerEnvironment {variable}={env[variable]} differs from {field} {defined[field]}: "
        f"the instance will not listen where NVCF connects"
        for variable, field in _ENV_CROSS_CHECKS
        if variable in env and env[variable] != defined[field]
    )
    if health.port == inference_port:
        warnings += (
            f"health.port and inferencePort are both {inference_port}: the stream app's control server and "
            "streaming server cannot listen on one port",
        )
    return FunctionDefinition(
        name=name,
        description=description,
        inference_url=inference_url,
        inference_port=inference_port,
        container_image=image,
        health=health,
        container_environment=environment,
        ignored_fields=tuple(sorted(set(data) - _USED_FIELDS)),
        warnings=warnings,
    )


def load_definition(path: Path) -> FunctionDefinition:
    """Read and validate a definition file; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DefinitionError(f"{path}: not valid JSON: nested too deeply") from None
    try:
        return parse_definition(data)
    except DefinitionError as exc:
        raise DefinitionError(f"{path}: {exc}") from None


def with_ports(data: dict[str, Any], control_port: int, streaming_port: int) -> dict[str, Any]:
    """`data`, a definition as JSON, moved to other ports: the health check and CONTROL_SERVER_PORT
    on `control_port`, the inference port and STREAMING_SERVER_PORT on `streaming_port`.

    What a test or a benchmark does to run the shipped definition beside another copy of it.
    """
    moved = copy.deepcopy(data)
    moved["health"]["port"] = control_port
    moved["inferencePort"] = streaming_port
    ports = {"CONTROL_SERVER_PORT": str(control_port), "STREAMING_SERVER_PORT": str(streaming_port)}
    for entry in moved.get("containerEnvironment", ()):
        entry["value"] = ports.get(entry["key"], entry["value"])
    return moved
