"""The pre-flight check: catches the definition mistakes that make a streaming function fail on NVCF.

NVCF accepts many definitions that can never stream: it routes sign-ins to ``inferenceUrl`` on
``inferencePort`` and health-checks ``health.uri`` on ``health.port``, so each must be the stream
app's own (its start endpoint, its streaming port, its control server's ready endpoint on the
control port, as the container environment sets them or the stream app's defaults). `check`
returns every problem at once, each naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from deploy.nvcf_local.definition import MAX_NAME_LENGTH, NAME_PATTERN, DefinitionError, parse_definition

# The stream app's defaults (docs/stream-app.md), used when the definition's environment is silent.
DEFAULT_START_ENDPOINT = "/sign_in"
DEFAULT_STREAMING_PORT = 49100
DEFAULT_CONTROL_PORT = 8011
READY_URI = "/v1/streaming/ready"


@dataclass(frozen=True)
class Problem:
    """One mistake in the definition: the field and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _environment(data: dict[str, Any]) -> dict[str, str]:
    entries = data.get("containerEnvironment", [])
    if not isinstance(entries, list):
        return {}
    return {
        str(e["key"]): str(e["value"])
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("key"), str) and "value" in e
    }


def _int_or(text: str | None, default: int) -> int | str:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return text


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``repo/name:tag``), None when it has none; digests count as tags."""
    if "@" in image:
        return image.partition("@")[2]
    last = image.rsplit("/", 1)[-1]
    return last.partition(":")[2] if ":" in last else None


def _check_image(data: dict[str, Any]) -> list[Problem]:
    image = data.get("containerImage")
    if image is None:
        if "helmChart" in data:
            return []
        return [Problem("containerImage", "missing (NVCF needs containerImage or helmChart)")]
    if not isinstance(image, str) or not image.strip():
        return [Problem("containerImage", f"must be an image reference, got {json.dumps(image)}")]
    tag = image_tag(image)
    if tag is None:
        return [
            Problem(
                "containerImage",
                f"{image} has no tag, which means 'latest': tag every build (e.g. {image}:0.1.0) so a "
                "deployment runs the image you tested",
            )
        ]
    if tag == "latest":
        return [
            Problem(
                "containerImage",
                f"{image} is tagged 'latest': NVCF's workers cache images by tag, so instances may run an "
                "old build; tag every build with its own version",
            )
        ]
    return []


def _check_health(data: dict[str, Any], control_port: int | str) -> list[Problem]:
    health = data.get("health")
    if not isinstance(health, dict):
        return [Problem("health", "missing: NVCF must health-check the control server's ready endpoint")]
    problems = []
    if health.get("protocol") != "HTTP":
        problems.append(Problem("health.protocol", f'must be "HTTP", got {json.dumps(health.get("protocol"))}'))
    if health.get("uri") != READY_URI:
        problems.append(
            Problem(
                "health.uri",
                f"must be the control server's ready endpoint {json.dumps(READY_URI)}, "
                f"got {json.dumps(health.get('uri'))}",
            )
        )
    if health.get("port") != control_port:
        problems.append(
            Problem(
                "health.port",
                f"must be the control server's port {control_port} (CONTROL_SERVER_PORT), "
                f"got {json.dumps(health.get('port'))}",
            )
        )
    if health.get("expectedStatusCode") != 200:
        problems.append(
            Problem(
                "health.expectedStatusCode",
                f"must be 200 (ready answers 200 when it can take a session), "
                f"got {json.dumps(health.get('expectedStatusCode'))}",
            )
        )
    return problems


def check(data: object) -> list[Problem]:
    """Every problem with a STREAMING function definition (a create-function body); [] when it is good."""
    if not isinstance(data, dict):
        return [Problem("definition", "must be a JSON object")]
    problems: list[Problem] = []
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                "name",
                f"{json.dumps(name)} must match {NAME_PATTERN.pattern} and be at most {MAX_NAME_LENGTH} characters",
            )
        )
    if data.get("functionType") != "STREAMING":
        problems.append(
            Problem(
                "functionType",
                f'must be "STREAMING" (otherwise NVCF never opens a WebSocket to the stream app), '
                f"got {json.dumps(data.get('functionType'))}",
            )
        )
    env = _environment(data)
    start_endpoint = env.get("STREAMING_START_ENDPOINT", DEFAULT_START_ENDPOINT)
    if data.get("inferenceUrl") != start_endpoint:
        problems.append(
            Problem(
                "inferenceUrl",
                f"must be the stream app's start endpoint {json.dumps(start_endpoint)} (STREAMING_START_ENDPOINT), "
                f"got {json.dumps(data.get('inferenceUrl'))}",
            )
        )
    streaming_port = _int_or(env.get("STREAMING_SERVER_PORT"), DEFAULT_STREAMING_PORT)
    if data.get("inferencePort") != streaming_port:
        problems.append(
            Problem(
                "inferencePort",
                f"must be the stream app's streaming port {streaming_port} (STREAMING_SERVER_PORT), "
                f"got {json.dumps(data.get('inferencePort'))}",
            )
        )
    problems += _check_health(data, _int_or(env.get("CONTROL_SERVER_PORT"), DEFAULT_CONTROL_PORT))
    problems += _check_image(data)
    if "apiBodyFormat" in data and data["apiBodyFormat"] != "CUSTOM":
        problems.append(Problem("apiBodyFormat", f'must be "CUSTOM", got {json.dumps(data["apiBodyFormat"])}'))
    if not problems:
        # What the checks above do not cover (environment entries, durations...): nvcf-local's parser.
        try:
            parse_definition(data)
        except DefinitionError as exc:
            problems.append(Problem("definition", str(exc)))
    return problems
