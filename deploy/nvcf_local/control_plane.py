"""nvcf-local's control plane: function versions, their deployments and the relay's sessions.

The HTTP handlers (`deploy.nvcf_local.control_api`) and the relay (`deploy.nvcf_local.relay`)
both act through `ControlPlane`; it keeps versions and deployments in the `Store` and runs one
`Deployment` per deployed version. Errors are `ApiProblem` values with NVCF's status codes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from deploy.nvcf_local.config import NvcfLocalConfig
from deploy.nvcf_local.definition import DefinitionError, parse_definition
from deploy.nvcf_local.deployment import Deployment, PortBook
from deploy.nvcf_local.sessions import SessionTable
from deploy.nvcf_local.specification import (
    Specification,
    SpecificationError,
    Status,
    check_update,
)
from deploy.nvcf_local.specification import (
    parse_specifications as parse_deployment_specifications,
)
from deploy.nvcf_local.store import Store, StoredDeployment, StoredVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiProblem:
    """An error the API answers as an RFC 7807 problem document."""

    status: int
    title: str
    detail: str


def now_iso() -> str:
    """The current time as NVCF writes it (``2024-05-01T12:00:00.000Z``)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _not_found(function_id: str, version_id: str | None = None) -> ApiProblem:
    if version_id is None:
        return ApiProblem(404, "Not Found", f"function {function_id} not found")
    return ApiProblem(404, "Not Found", f"version {version_id} of function {function_id} not found")


def _canonical(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def parse_specifications(body: object, *, helm: bool = False) -> list[Specification] | ApiProblem:
    """Validate a deploy (or update) body; its specifications, or NVCF's 400."""
    try:
        return parse_deployment_specifications(body, helm=helm)
    except SpecificationError as exc:
        return ApiProblem(400, "Bad Request", str(exc))


def _ids(version: StoredVersion) -> str:
    return f"Function id '{version.function_id}', version '{version.version_id}'"


class ControlPlane:
    """Function versions (in the store), running deployments, relay sessions."""

    def __init__(self, config: NvcfLocalConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.sessions = SessionTable(poll_interval=config.end_session_poll_interval)
        self.deployments: dict[tuple[str, str], Deployment] = {}
        # Gracefully undeployed versions whose instances still hold sessions (status INACTIVE).
        self.draining: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._ports = PortBook()

    # --- life cycle ---

    def start(self, http: aiohttp.ClientSession) -> None:
        """Run every stored deployment (what was deployed before a restart is deployed again)."""
        self._http = http
        for stored in self.store.deployments():
            version = self.store.version(stored.function_id, stored.version_id)
            if version is not None:
                specs = parse_specifications({"deploymentSpecifications": stored.specifications}, helm=True)
                if isinstance(specs, ApiProblem):
                    logger.error("stored deployment of %s no longer valid: %s", stored.version_id, specs.detail)
                    continue
                self._run(version, specs)

    async def close(self) -> None:
        """Stop every deployment's instances (the store keeps them for the next start)."""
        await self.sessions.close()
        for drain in list(self.draining.values()):
            drain.cancel()
        await asyncio.gather(*self.draining.values(), return_exceptions=True)
        for deployment in list(self.deployments.values()):
            await deployment.stop()
        self.deployments.clear()

    def _run(self, version: StoredVersion, specs: list[Specification]) -> Deployment:
        assert self._http is not None, "start() first"
        deployment = Deployment(
            config=self.config,
            function_id=version.function_id,
            version_id=version.version_id,
            definition=parse_definition(version.definition),
            specifications=specs,
            http=self._http,
            ports=self._ports,
        )
        self.deployments[(version.function_id, version.version_id)] = deployment
        deployment.start()
        logger.info(
            "function %s version %s (%s): deploying %d-%d instances",
            version.function_id,
            version.version_id,
            version.name,
            deployment.min_instances,
            deployment.max_instances,
        )
        return deployment

    # --- function versions ---

    def create_version(
        self, body: object, function_id: str | None = None, version_id: str | None = None
    ) -> StoredVersion | ApiProblem:
        """Create a function (or, with `function_id`, a new version of it) from a create-function body."""
        try:
            definition = parse_definition(body)
        except DefinitionError as exc:
            return ApiProblem(400, "Bad Request", str(exc))
        assert isinstance(body, dict)
        if function_id is not None and not self.store.versions(function_id) and version_id is None:
            return _not_found(function_id)
        version = StoredVersion(
            function_id=function_id or str(uuid.uuid4()),
            version_id=version_id or str(uuid.uuid4()),
            name=definition.name,
            definition=body,
            created_at=now_iso(),
        )
        self.store.add_version(version)
        logger.info("function %s version %s (%s) created", version.function_id, version.version_id, version.name)
        return version

    def find(self, function_id: str, version_id: str | None = None) -> list[StoredVersion] | ApiProblem:
        """The versions of a function (or the one version), or 404."""
        fid = _canonical(function_id)
        if fid is None:
            return _not_found(function_id)
        versions = self.store.versions(fid)
        if not versions:
            return _not_found(function_id)
        if version_id is None:
            return versions
        vid = _canonical(version_id)
        found = [v for v in versions if v.version_id == vid]
        return found or _not_found(function_id, version_id)

    def status(self, version: StoredVersion) -> str:
        """The version's status: INACTIVE when not deployed (or being undeployed), else its deployment's."""
        deployment = self.deployments.get((version.function_id, version.version_id))
        return deployment.status if deployment is not None else Status.INACTIVE.value

    def describe_version(self, version: StoredVersion) -> dict[str, Any]:
        """A version in the shape of NVCF's ``function`` objects."""
        body = version.definition
        return {
            "id": version.function_id,
            "ncaId": "local",
            "versionId": version.version_id,
            "name": version.name,
            "status": self.status(version),
            "functionType": body.get("functionType"),
            "inferenceUrl": body.get("inferenceUrl"),
            "inferencePort": body.get("inferencePort"),
            "containerImage": body.get("containerImage"),
            "apiBodyFormat": body.get("apiBodyFormat", "CUSTOM"),
            "description": body.get("description", ""),
            "health": body.get("health"),
            "containerEnvironment": body.get("containerEnvironment", []),
            "createdAt": version.created_at,
        }

    async def delete_version(self, version: StoredVersion) -> None:
        """Undeploy (stopping its instances) and delete a version."""
        await self.undeploy(version)
        self.store.delete_version(version.function_id, version.version_id)
        logger.info("function %s version %s deleted", version.function_id, version.version_id)

    # --- deployments ---

    def deploy(self, version: StoredVersion, body: object) -> dict[str, Any] | ApiProblem:
        """Deploy a version with ``deploymentSpecifications``; refused (400, NVCF's messages) while
        it is deployed, in ERROR, or still being undeployed gracefully."""
        key = (version.function_id, version.version_id)
        if key in self.draining:
            return ApiProblem(
                400,
                "Bad Request",
                f"{_ids(version)}: Function deployment found for INACTIVE function. "
                "Wait for current deployment to be gracefully completed and removed.",
            )
        if key in self.deployments:
            status = self.status(version)
            if status == Status.ERROR.value:
                return ApiProblem(400, "Bad Request", f"{_ids(version)}: Function already has a deployment with errors")
            return ApiProblem(
                400, "Bad Request", f"{_ids(version)}: Status {status}, use PATCH endpoint to update gpu-specification"
            )
        specs = parse_specifications(body, helm="helmChart" in version.definition)
        if isinstance(specs, ApiProblem):
            return specs
        self.store.set_deployment(
            StoredDeployment(version.function_id, version.version_id, [s.raw for s in specs], now_iso())
        )
        self._run(version, specs)
        return self.describe_deployment(version)

    def update_deployment(self, version: StoredVersion, body: object) -> dict[str, Any] | ApiProblem:
        """``PUT``: new instance counts for a running deployment (GPU, instance type, backend and
        clusters must stay as they were)."""
        deployment = self.deployments.get((version.function_id, version.version_id))
        status = self.status(version)
        if deployment is None or status == Status.ERROR.value:
            return ApiProblem(400, "Bad Request", f"{_ids(version)}: Invalid status '{status}'")
        specs = parse_specifications(body, helm="helmChart" in version.definition)
        if isinstance(specs, ApiProblem):
            return specs
        try:
            check_update(deployment.specifications, specs)
        except SpecificationError as exc:
            return ApiProblem(400, "Bad Request", f"{_ids(version)}: {exc}")
        stored = self._stored(version)
        created = stored.created_at if stored is not None else now_iso()
        self.store.set_deployment(
            StoredDeployment(version.function_id, version.version_id, [s.raw for s in specs], created)
        )
        deployment.update(specs)
        logger.info("function %s version %s: deployment updated", version.function_id, version.version_id)
        return self.describe_deployment(version)

    def _stored(self, version: StoredVersion) -> StoredDeployment | None:
        return next(
            (
                d
                for d in self.store.deployments()
                if (d.function_id, d.version_id) == (version.function_id, version.version_id)
            ),
            None,
        )

    def describe_deployment(self, version: StoredVersion) -> dict[str, Any]:
        """A deployment in the shape of NVCF's ``deployment`` objects (plus nvcf-local's instances)."""
        stored = self._stored(version)
        deployment = self.deployments.get((version.function_id, version.version_id))
        specs = stored.specifications if stored is not None else []
        status = self.status(version)
        health = []
        if deployment is not None and deployment.error_lines and status != Status.ACTIVE.value:
            # NVCF reports the failure once per GPU specification (InstanceManagementTask).
            error = "instance never became healthy; last output:\n" + "\n".join(deployment.error_lines)
            health = [
                {
                    "gpu": s.get("gpu"),
                    "backend": s.get("backend", "local"),
                    "instanceType": s.get("instanceType"),
                    "error": error,
                }
                for s in specs
            ]
        return {
            "functionId": version.function_id,
            "functionVersionId": version.version_id,
            "ncaId": "local",
            "functionStatus": status,
            "deploymentSpecifications": specs,
            "healthInfo": health,
            "createdAt": stored.created_at if stored is not None else None,
            "instances": [i.describe() for i in deployment.instances] if deployment is not None else [],
        }

    async def undeploy(self, version: StoredVersion, *, graceful: bool = False) -> bool:
        """Stop a version's instances and forget its deployment; False if it was not deployed.

        With `graceful` (NVCF's ``graceful=true``) it returns at once: the version is INACTIVE and
        takes no new sessions, and each instance stops once its session is over.
        """
        key = (version.function_id, version.version_id)
        deployment = self.deployments.pop(key, None)
        self.store.delete_deployment(version.function_id, version.version_id)
        if deployment is None:
            return key in self.draining
        if graceful:
            task = asyncio.create_task(deployment.drain(), name=f"drain {version.version_id}")
            self.draining[key] = task
            task.add_done_callback(lambda _: self.draining.pop(key, None))
            logger.info("function %s version %s: undeploying gracefully", version.function_id, version.version_id)
            return True
        await deployment.stop()
        logger.info("function %s version %s undeployed", version.function_id, version.version_id)
        return True

    def deployment_for(self, function_id: str, version_id: str | None) -> Deployment | ApiProblem:
        """Where the relay sends a sign-in for this function (and version, if named)."""
        found = self.find(function_id, version_id)
        if isinstance(found, ApiProblem):
            return found
        for version in found:
            deployment = self.deployments.get((version.function_id, version.version_id))
            if deployment is not None:
                return deployment
        return ApiProblem(503, "Service Unavailable", "function instance not ready: status INACTIVE")

    def ensure_definition(self, body: dict[str, Any]) -> None:
        """Single-definition mode: create the configured version (if new) and mark it deployed.

        Call before `start`, which then runs it with the other stored deployments.
        """
        fid, vid = self.config.function_id, self.config.version_id
        version = self.store.version(fid, vid)
        if version is None or version.definition != body:
            created = self.create_version(body, function_id=fid, version_id=vid)
            assert not isinstance(created, ApiProblem)
            version = created
        specs = [
            {
                "gpu": "local",
                "instanceType": "local",
                "backend": "local",
                "minInstances": self.config.min_instances,
                "maxInstances": self.config.max_instances,
            }
        ]
        self.store.set_deployment(StoredDeployment(fid, vid, specs, now_iso()))
