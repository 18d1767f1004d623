"""The pre-flight check: catches the definition mistakes that make a streaming function fail on NVCF.

NVCF accepts many definitions that can never stream: it routes sign-ins to ``inferenceUrl`` on
``inferencePort`` and health-checks ``health.uri`` on ``health.port``, so each must be the stream
app's own (its start endpoint, its streaming port, its control server's ready endpoint on the
control port, as the container environment sets them or the stream app's defaults). It also
refuses what NVCF refuses at creation and can be checked offline, each rule with its source:

- NVIDIA/nvcf nvcf-core ``CreateFunctionRequest`` and ``NvcfConstants``: description <= 256
  characters; <= 64 tags of <= 128 characters in ``[a-zA-Z0-9-_:=]``; secret names
  ``^[a-z0-9A-Z][a-z0-9A-Z_.-]*$`` of <= 48 characters, values 1-32768 characters (``SecretDto``);
  ``containerImage`` xor ``helmChart``; ``helmChart`` and ``helmChartServiceName`` both or neither;
  a Helm function takes no ``containerArgs`` or ``containerEnvironment``.
- NVCF's function-creation page (the seed document): ports 8080 and 8010 are reserved in the
  container; media ports are 47998-48020 (``STREAMING_PORT_BINDING_RANGE``); LLS runs on GFN
  instances only; a Helm chart URL is ``https://helm.ngc.nvidia.com/<org>[/<team>]/charts/<name>-<version>.tgz``
  with no ``-`` in the version and no ``_`` in the name.

`check` returns every problem at once, each naming the field; `warnings` what is worth saying
but does not stop a create (the example's placeholder image, which is an error when creating on
NVCF itself: `check(..., on_nvcf=True)`). `check_deployment` checks deployment specifications.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from deploy.nvcf_local.definition import MAX_NAME_LENGTH, NAME_PATTERN, DefinitionError, parse_definition

# The stream app's defaults (docs/stream-app.md), used when the definition's environment is silent.
DEFAULT_START_ENDPOINT = "/sign_in"
DEFAULT_STREAMING_PORT = 49100
DEFAULT_CONTROL_PORT = 8011
READY_URI = "/v1/streaming/ready"
RESERVED_PORTS = (8080, 8010)
PORT_RANGE = "47998-48020"
MAX_DESCRIPTION = 256
MAX_TAGS, MAX_TAG_LENGTH = 64, 128
TAG_PATTERN = re.compile(r"^[a-zA-Z0-9\-_:=]+$")
SECRET_NAME_PATTERN = re.compile(r"^[a-z0-9A-Z][a-z0-9A-Z_.\-]*$")
MAX_SECRET_NAME, MAX_SECRET_VALUE = 48, 32768
HELM_CHART_URL = re.compile(
    r"^https://helm\.ngc\.nvidia\.com/(?P<org>[^/]+)(/(?P<team>[^/]+))?/charts/(?P<name>[^/]+?)-(?P<version>\d[^/]*)\.tgz$"
)
PLACEHOLDER_ORG = "your-org"


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


def _check_ports(data: dict[str, Any], env: dict[str, str]) -> list[Problem]:
    used = [
        ("inferencePort", data.get("inferencePort")),
        ("health.port", data.get("health", {}).get("port") if isinstance(data.get("health"), dict) else None),
        ("CONTROL_SERVER_PORT", _int_or(env.get("CONTROL_SERVER_PORT"), DEFAULT_CONTROL_PORT)),
        ("STREAMING_SERVER_PORT", _int_or(env.get("STREAMING_SERVER_PORT"), DEFAULT_STREAMING_PORT)),
    ]
    problems, seen = [], set()
    for name, port in used:
        # One message per port: health.port and CONTROL_SERVER_PORT name the same one.
        if port in RESERVED_PORTS and port not in seen:
            seen.add(port)
            problems.append(
                Problem(name, f"{port} is reserved by NVCF inside the container (monitoring uses 8080 and 8010)")
            )
    binding = env.get("STREAMING_PORT_BINDING_RANGE")
    if binding is not None and binding.replace(" ", "") != PORT_RANGE:
        problems.append(
            Problem(
                "STREAMING_PORT_BINDING_RANGE",
                f"must be NVCF's media port range {PORT_RANGE} (NVCF forwards no other UDP port), got {binding!r}",
            )
        )
    return problems


def _check_metadata(data: dict[str, Any]) -> list[Problem]:
    problems = []
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        length = len(description) if isinstance(description, str) else "not a string"
        problems.append(Problem("description", f"must be a string of at most {MAX_DESCRIPTION} characters ({length})"))
    tags = data.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            problems.append(Problem("tags", f"must be a list of at most {MAX_TAGS} tags"))
        else:
            for index, tag in enumerate(tags):
                if not isinstance(tag, str) or len(tag) > MAX_TAG_LENGTH or not TAG_PATTERN.match(tag):
                    problems.append(
                        Problem(
                            f"tags[{index}]",
                            f"{json.dumps(tag)} must be 1-{MAX_TAG_LENGTH} characters of {TAG_PATTERN.pattern[1:-1]}",
                        )
                    )
    return problems + _check_secrets(data.get("secrets"))


def _check_secrets(secrets: object) -> list[Problem]:
    if secrets is None:
        return []
    if not isinstance(secrets, list):
        return [Problem("secrets", 'must be a list of {"name": ..., "value": ...}')]
    problems, seen = [], set()
    for index, secret in enumerate(secrets):
        where = f"secrets[{index}]"
        if not isinstance(secret, dict):
            problems.append(Problem(where, 'must be {"name": ..., "value": ...}'))
            continue
        name = secret.get("name")
        if not isinstance(name, str) or len(name) > MAX_SECRET_NAME or not SECRET_NAME_PATTERN.match(name):
            problems.append(
                Problem(
                    f"{where}.name",
                    f"{json.dumps(name)} must be 1-{MAX_SECRET_NAME} characters matching {SECRET_NAME_PATTERN.pattern}",
                )
            )
        elif name in seen:
            problems.append(Problem(f"{where}.name", f"{name} is given twice"))
        seen.add(name)
        value = secret.get("value")
        text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else None
        if text is None or not 1 <= len(text.strip()) <= MAX_SECRET_VALUE:
            # Never the value itself: it is a secret.
            problems.append(
                Problem(f"{where}.value", f"must be a string or JSON object of 1-{MAX_SECRET_VALUE} characters")
            )
    return problems


def _check_helm(data: dict[str, Any]) -> list[Problem]:
    chart, service = data.get("helmChart"), data.get("helmChartServiceName")
    problems = []
    if chart is not None and data.get("containerImage") is not None:
        # Which of the two it was meant to be is unclear: the Helm rules below would only add noise.
        return [Problem("helmChart", "cannot be given with containerImage: a function is one or the other")]
    if (chart is None) != (not service):
        problems.append(
            Problem(
                "helmChartServiceName",
                "a Helm function needs both helmChart and helmChartServiceName (the chart's fixed Service name)"
                if chart is not None
                else "is only for a Helm function (with helmChart)",
            )
        )
    if chart is None:
        return problems
    for key in ("containerEnvironment", "containerArgs"):
        if key in data:
            problems.append(
                Problem(key, "a Helm function takes its settings as chart values (configuration), not " + key)
            )
    match = HELM_CHART_URL.match(chart) if isinstance(chart, str) else None
    if match is None:
        problems.append(
            Problem(
                "helmChart",
                f"{json.dumps(chart)} must be https://helm.ngc.nvidia.com/<org>[/<team>]/charts/<name>-<version>.tgz",
            )
        )
    elif "-" in match["version"]:
        problems.append(Problem("helmChart", f"the chart version {match['version']} must not contain '-'"))
    elif not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", match["name"]):
        problems.append(Problem("helmChart", f"the chart name {match['name']} must be lowercase letters, digits, '-'"))
    return problems


def _placeholder(data: dict[str, Any]) -> Problem | None:
    for key in ("containerImage", "helmChart"):
        reference = data.get(key)
        if isinstance(reference, str) and f"/{PLACEHOLDER_ORG}/" in f"/{reference}":
            return Problem(
                key,
                f"{reference} is the example's placeholder: push yours to your NGC registry and name it here",
            )
    return None


def warnings(data: object) -> list[Problem]:
    """What does not stop a create on nvcf-local but is worth saying (a placeholder image)."""
    if not isinstance(data, dict):
        return []
    placeholder = _placeholder(data)
    return [placeholder] if placeholder is not None else []


def on_nvcf(base_url: str) -> bool:
    """Whether `base_url` is NVCF itself rather than nvcf-local: anything not on loopback."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def check_deployment(function_type: object, specs: list[dict[str, Any]]) -> list[Problem]:
    """Deployment specifications NVCF would accept but cannot stream: LLS runs on GFN instances only."""
    if function_type != "STREAMING":
        return []
    return [
        Problem(
            f"deploymentSpecifications[{index}].backend",
            f"{json.dumps(spec.get('backend'))}: low-latency streaming runs only on GFN instances (backend GFN)",
        )
        for index, spec in enumerate(specs)
        if str(spec.get("backend", "")).upper() != "GFN" and not spec.get("clusters")
    ]


def check(data: object, *, on_nvcf: bool = False) -> list[Problem]:
    """Every problem with a STREAMING function definition (a create-function body); [] when it is good.

    `on_nvcf`: the definition is about to be created on NVCF itself, where the image is pulled.
    """
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
    problems += _check_ports(data, env)
    problems += _check_metadata(data)
    problems += _check_helm(data)
    placeholder = _placeholder(data)
    if on_nvcf and placeholder is not None:
        problems.append(placeholder)
    if "apiBodyFormat" in data and data["apiBodyFormat"] != "CUSTOM":
        problems.append(Problem("apiBodyFormat", f'must be "CUSTOM", got {json.dumps(data["apiBodyFormat"])}'))
    if not problems:
        # What the checks above do not cover (environment entries, durations...): nvcf-local's parser.
        try:
            parse_definition(data)
        except DefinitionError as exc:
            problems.append(Problem("definition", str(exc)))
    return problems
