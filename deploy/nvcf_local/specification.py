"""Deployment specifications and a deployment's status, as NVCF's control plane decides them.

Sources (NVIDIA/nvcf, ``src/control-plane-services/cloud-functions/nvcf-core``):

- ``docs/FunctionStatusLifeCycle.md``: DEPLOYING becomes ACTIVE once the ready instances reach
  ``minInstances`` and ERROR when all failed; an ACTIVE version with ``minInstances`` > 0 becomes
  DEGRADING below ``minInstances`` and DEGRADED with none ready, and goes back to ACTIVE once
  ``minInstances`` are ready again; all ``minInstances`` 0 is ACTIVE at once (zero scaling).
  INACTIVE, DEGRADED and ERROR take no requests; the others do.
- ``InstanceManagementTask.hasMetMinCountForAllSpecs``: the minimum must hold for every
  deployment specification.
- ``DeploymentValidationService``: ``backend`` and ``clusters`` together are refused, and so is
  ``configuration`` (Helm values) for a container function; an update may change the instance
  counts but not the GPU, instance type, backend or clusters.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    """A function version's status, NVCF's words."""

    INACTIVE = "INACTIVE"
    DEPLOYING = "DEPLOYING"
    ACTIVE = "ACTIVE"
    DEGRADING = "DEGRADING"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"


# Statuses whose function takes sessions (FunctionStatusLifeCycle.md).
SERVICEABLE = frozenset({Status.ACTIVE, Status.DEGRADING})


@dataclass(frozen=True)
class Specification:
    """One item of ``deploymentSpecifications``, as sent (`raw`) and as nvcf-local uses it."""

    gpu: str
    instance_type: str
    min_instances: int
    max_instances: int
    backend: str | None = None
    regions: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    max_request_concurrency: int | None = None
    configuration: Any = None
    attributes: Any = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def region(self) -> str:
        """The region an instance of this specification runs in (nvcf-local: the first named)."""
        return self.regions[0] if self.regions else "local"


class SpecificationError(ValueError):
    """A ``deploymentSpecifications`` body NVCF would refuse with 400; the message says where."""


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SpecificationError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _count(value: object, where: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SpecificationError(f"{where} must be an integer >= {least}")
    return value


def parse_specification(spec: object, index: int, *, helm: bool) -> Specification:
    """One specification, checked; `helm` says whether the function is Helm-based."""
    where = f"deploymentSpecifications[{index}]"
    if not isinstance(spec, dict):
        raise SpecificationError(f"{where} must be an object")
    for key in ("gpu", "instanceType"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise SpecificationError(f"{where}.{key} must be a non-empty string")
    backend = spec.get("backend")
    if backend is not None and (not isinstance(backend, str) or not backend):
        raise SpecificationError(f"{where}.backend must be a non-empty string")
    regions = _strings(spec["regions"], f"{where}.regions") if "regions" in spec else ()
    clusters = _strings(spec["clusters"], f"{where}.clusters") if "clusters" in spec else ()
    if backend and clusters:
        raise SpecificationError(f"{where}: backend and clusters cannot be given together")
    low = _count(spec.get("minInstances"), f"{where}.minInstances", 0)
    high = _count(spec.get("maxInstances"), f"{where}.maxInstances", 1)
    if low > high:
        raise SpecificationError(f"{where}: minInstances {low} must be lesser than or equal to maxInstances {high}")
    concurrency = spec.get("maxRequestConcurrency")
    if concurrency is not None:
        concurrency = _count(concurrency, f"{where}.maxRequestConcurrency", 1)
    configuration = spec.get("configuration")
    if configuration is not None and not helm:
        raise SpecificationError(f"{where}.configuration (Helm values) must be empty for a container function")
    if configuration is not None and not isinstance(configuration, dict):
        raise SpecificationError(f"{where}.configuration must be an object (the chart's values)")
    attributes = spec.get("attributes")
    if attributes is not None and not isinstance(attributes, (dict, list)):
        raise SpecificationError(f"{where}.attributes must be an object or a list")
    return Specification(
        gpu=spec["gpu"],
        instance_type=spec["instanceType"],
        min_instances=low,
        max_instances=high,
        backend=backend,
        regions=regions,
        clusters=clusters,
        max_request_concurrency=concurrency,
        configuration=configuration,
        attributes=attributes,
        raw=dict(spec),
    )


def parse_specifications(body: object, *, helm: bool) -> list[Specification]:
    """A deploy (or update) body's specifications, checked."""
    if not isinstance(body, dict) or not isinstance(body.get("deploymentSpecifications"), list):
        raise SpecificationError('the body must be {"deploymentSpecifications": [...]}')
    specs = body["deploymentSpecifications"]
    if not specs:
        raise SpecificationError("deploymentSpecifications must not be empty")
    return [parse_specification(spec, index, helm=helm) for index, spec in enumerate(specs)]


def check_update(current: Sequence[Specification], update: Sequence[Specification]) -> None:
    """An update may change instance counts and concurrency only, spec by spec in the same order."""
    if [(s.gpu, s.instance_type) for s in current] != [(s.gpu, s.instance_type) for s in update]:
        raise SpecificationError("GPU / InstanceType specs must match the ones in the original deployment")
    for index, (old, new) in enumerate(zip(current, update, strict=True)):
        if (new.backend or old.backend) != old.backend:
            raise SpecificationError(
                f"deploymentSpecifications[{index}]: backend {new.backend!r} does not match "
                f"the original deployment's {old.backend!r}"
            )
        if new.clusters and new.clusters != old.clusters:
            raise SpecificationError(
                f"deploymentSpecifications[{index}]: clusters {list(new.clusters)} do not match "
                f"the original deployment's {list(old.clusters)}"
            )


@dataclass
class StatusTracker:
    """Decides a deployment's status from its instances (FunctionStatusLifeCycle.md).

    `observe` is called with the instances ready per specification; `failed_start` and `up` with
    each instance's outcome. ERROR is final: nothing after it changes the status.
    """

    minimums: tuple[int, ...]
    failures_before_error: int = 3
    status: Status = Status.DEPLOYING
    failed_starts: int = 0

    def __post_init__(self) -> None:
        if all(low == 0 for low in self.minimums):
            self.status = Status.ACTIVE  # zero scaling: instances start per sign-in

    def observe(self, ready: Sequence[int]) -> Status:
        """The status after a change in the ready counts (one per specification)."""
        if self.status is Status.ERROR:
            return self.status
        met = all(count >= low for count, low in zip(ready, self.minimums, strict=True))
        if met:
            self.status = Status.ACTIVE
        elif self.status is not Status.DEPLOYING:
            self.status = Status.DEGRADED if sum(ready) == 0 else Status.DEGRADING
        return self.status

    def start_failed(self, ready: Sequence[int]) -> Status:
        """An instance exited before it was ever ready; several in a row while DEPLOYING is ERROR."""
        self.failed_starts += 1
        if self.status is Status.DEPLOYING and self.failed_starts >= self.failures_before_error:
            self.status = Status.ERROR
            return self.status
        return self.observe(ready)

    def became_ready(self, ready: Sequence[int]) -> Status:
        """An instance became ready."""
        self.failed_starts = 0
        return self.observe(ready)

    def resize(self, minimums: Sequence[int], ready: Sequence[int]) -> Status:
        """New ``minInstances`` (an update of the deployment)."""
        self.minimums = tuple(minimums)
        return self.observe(ready)
