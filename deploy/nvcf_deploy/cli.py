"""`nvcf-deploy`: one command to check, create, deploy, watch, list and delete streaming functions.

Subcommands: ``check``, ``create``, ``deploy``, ``update``, ``status``, ``list``, ``logs``,
``undeploy``, ``delete`` and ``up`` (check + create + deploy + wait for ACTIVE). Every failure is
printed as one line with its reason (and HTTP status for API errors), never a traceback; exit
status 0 success, 1 failure (a refused request, a final status other than ACTIVE, a broken
definition), 2 bad usage, 3 timeout. Transient failures are tried again (`deploy.nvcf_deploy.retry`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import yaml

from deploy.helm_chart import ChartError, load_chart, merge, nvcf_helm_problems, render, templated_service_names
from deploy.nvcf_deploy import api
from deploy.nvcf_deploy.api import ApiClient, ApiError, ApiRequest
from deploy.nvcf_deploy.config import SETTINGS, ConfigError, DeployConfig, add_arguments, load_config, load_log_config
from deploy.nvcf_deploy.preflight import check, check_deployment, on_nvcf, warnings
from deploy.nvcf_deploy.statuses import FINAL, SUCCESS, meaning
from observability import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3


class CommandError(Exception):
    """A failure to report in one line (bad input, a refused request), with its exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def _read_definition(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror or exc}", EXIT_USAGE) from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise CommandError(f"{path}: the definition must be a JSON object")
    return data


def _preflight(
    path: Path, data: dict[str, Any], out: TextIO, *, on_nvcf: bool = False, specs: list[dict[str, Any]] | None = None
) -> None:
    """Refuse the definition (and specifications) with every problem at once, or say it passed."""
    problems = check(data, on_nvcf=on_nvcf)
    if on_nvcf and specs is not None:
        problems += check_deployment(data.get("functionType"), specs)
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise CommandError(f"{path}: {len(problems)} problem(s) make this function fail on NVCF:\n{lines}")
    for warning in [] if on_nvcf else warnings(data):
        print(f"{path}: note: {warning} (nvcf-local does not pull it; NVCF would)", file=out)
    print(f"{path}: pre-flight check passed", file=out)


def check_chart(chart_dir: Path, definition_path: Path, configuration: str | None, out: TextIO) -> None:
    """Render a Helm-based function's chart (with the deployment's `configuration` values) and hold
    it, with its definition, to NVCF's Helm rules (`deploy.helm_chart`)."""
    definition = _read_definition(definition_path)
    _preflight(definition_path, definition, out)
    service, port = definition.get("helmChartServiceName"), definition.get("inferencePort")
    if not isinstance(service, str) or not isinstance(port, int):
        raise CommandError(f"{definition_path}: a Helm function needs helmChartServiceName and inferencePort")
    overrides = _json_file(configuration, "--configuration") if configuration else {}
    try:
        chart = load_chart(chart_dir)
        objects = render(chart, overrides=overrides)
    except (OSError, KeyError, ChartError, yaml.YAMLError) as exc:
        raise CommandError(f"{chart_dir}: cannot render: {exc}") from None
    values = merge(chart.values, overrides)
    problems = nvcf_helm_problems(chart, objects, service_name=service, inference_port=port, values=values)
    problems += [f"{name}: the Service name must be fixed, not templated" for name in templated_service_names(chart)]
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise CommandError(f"{chart_dir}: {len(problems)} problem(s) make this chart fail on NVCF:\n{lines}")
    print(f"{chart_dir}: {len(objects)} objects, within NVCF's Helm rules", file=out)


def _json_file(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"{what} {path}: cannot read: {exc.strerror or exc}", EXIT_USAGE) from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} {path}: not valid JSON: {exc.msg} at line {exc.lineno}", EXIT_USAGE) from None


def _names(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def specifications(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The ``deploymentSpecifications``: a ``--specs`` file (a list of them), or the one the flags describe."""
    if args.specs:
        specs = _json_file(args.specs, "--specs")
        if isinstance(specs, dict) and "deploymentSpecifications" in specs:
            specs = specs["deploymentSpecifications"]
        if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
            raise CommandError("--specs must hold a non-empty JSON list of deployment specifications", EXIT_USAGE)
        return specs
    if not args.gpu or not args.instance_type:
        raise CommandError("--gpu and --instance-type are required (or give --specs FILE)", EXIT_USAGE)
    if args.min_instances < 0 or args.max_instances < 1 or args.min_instances > args.max_instances:
        raise CommandError("--min-instances and --max-instances need 0 <= min <= max and max >= 1", EXIT_USAGE)
    if args.backend and args.clusters:
        raise CommandError("--backend and --clusters cannot be given together (NVCF refuses both)", EXIT_USAGE)
    spec: dict[str, Any] = {
        "gpu": args.gpu,
        "instanceType": args.instance_type,
        "minInstances": args.min_instances,
        "maxInstances": args.max_instances,
    }
    if args.backend:
        spec["backend"] = args.backend
    if args.regions:
        spec["regions"] = _names(args.regions)
    if args.clusters:
        spec["clusters"] = _names(args.clusters)
    if args.max_request_concurrency is not None:
        spec["maxRequestConcurrency"] = args.max_request_concurrency
    if args.attributes:
        spec["attributes"] = _json_file(args.attributes, "--attributes")
    if args.configuration:
        spec["configuration"] = _json_file(args.configuration, "--configuration")
    return [spec]


def visibility(text: str) -> tuple[str, ...]:
    """``--visibility``: a comma-separated subset of NVCF's visibilities, or ``all``."""
    if text.strip() == "all":
        return api.VISIBILITIES
    names = tuple(_names(text))
    unknown = [n for n in names if n not in api.VISIBILITIES]
    if unknown or not names:
        raise CommandError(
            f"--visibility: {text!r} is not 'all' or a list of {', '.join(api.VISIBILITIES)}", EXIT_USAGE
        )
    return names


@dataclass
class Session:
    """One run of nvcf-deploy: its config, an API client (unless dry-run), where to print."""

    config: DeployConfig
    client: ApiClient | None
    out: TextIO
    err: TextIO

    async def call(self, request: ApiRequest) -> dict[str, Any] | None:
        """Send `request` (None in dry-run mode, where it is printed instead)."""
        if self.client is None:
            print(request.render(self.config.base_url) + "\n", file=self.out)
            return None
        return await self.client.send(request)

    async def create(
        self, path: Path, function_id: str | None, specs: list[dict[str, Any]] | None = None
    ) -> tuple[str, str]:
        data = _read_definition(path)
        _preflight(path, data, self.err, on_nvcf=on_nvcf(self.config.base_url), specs=specs)
        request = api.create_version(function_id, data) if function_id else api.create_function(data)
        answer = await self.call(request)
        if answer is None:
            return function_id or "{functionId}", "{versionId}"
        function = answer.get("function", {})
        fid, vid = str(function.get("id")), str(function.get("versionId"))
        print(f"created function {function.get('name')} id {fid} version {vid}", file=self.out)
        return fid, vid

    async def deploy(self, function_id: str, version_id: str, specs: list[dict[str, Any]]) -> None:
        answer = await self.call(api.deploy_version(function_id, version_id, specs))
        if answer is not None:
            status = answer.get("deployment", {}).get("functionStatus", "?")
            print(f"deploying function {function_id} version {version_id}: {status}", file=self.out)

    async def version_status(self, function_id: str, version_id: str | None) -> dict[str, Any]:
        answer = await self.call(api.list_versions(function_id))
        assert answer is not None
        versions = [v for v in answer.get("functions", []) if version_id is None or v.get("versionId") == version_id]
        if not versions:
            raise CommandError(f"function {function_id} has no version {version_id}")
        return dict(versions[-1])

    async def error_details(self, function_id: str, version_id: str) -> str:
        try:
            answer = await self.call(api.get_deployment(function_id, version_id))
        except ApiError:
            return ""
        infos = (answer or {}).get("deployment", {}).get("healthInfo") or []
        return "\n".join(str(info.get("error", "")) for info in infos if isinstance(info, dict))

    async def status(self, function_id: str, version_id: str | None, wait: bool) -> int:
        if self.client is None:
            await self.call(api.list_versions(function_id))
            return EXIT_OK
        deadline = time.monotonic() + self.config.timeout
        started = time.monotonic()
        shown = None
        tty = self.err.isatty()
        while True:
            version = await self.version_status(function_id, version_id)
            status = str(version.get("status"))
            elapsed = time.monotonic() - started
            if wait and (status != shown or tty):
                line = f"function {function_id} version {version.get('versionId')}: {status} ({elapsed:.0f} s)"
                if status != shown and status not in FINAL:
                    line += f": {meaning(status)}"
                print(("\r" + line) if tty else line, end="" if tty else "\n", file=self.err, flush=True)
                shown = status
            if not wait or status in FINAL:
                break
            if time.monotonic() > deadline:
                if tty:
                    print(file=self.err)
                raise CommandError(
                    f"still {status} after {self.config.timeout:g} s ({meaning(status)}); "
                    "raise --timeout or check again with status",
                    EXIT_TIMEOUT,
                )
            await asyncio.sleep(self.config.poll_interval)
        if wait and tty:
            print(file=self.err)
        print(f"{version.get('id')} {version.get('versionId')} {version.get('name')} {status}", file=self.out)
        if status == SUCCESS:
            return EXIT_OK
        if not wait:
            return EXIT_OK
        print(f"{status}: {meaning(status)}", file=self.err)
        if status in ("ERROR", "DEGRADED"):
            details = await self.error_details(function_id, str(version.get("versionId")))
            if details:
                print(details, file=self.err)
        return EXIT_FAILED

    async def list_functions(self, function_id: str | None, shown: tuple[str, ...]) -> None:
        answer = await self.call(api.list_versions(function_id) if function_id else api.list_functions(shown))
        if answer is None:
            return
        for version in answer.get("functions", []):
            print(
                f"{version.get('id')} {version.get('versionId')} {version.get('status'):<10} {version.get('name')}",
                file=self.out,
            )

    async def update(self, function_id: str, version_id: str, specs: list[dict[str, Any]]) -> None:
        answer = await self.call(api.update_deployment(function_id, version_id, specs))
        if answer is not None:
            status = answer.get("deployment", {}).get("functionStatus", "?")
            print(f"updated the deployment of function {function_id} version {version_id}: {status}", file=self.out)

    async def logs(self, function_id: str, version_id: str) -> None:
        """What NVCF's control API says about a deployment's instances: its ``healthInfo``.

        NVCF's API has no log endpoint (NVIDIA/nvcf's API overview lists none): the containers'
        own output is in the NGC web UI or a telemetry exporter.
        """
        answer = await self.call(api.get_deployment(function_id, version_id))
        if answer is None:
            return
        deployment = answer.get("deployment", {})
        infos = [i for i in deployment.get("healthInfo") or [] if isinstance(i, dict)]
        print(f"function {function_id} version {version_id}: {deployment.get('functionStatus', '?')}", file=self.out)
        if not infos:
            print("no instance errors reported", file=self.out)
        for info in infos:
            where = " ".join(str(info.get(k)) for k in ("gpu", "backend", "instanceType") if info.get(k))
            print(f"{where}:\n{info.get('error', '')}", file=self.out)

    async def undeploy(self, function_id: str, version_id: str, graceful: bool) -> None:
        answer = await self.call(api.undeploy_version(function_id, version_id, graceful=graceful))
        if answer is not None:
            how = "gracefully: sessions finish, then instances stop" if graceful else "instances stopped"
            print(f"undeployed function {function_id} version {version_id} ({how})", file=self.out)

    async def delete(self, function_id: str, version_id: str) -> None:
        if self.client is None:
            await self.call(api.delete_version(function_id, version_id))
            return
        await self.call(api.delete_version(function_id, version_id))
        print(f"deleted function {function_id} version {version_id}", file=self.out)


def _add_deploy_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu", help="GPU name, e.g. L40S (nvcf-local accepts any); required without --specs")
    parser.add_argument("--instance-type", help="instance type, e.g. gl40s_1.br25_2xlarge; required without --specs")
    parser.add_argument("--backend", help="backend (cluster group), e.g. GFN")
    parser.add_argument("--min-instances", type=int, default=1, help="instances kept running (default 1)")
    parser.add_argument("--max-instances", type=int, default=1, help="most instances at once (default 1)")
    parser.add_argument("--regions", help="comma-separated regions, e.g. us-west-2,eu-north-1")
    parser.add_argument("--clusters", help="comma-separated clusters (instead of --backend)")
    parser.add_argument("--max-request-concurrency", type=int, help="maxRequestConcurrency (optional)")
    parser.add_argument("--attributes", metavar="FILE", help="JSON file: the specification's attributes")
    parser.add_argument("--configuration", metavar="FILE", help="JSON file: Helm values (Helm-based functions only)")
    parser.add_argument(
        "--specs", metavar="FILE", help="JSON file: a list of deployment specifications (several GPUs or regions)"
    )


def make_parser() -> argparse.ArgumentParser:
    """nvcf-deploy's parser: global flags, then one subcommand."""
    parser = argparse.ArgumentParser(prog=SETTINGS.prog, description=SETTINGS.description, epilog=SETTINGS.epilog)
    add_arguments(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("check", help="pre-flight check a definition file, send nothing")
    p.add_argument("definition", type=Path)
    p = sub.add_parser("check-chart", help="render a Helm-based function's chart and check it against NVCF's rules")
    p.add_argument("chart", type=Path, help="the chart directory, e.g. deploy/helm/stream-app")
    p.add_argument("--definition", type=Path, required=True, help="the function definition naming the chart")
    p.add_argument("--configuration", metavar="FILE", help="JSON file: the values the deployment will set")
    p = sub.add_parser("create", help="create a function (or a new version) from a definition file")
    p.add_argument("definition", type=Path)
    p.add_argument("--function-id", help="create a new version of this function instead of a new function")
    p = sub.add_parser("deploy", help="deploy a function version")
    p.add_argument("function_id")
    p.add_argument("version_id")
    _add_deploy_flags(p)
    p.add_argument("--wait", action="store_true", help="then wait for a final status (ACTIVE, ERROR, ...)")
    p = sub.add_parser("update", help="change a running deployment's instance counts")
    p.add_argument("function_id")
    p.add_argument("version_id")
    _add_deploy_flags(p)
    p = sub.add_parser("status", help="show a function's (version's) status; --wait polls until a final status")
    p.add_argument("function_id")
    p.add_argument("version_id", nargs="?")
    p.add_argument("--wait", action="store_true", help="poll until ACTIVE, ERROR, DEGRADED or INACTIVE (or --timeout)")
    p = sub.add_parser("list", help="list your functions (or one function's versions) with their status")
    p.add_argument("function_id", nargs="?")
    p.add_argument(
        "--visibility",
        default="private",
        help="whose functions: private (your own, default), authorized, public (NVIDIA's catalogue), "
        "a comma-separated mix, or all",
    )
    p = sub.add_parser("logs", help="what NVCF reports about a deployment's instances (their errors)")
    p.add_argument("function_id")
    p.add_argument("version_id")
    p = sub.add_parser("undeploy", help="undeploy a function version (stops its instances)")
    p.add_argument("function_id")
    p.add_argument("version_id")
    p.add_argument("--graceful", action="store_true", help="let running sessions finish first (graceful=true)")
    p = sub.add_parser("delete", help="delete a function version (undeploying it first)")
    p.add_argument("function_id")
    p.add_argument("version_id")
    p = sub.add_parser("up", help="check, create, deploy and wait for ACTIVE, in one go")
    p.add_argument("definition", type=Path)
    p.add_argument("--function-id", help="create a new version of this function instead of a new function")
    _add_deploy_flags(p)
    return parser


async def _run(args: argparse.Namespace, config: DeployConfig, out: TextIO, err: TextIO) -> int:
    async with aiohttp.ClientSession() as http:
        client = None
        if not config.dry_run:
            client = ApiClient(
                config.base_url,
                config.api_key,
                http,
                config.request_timeout,
                retries=config.retries,
                notice=lambda text: print(f"nvcf-deploy: {text}", file=err, flush=True),
            )
        session = Session(config=config, client=client, out=out, err=err)
        command = args.command
        if command == "create":
            await session.create(args.definition, args.function_id)
        elif command == "deploy":
            await session.deploy(args.function_id, args.version_id, specifications(args))
            if args.wait:
                return await session.status(args.function_id, args.version_id, wait=True)
        elif command == "update":
            await session.update(args.function_id, args.version_id, specifications(args))
        elif command == "status":
            return await session.status(args.function_id, args.version_id, wait=args.wait)
        elif command == "list":
            await session.list_functions(args.function_id, visibility(args.visibility))
        elif command == "logs":
            await session.logs(args.function_id, args.version_id)
        elif command == "undeploy":
            await session.undeploy(args.function_id, args.version_id, args.graceful)
        elif command == "delete":
            await session.delete(args.function_id, args.version_id)
        elif command == "up":
            specs = specifications(args)
            fid, vid = await session.create(args.definition, args.function_id, specs)
            await session.deploy(fid, vid, specs)
            return await session.status(fid, vid, wait=True)
    return EXIT_OK


async def run(argv: Sequence[str], *, out: TextIO, err: TextIO, env: Mapping[str, str]) -> int:
    """Run one nvcf-deploy command in the running event loop; the exit status."""
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage problem already
        return int(exc.code or 0)
    return await run_parsed(args, out=out, err=err, env=env)


async def run_parsed(args: argparse.Namespace, *, out: TextIO, err: TextIO, env: Mapping[str, str]) -> int:
    """Run the command `args` holds."""
    try:
        if args.command == "check":
            _preflight(args.definition, _read_definition(args.definition), out)
            return EXIT_OK
        if args.command == "check-chart":
            check_chart(args.chart, args.definition, args.configuration, out)
            return EXIT_OK
        return await _run(args, load_config(args, env), out, err)
    except ConfigError as exc:
        print(f"nvcf-deploy: {exc}", file=err)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"nvcf-deploy: {exc}", file=err)
        return exc.status
    except ApiError as exc:
        print(f"nvcf-deploy: {exc}", file=err)
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nvcf-deploy` console script."""
    try:
        args = make_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse printed the usage problem already
        return int(exc.code or 0)
    try:
        log, secrets = load_log_config(args, os.environ)
    except ConfigError as exc:
        print(f"nvcf-deploy: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Library lines (aiohttp, asyncio) in the kit's format; the API key is never written.
    configure_logging("nvcf-deploy", log.level, log.format, secrets=secrets)
    try:
        return asyncio.run(run_parsed(args, out=sys.stdout, err=sys.stderr, env=os.environ))
    except KeyboardInterrupt:
        print("nvcf-deploy: interrupted", file=sys.stderr)
        return 130
