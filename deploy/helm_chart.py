"""Render the kit's Helm charts without `helm`, and check them against NVCF's Helm rules.

No registry these machines reach ships `helm` (docs/deploy.md, "The Helm path"), so the charts are written
in a subset of Helm's template language that this module renders exactly as Helm would, and
refuses anything else:

- ``{{ .Values.a.b }}``, ``{{ .Release.Name }}``, ``{{ .Chart.Name }}``, ``{{ .Chart.Version }}``,
  ``{{ .Chart.AppVersion }}``, each optionally ``| quote``: a scalar value;
- a line holding only ``{{- if .Values.a.b }}``, ``{{- if not .Values.a.b }}``, ``{{- else }}`` or
  ``{{- end }}``: the lines between are kept or dropped on the value's truth (blocks nest).

A value the chart's values.yaml does not define is an error (Helm would render it empty).

`nvcf_helm_problems` holds a rendered chart to NVCF's rules for Helm-based functions (the seed
document, "Helm-based function creation"): only ConfigMap, Secret, Service (ClusterIP), PVC,
Deployment, ReplicaSet, StatefulSet, Job, CronJob, Pod, ServiceAccount, Role and RoleBinding; no
hooks; a fixed (not templated) Service named as ``helmChartServiceName`` whose port is the
``inferencePort``; a chart version without ``-``; the pull secret from ``ngcImagePullSecretName``;
pod volumes of configMap, secret and persistentVolumeClaim only; pods within Kubernetes' Pod
Security Standards (`restricted_problems`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ChartError(ValueError):
    """A chart this renderer cannot render; the message names the template and line."""


@dataclass(frozen=True)
class Chart:
    """A chart directory: Chart.yaml's name and versions, values.yaml, the templates' text."""

    name: str
    version: str
    app_version: str
    values: dict[str, Any]
    templates: dict[str, str]


@dataclass(frozen=True)
class Rendered:
    """One Kubernetes object and the template it came from."""

    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))


def load_chart(directory: Path) -> Chart:
    """Read a chart directory (Chart.yaml, values.yaml, templates/*.yaml)."""
    meta = yaml.safe_load((directory / "Chart.yaml").read_text(encoding="utf-8"))
    values = yaml.safe_load((directory / "values.yaml").read_text(encoding="utf-8")) or {}
    templates = {
        path.name: path.read_text(encoding="utf-8") for path in sorted((directory / "templates").glob("*.yaml"))
    }
    return Chart(str(meta["name"]), str(meta["version"]), str(meta.get("appVersion", "")), values, templates)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` merged in, maps key by key (as ``helm --set`` and ``-f`` do)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_EXPRESSION = re.compile(r"{{-?\s*(.*?)\s*-?}}")
_DIRECTIVE = re.compile(r"^\s*{{-?\s*(if not|if|else|end)\s*(\.Values\.[\w.]+)?\s*-?}}\s*$")
_VALUE = re.compile(r"^\.Values\.([\w.]+)(\s*\|\s*quote)?$")


def _lookup(values: Mapping[str, Any], path: str, where: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ChartError(f"{where}: .Values.{path} is not defined in values.yaml")
        node = node[part]
    return node


def _scalar(value: Any, quote: bool, where: str) -> str:
    if isinstance(value, (dict, list)):
        raise ChartError(f"{where}: a map or list cannot be substituted; give each field its own value")
    if quote:
        return json.dumps("" if value is None else str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def render_text(chart: Chart, template: str, values: Mapping[str, Any], release: str) -> str:
    """One template rendered to text."""
    builtins = {".Release.Name": release, ".Chart.Name": chart.name, ".Chart.Version": chart.version}
    builtins[".Chart.AppVersion"] = chart.app_version
    out: list[str] = []
    keeping: list[bool] = []
    for number, line in enumerate(chart.templates[template].splitlines(), 1):
        where = f"{template}:{number}"
        directive = _DIRECTIVE.match(line)
        if directive:
            word, path = directive.groups()
            if word in ("if", "if not"):
                if path is None:
                    raise ChartError(f"{where}: if needs a .Values path")
                truth = bool(_lookup(values, path[len(".Values.") :], where))
                keeping.append(truth if word == "if" else not truth)
            elif not keeping:
                raise ChartError(f"{where}: {word} without if")
            elif word == "else":
                keeping[-1] = not keeping[-1]
            else:
                keeping.pop()
            continue
        if not all(keeping):
            continue

        def substitute(match: re.Match[str], where: str = where) -> str:
            expression = match.group(1)
            name, piped, pipe = expression.partition("|")
            if name.strip() in builtins and (not piped or pipe.strip() == "quote"):
                return _scalar(builtins[name.strip()], bool(piped), where)
            value = _VALUE.match(expression)
            if value is None:
                raise ChartError(f"{where}: {{{{ {expression} }}}} is outside the template subset this kit renders")
            return _scalar(_lookup(values, value.group(1), where), bool(value.group(2)), where)

        out.append(_EXPRESSION.sub(substitute, line))
    if keeping:
        raise ChartError(f"{template}: an if has no end")
    return "\n".join(out) + "\n"


def render(chart: Chart, *, release: str = "release", overrides: Mapping[str, Any] | None = None) -> list[Rendered]:
    """Every object the chart renders to with its values (and `overrides`)."""
    values = merge(chart.values, overrides or {})
    rendered = []
    for template in chart.templates:
        text = render_text(chart, template, values, release)
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise ChartError(f"{template}: renders to invalid YAML: {exc}") from None
        rendered += [Rendered(template, doc) for doc in documents if doc]
    return rendered


# --- the rules ------------------------------------------------------------------------------------

NVCF_KINDS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "Service",
        "PersistentVolumeClaim",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "Job",
        "CronJob",
        "Pod",
        "ServiceAccount",
        "Role",
        "RoleBinding",
    }
)
NVCF_VOLUMES = frozenset({"configMap", "secret", "persistentVolumeClaim"})


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a Pod or of an object with a pod template; None for other kinds."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return dict(spec)
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "Job", "CronJob", "DaemonSet"):
        return dict((spec.get("template") or {}).get("spec") or {})
    return None


def restricted_problems(where: str, spec: Mapping[str, Any]) -> list[str]:
    """Kubernetes' Pod Security Standards, Restricted profile (the parts a chart sets): non-root,
    no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, no host namespaces,
    ports or paths."""
    problems = []
    pod = spec.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{where}: {key} is not allowed")
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        name = f"{where} container {container.get('name')}"
        context = container.get("securityContext") or {}
        if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        if context.get("runAsUser", pod.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser must not be 0")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if context.get("privileged"):
            problems.append(f"{name}: privileged is not allowed")
        if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities must drop ALL")
        seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile must be RuntimeDefault")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{name}: hostPort is not allowed")
    if any("hostPath" in volume for volume in spec.get("volumes") or []):
        problems.append(f"{where}: hostPath volumes are not allowed")
    return problems


def nvcf_helm_problems(
    chart: Chart, objects: list[Rendered], *, service_name: str, inference_port: int, values: Mapping[str, Any]
) -> list[str]:
    """Every way the rendered chart breaks NVCF's rules for a Helm-based function."""
    problems = []
    if "-" in chart.version:
        problems.append(f"Chart.yaml: version {chart.version} must not contain '-'")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", chart.name):
        problems.append(f"Chart.yaml: name {chart.name} must be lowercase letters, digits and '-'")
    pull_secret = values.get("ngcImagePullSecretName")
    if not pull_secret:
        problems.append("values.yaml: ngcImagePullSecretName must name the pull secret NVCF creates")
    for item in objects:
        where = f"{item.template}: {item.kind} {item.name}"
        if item.kind not in NVCF_KINDS:
            problems.append(f"{where}: kind {item.kind} is not allowed in a Helm-based function")
        annotations = (item.obj.get("metadata") or {}).get("annotations") or {}
        if any(key.startswith("helm.sh/hook") for key in annotations):
            problems.append(f"{where}: hooks are not run by NVCF")
        if item.kind == "Service" and (item.obj.get("spec") or {}).get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"{where}: a Service must be of type ClusterIP")
        spec = pod_spec(item.obj)
        if spec is None:
            continue
        problems += restricted_problems(where, spec)
        for volume in spec.get("volumes") or []:
            kinds = set(volume) - {"name"}
            if not kinds <= NVCF_VOLUMES:
                problems.append(f"{where}: volume {volume.get('name')} must be a configMap, secret or PVC")
        if {"name": pull_secret} not in (spec.get("imagePullSecrets") or []):
            problems.append(f"{where}: imagePullSecrets must name .Values.ngcImagePullSecretName")
    services = [item for item in objects if item.kind == "Service" and item.name == service_name]
    if not services:
        problems.append(f"no Service named {service_name} (helmChartServiceName)")
    for service in services:
        ports = [port.get("port") for port in (service.obj.get("spec") or {}).get("ports") or []]
        if inference_port not in ports:
            problems.append(f"Service {service_name}: no port {inference_port} (the function's inferencePort)")
    return problems


def templated_service_names(chart: Chart) -> list[str]:
    """Services whose name changes with the release name: NVCF needs ``helmChartServiceName`` fixed."""

    def names(release: str) -> set[tuple[str, str]]:
        return {(item.template, item.name) for item in render(chart, release=release) if item.kind == "Service"}

    return sorted(f"{template}: {name}" for template, name in names("one") - names("two"))
