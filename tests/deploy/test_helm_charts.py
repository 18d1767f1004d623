"""The Helm charts, rendered without `helm` (deploy.helm_chart) and checked object by object.

Every object is validated against Kubernetes' own schema for its kind (kubernetes-validate,
strict: no unknown fields); the stream-app chart against NVCF's rules for Helm-based functions
(the seed document), the proxy chart against what running the proxy behind a load balancer needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from support.container_images import PROXY, STREAM_APP, read_dockerfile
from support.redis_harness import REDIS_SERVER

from benchmarks.ports import free_port
from deploy.helm_chart import (
    Chart,
    ChartError,
    Rendered,
    load_chart,
    merge,
    nvcf_helm_problems,
    pod_spec,
    render,
    restricted_problems,
    templated_service_names,
)
from deploy.nvcf_deploy.cli import run
from proxy.config import SETTINGS as PROXY_SETTINGS
from proxy.shared_limits import LimitsUnavailable, RedisLimits
from stream_app.config import load_config

ROOT = Path(__file__).resolve().parents[2]
STREAM_APP_CHART = load_chart(ROOT / "deploy" / "helm" / "stream-app")
PROXY_CHART = load_chart(ROOT / "deploy" / "helm" / "stream-proxy")
HELM_FUNCTION = ROOT / "deploy" / "functions" / "stream-app-helm.json"
DEFINITION: dict[str, Any] = json.loads(HELM_FUNCTION.read_text(encoding="utf-8"))
KUBERNETES = "1.30"
PROXY_OPTIONS = {
    "ingress": {"enabled": True},
    "autoscaling": {"enabled": True},
    "serviceMonitor": {"enabled": True},
    "policy": {"configMap": "stream-proxy-policy"},
    "redis": {"enabled": True},
}


def _schema_problems(objects: list[Rendered]) -> list[str]:
    problems = []
    for item in objects:
        if item.obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: Kubernetes ships no schema for it (checked by hand below)
        try:
            kubernetes_validate.validate(item.obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{item.template}: {exc.message}")
    return problems


def _one(objects: list[Rendered], kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [item.obj for item in objects if item.kind == kind and name in (None, item.name)]
    return found


def _env(container: dict[str, Any]) -> dict[str, str]:
    """Name to value; a value from a Secret as ``secret:<name>/<key>``."""

    def value(entry: dict[str, Any]) -> str:
        if "value" in entry:
            return str(entry["value"])
        ref = entry["valueFrom"]["secretKeyRef"]
        return f"secret:{ref['name']}/{ref['key']}"

    return {entry["name"]: value(entry) for entry in container["env"]}


# --- the renderer ---------------------------------------------------------------------------------


def _chart(template: str, values: dict[str, Any]) -> Chart:
    return Chart("t", "1.0.0", "1.0.0", values, {"t.yaml": template})


def test_values_and_builtins_are_substituted_and_quoted() -> None:
    text = "a: {{ .Values.x.y }}\nb: {{ .Values.s | quote }}\nc: {{ .Release.Name }}-{{ .Chart.Version }}\n"
    [item] = render(_chart(text, {"x": {"y": 3}, "s": 'say "hi"'}), release="r")
    assert item.obj == {"a": 3, "b": 'say "hi"', "c": "r-1.0.0"}


def test_if_else_end_keep_or_drop_whole_lines_and_nest() -> None:
    lines = ("k:", "{{- if .Values.a }}", "  a: 1", "{{- if not .Values.b }}", "  notb: 1", "{{- end }}")
    text = "\n".join((*lines, "{{- else }}", "  other: 1", "{{- end }}"))
    assert render(_chart(text, {"a": True, "b": False}))[0].obj == {"k": {"a": 1, "notb": 1}}
    assert render(_chart(text, {"a": False, "b": False}))[0].obj == {"k": {"other": 1}}


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("a: {{ .Values.missing }}", {}, r"t\.yaml:1: \.Values\.missing is not defined in values\.yaml"),
        ("a: {{ toYaml .Values.m }}", {"m": {}}, r"t\.yaml:1: \{\{ toYaml \.Values\.m \}\} is outside the template"),
        ("a: {{ .Values.m }}", {"m": {"k": 1}}, r"t\.yaml:1: a map or list cannot be substituted"),
        ("{{- if .Values.a }}\na: 1", {"a": True}, r"t\.yaml: an if has no end"),
        ("{{- end }}", {}, r"t\.yaml:1: end without if"),
    ],
)
def test_anything_outside_the_subset_is_refused_naming_the_line(
    text: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ChartError, match=message):
        render(_chart(text, values))


# --- the stream-app chart: a Helm-based NVCF streaming function -----------------------------------


def test_the_stream_app_chart_is_valid_kubernetes_within_nvcfs_helm_rules() -> None:
    objects = render(STREAM_APP_CHART)
    assert sorted(item.kind for item in objects) == ["Deployment", "Service"]
    assert _schema_problems(objects) == []
    assert (
        nvcf_helm_problems(
            STREAM_APP_CHART,
            objects,
            service_name=DEFINITION["helmChartServiceName"],
            inference_port=DEFINITION["inferencePort"],
            values=STREAM_APP_CHART.values,
        )
        == []
    )
    assert templated_service_names(STREAM_APP_CHART) == []


def test_the_stream_app_chart_runs_the_image_with_the_definitions_contract() -> None:
    image = read_dockerfile(STREAM_APP)
    deployment = _one(render(STREAM_APP_CHART), "Deployment")
    spec = pod_spec(deployment)
    assert spec is not None
    [container] = spec["containers"]
    env = _env(container)
    config = load_config([], env, dockerenv=Path("/nonexistent"))
    assert (config.control_port, config.streaming_port) == (DEFINITION["health"]["port"], DEFINITION["inferencePort"])
    assert (config.start_endpoint, str(env["STREAMING_PORT_BINDING_RANGE"])) == (
        DEFINITION["inferenceUrl"],
        image.env["STREAMING_PORT_BINDING_RANGE"],
    )
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"control": config.control_port, "streaming": config.streaming_port}
    uid, _, gid = image.user.partition(":")
    assert (spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]) == (int(uid), int(gid))
    # /ready answers 500 during a session: probing it would take the pod out of the Service.
    assert container["startupProbe"]["httpGet"]["path"] == "/v1/streaming/startup"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v1/streaming/startup"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_deployment_configuration_overrides_the_charts_values() -> None:
    overrides = {"image": {"tag": "0.2.0"}, "resumeWindow": "120", "app": "examples.paint:make_app"}
    [container] = (pod_spec(_one(render(STREAM_APP_CHART, overrides=overrides), "Deployment")) or {})["containers"]
    assert container["image"].endswith(":0.2.0")
    assert (_env(container)["STREAM_APP_RESUME_WINDOW"], _env(container)["STREAM_APP_FACTORY"]) == (
        "120",
        "examples.paint:make_app",
    )


def _broken(edit: str) -> Chart:
    """The stream-app chart with one rule broken."""
    templates = dict(STREAM_APP_CHART.templates)
    chart = STREAM_APP_CHART
    if edit == "kind":
        templates["ds.yaml"] = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: d\nspec: {}\n"
    elif edit == "hook":
        templates["job.yaml"] = (
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n"
            "  annotations:\n    helm.sh/hook: pre-install\nspec: {}\n"
        )
    elif edit == "nodeport":
        templates["service.yaml"] = templates["service.yaml"].replace("type: ClusterIP", "type: NodePort")
    elif edit == "templated":
        templates["service.yaml"] = templates["service.yaml"].replace(
            "name: stream-app\n  labels", "name: {{ .Release.Name }}-stream-app\n  labels"
        )
    elif edit == "emptydir":
        templates["deployment.yaml"] += "      volumes:\n        - name: scratch\n          emptyDir: {}\n"
    elif edit == "escalation":
        templates["deployment.yaml"] = templates["deployment.yaml"].replace(
            "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"
        )
    elif edit == "version":
        chart = dataclasses.replace(chart, version="0.1.0-rc1")
    elif edit == "port":
        templates["service.yaml"] = templates["service.yaml"].replace("port: {{ .Values.streamingPort }}", "port: 80")
    return dataclasses.replace(chart, templates=templates)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("kind", "ds.yaml: DaemonSet d: kind DaemonSet is not allowed in a Helm-based function"),
        ("hook", "job.yaml: Job j: hooks are not run by NVCF"),
        ("nodeport", "service.yaml: Service stream-app: a Service must be of type ClusterIP"),
        ("templated", "no Service named stream-app (helmChartServiceName)"),
        ("emptydir", "deployment.yaml: Deployment stream-app: volume scratch must be a configMap, secret or PVC"),
        (
            "escalation",
            "deployment.yaml: Deployment stream-app container stream-app: allowPrivilegeEscalation must be false",
        ),
        ("version", "Chart.yaml: version 0.1.0-rc1 must not contain '-'"),
        ("port", "Service stream-app: no port 49100 (the function's inferencePort)"),
    ],
)
def test_each_broken_nvcf_helm_rule_gets_its_message(edit: str, problem: str) -> None:
    chart = _broken(edit)
    problems = nvcf_helm_problems(
        chart, render(chart), service_name="stream-app", inference_port=49100, values=chart.values
    )
    assert problem in problems


def test_a_templated_service_name_is_found() -> None:
    assert templated_service_names(_broken("templated")) == ["service.yaml: one-stream-app"]


async def test_nvcf_deploy_check_chart_passes_the_shipped_chart_and_names_a_problem(tmp_path: Path) -> None:
    out, err = _streams()
    argv = ["check-chart", str(ROOT / "deploy/helm/stream-app"), "--definition", str(HELM_FUNCTION)]
    assert await run(argv, out=out, err=err, env={}) == 0
    assert "deploy/helm/stream-app: 2 objects, within NVCF's Helm rules" in out.getvalue()
    (tmp_path / "values.json").write_text(json.dumps({"ngcImagePullSecretName": ""}), encoding="utf-8")
    out, err = _streams()
    assert await run([*argv, "--configuration", str(tmp_path / "values.json")], out=out, err=err, env={}) == 1
    assert "values.yaml: ngcImagePullSecretName must name the pull secret NVCF creates" in err.getvalue()


def _streams() -> tuple[io.StringIO, io.StringIO]:
    return io.StringIO(), io.StringIO()


# --- the proxy chart ------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, PROXY_OPTIONS], ids=["defaults", "every-option"])
def test_the_proxy_chart_is_valid_kubernetes(options: dict[str, Any]) -> None:
    assert _schema_problems(render(PROXY_CHART, overrides=options)) == []


def test_the_proxy_pod_is_restricted_probed_and_drains_before_it_is_killed() -> None:
    values = PROXY_CHART.values
    spec = pod_spec(_one(render(PROXY_CHART), "Deployment"))
    assert spec is not None
    [container] = spec["containers"]
    assert restricted_problems("proxy", spec) == []
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert (container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"]) == (
        "/readyz",
        "/healthz",
    )
    env = _env(container)
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert spec["terminationGracePeriodSeconds"] > int(env["PROXY_DRAIN_SECONDS"]) + pause
    assert int(env["PROXY_DRAIN_SECONDS"]) == values["drainSeconds"]
    assert spec["imagePullSecrets"] == [{"name": values["imagePullSecret"]}]
    assert set(env) <= {setting.env for setting in PROXY_SETTINGS}
    assert "PROXY_REDIS_URL" not in env  # Off by default: each replica keeps its own limits.
    assert not [item for item in render(PROXY_CHART) if "redis" in item.name]
    image = read_dockerfile(PROXY)
    assert int(env["PROXY_PORT"]) == container["ports"][0]["containerPort"] == int(image.env["PROXY_PORT"])
    uid, _, _ = image.user.partition(":")
    assert spec["securityContext"]["runAsUser"] == int(uid)
    # The API key, JWT secret and session secret come from the existing Secret, as files.
    [secrets] = [v for v in spec["volumes"] if "secret" in v]
    assert secrets["secret"]["secretName"] == values["existingSecret"]
    assert {
        env[k].rsplit("/", 1)[-1] for k in ("NVCF_API_KEY_FILE", "PROXY_JWT_SECRET_FILE", "PROXY_SESSION_SECRET_FILE")
    } == {
        "nvcf-api-key",
        "jwt-secret",
        "session-secret",
    }
    assert "STREAMING_FUNCTION_ID" in env and "PROXY_POLICY_FILE" not in env


def test_the_proxy_options_ingress_autoscaler_disruption_budget_monitor_and_policy() -> None:
    objects = render(PROXY_CHART, release="demo", overrides=PROXY_OPTIONS)
    deployment = _one(objects, "Deployment", "demo-stream-proxy")
    spec = pod_spec(deployment)
    assert spec is not None
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    [container] = spec["containers"]
    # The policy comes from the ConfigMap, mounted where PROXY_POLICY_FILE points.
    env = _env(container)
    assert "STREAMING_FUNCTION_ID" not in env
    [policy] = [v for v in spec["volumes"] if "configMap" in v]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == policy["name"]]
    assert (policy["configMap"]["name"], env["PROXY_POLICY_FILE"]) == (
        "stream-proxy-policy",
        mount["mountPath"] + "/policy.toml",
    )
    ingress = _one(objects, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600  # WebSocket sessions are long
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == _one(objects, "Service", "demo-stream-proxy")["metadata"]["name"]
    hpa = _one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo-stream-proxy"}
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    assert _one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    monitor = _one(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert (
        monitor["spec"]["selector"]["matchLabels"]
        == _one(objects, "Service", "demo-stream-proxy")["metadata"]["labels"]
    )


def _expand(value: str, env: dict[str, str]) -> str:
    """`value` with each ``$(NAME)`` replaced by `env`'s, as Kubernetes does for container env."""
    return re.sub(r"\$\((\w+)\)", lambda match: env[match.group(1)], value)


def test_the_proxy_chart_with_redis_runs_one_that_only_its_proxies_reach_and_points_them_at_it() -> None:
    values = PROXY_CHART.values
    objects = render(PROXY_CHART, release="demo", overrides={"redis": {"enabled": True}})
    proxy_spec = pod_spec(_one(objects, "Deployment", "demo-stream-proxy"))
    redis = _one(objects, "Deployment", "demo-stream-proxy-redis")
    redis_spec = pod_spec(redis)
    assert proxy_spec is not None and redis_spec is not None
    [proxy] = proxy_spec["containers"]
    env = _env(proxy)
    password = f"secret:{values['existingSecret']}/redis-password"
    assert env["REDIS_PASSWORD"] == password
    # Kubernetes expands $(REDIS_PASSWORD) only from a variable defined before it.
    names = [entry["name"] for entry in proxy["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("PROXY_REDIS_URL")
    assert env["PROXY_REDIS_URL"] == "redis://:$(REDIS_PASSWORD)@demo-stream-proxy-redis:6379/0"
    assert set(env) - {setting.env for setting in PROXY_SETTINGS} == {"REDIS_PASSWORD"}
    # One Redis, restricted like the proxy, with the same password, on the port the URL names.
    assert redis["spec"]["replicas"] == 1
    assert restricted_problems("redis", redis_spec) == []
    [server] = redis_spec["containers"]
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert _env(server) == {"REDIS_PASSWORD": password}
    assert "$REDIS_PASSWORD" in server["args"][0] and "--save ''" in server["args"][0]
    service = _one(objects, "Service", "demo-stream-proxy-redis")
    assert service["spec"]["selector"] == redis["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"] == [{"name": "redis", "port": 6379, "targetPort": "redis"}]
    assert server["ports"] == [{"name": "redis", "containerPort": 6379}]
    # Reachable only from this release's proxy pods.
    policy = _one(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": _labels(objects)}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]


def _labels(objects: list[Rendered]) -> dict[str, str]:
    """The proxy pods' labels."""
    return dict(_one(objects, "Deployment", "demo-stream-proxy")["spec"]["template"]["metadata"]["labels"])


async def test_the_charts_redis_and_url_carry_the_proxys_shared_limits_and_refuse_without_the_password() -> None:
    # The chart's own Redis command, run here with Debian's redis-server: the password goes in on
    # stdin as the chart gives it. `--bind` keeps the test on loopback (the pod listens on its IP).
    port = free_port()
    objects = render(PROXY_CHART, release="demo", overrides={"redis": {"enabled": True, "port": port}})
    redis_spec = pod_spec(_one(objects, "Deployment", "demo-stream-proxy-redis"))
    proxy_spec = pod_spec(_one(objects, "Deployment", "demo-stream-proxy"))
    assert redis_spec is not None and proxy_spec is not None
    [server] = redis_spec["containers"]
    assert server["command"] == ["sh", "-c"]
    script = server["args"][0].replace("exec redis-server -", f"exec {REDIS_SERVER} - --bind 127.0.0.1")
    assert REDIS_SERVER in script and "requirepass $REDIS_PASSWORD" in script, script
    password = secrets.token_hex(32)
    process = await asyncio.create_subprocess_exec(
        *server["command"], script, env={"PATH": os.environ.get("PATH", ""), "REDIS_PASSWORD": password},
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # The proxy's URL as Kubernetes gives it, the Service name resolved to where Redis runs.
        url = _expand(_env(proxy_spec["containers"][0])["PROXY_REDIS_URL"], {"REDIS_PASSWORD": password})
        url = url.replace("demo-stream-proxy-redis", "127.0.0.1")
        for _ in range(200):  # Until it accepts connections (at most 10 s).
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        one, two = (RedisLimits(url, rate_per_address=0, rate_per_user=0) for _ in range(2))
        try:
            # Two replicas share one limit through it: the second cannot take alice's only slot.
            lease = await one.take_session("alice", limit=1)
            assert lease is not None
            assert await two.take_session("alice", limit=1) is None
            await one.give_back(lease)
            assert await two.take_session("alice", limit=1) is not None
        finally:
            await one.close()
            await two.close()
        anonymous = RedisLimits(url.replace(f":{password}@", ""), rate_per_address=0, rate_per_user=0)
        try:
            with pytest.raises(LimitsUnavailable):
                await anonymous.take_session("alice", limit=1)
        finally:
            await anonymous.close()
    finally:
        process.terminate()  # redis-server itself: the script execs it
        assert await asyncio.wait_for(process.wait(), 10) is not None


def test_merge_overrides_key_by_key() -> None:
    assert merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 9}}) == {"a": {"b": 9, "c": 2}, "d": 3}
