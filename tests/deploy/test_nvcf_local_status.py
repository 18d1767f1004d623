"""A deployment's status and specifications, as NVCF's control plane decides them.

The transitions are those of NVIDIA/nvcf's ``docs/FunctionStatusLifeCycle.md`` (nvcf-core); the
update rules those of its ``DeploymentValidationService``.
"""

from __future__ import annotations

from typing import Any

import pytest

from deploy.nvcf_local.specification import (
    SERVICEABLE,
    SpecificationError,
    Status,
    StatusTracker,
    check_update,
    parse_specifications,
)


def test_deploying_becomes_active_only_once_every_specification_has_its_minimum() -> None:
    tracker = StatusTracker((1, 2))
    assert tracker.observe([0, 0]) is Status.DEPLOYING
    assert tracker.became_ready([1, 0]) is Status.DEPLOYING
    assert tracker.became_ready([1, 1]) is Status.DEPLOYING
    assert tracker.became_ready([1, 2]) is Status.ACTIVE


def test_zero_minimum_everywhere_is_active_at_once() -> None:
    assert StatusTracker((0, 0)).observe([0, 0]) is Status.ACTIVE


def test_an_active_deployment_below_its_minimum_is_degrading_and_with_none_ready_degraded() -> None:
    tracker = StatusTracker((2,))
    tracker.became_ready([2])
    assert tracker.observe([1]) is Status.DEGRADING
    assert tracker.observe([0]) is Status.DEGRADED
    assert tracker.observe([1]) is Status.DEGRADING
    assert tracker.became_ready([2]) is Status.ACTIVE


def test_starts_that_all_fail_while_deploying_are_error_and_error_is_final() -> None:
    tracker = StatusTracker((1,), failures_before_error=3)
    assert tracker.start_failed([0]) is Status.DEPLOYING
    assert tracker.start_failed([0]) is Status.DEPLOYING
    assert tracker.start_failed([0]) is Status.ERROR
    assert tracker.became_ready([1]) is Status.ERROR
    assert tracker.observe([1]) is Status.ERROR


def test_failed_replacements_after_being_active_never_make_it_error() -> None:
    tracker = StatusTracker((1,), failures_before_error=2)
    tracker.became_ready([1])
    for _ in range(5):
        assert tracker.start_failed([0]) is Status.DEGRADED


def test_a_ready_instance_resets_the_count_of_failed_starts() -> None:
    tracker = StatusTracker((2,), failures_before_error=2)
    tracker.start_failed([0])
    tracker.became_ready([1])
    assert tracker.start_failed([1]) is Status.DEPLOYING


def test_only_active_and_degrading_take_sessions() -> None:
    assert {Status.ACTIVE, Status.DEGRADING} == SERVICEABLE


def _spec(**fields: Any) -> dict[str, Any]:
    return {"gpu": "L40S", "instanceType": "gl40s_1.br25_2xlarge", "minInstances": 1, "maxInstances": 2, **fields}


def test_every_field_nvcf_takes_is_kept() -> None:
    raw = _spec(
        backend="GFN",
        regions=["us-west-2", "eu-north-1"],
        maxRequestConcurrency=1,
        attributes={"team": "a"},
    )
    [spec] = parse_specifications({"deploymentSpecifications": [raw]}, helm=False)
    assert (spec.backend, spec.regions, spec.region, spec.max_request_concurrency) == (
        "GFN",
        ("us-west-2", "eu-north-1"),
        "us-west-2",
        1,
    )
    assert spec.raw == raw
    [helm] = parse_specifications(
        {"deploymentSpecifications": [_spec(clusters=["c1"], configuration={"image": {"tag": "1"}})]}, helm=True
    )
    assert (helm.clusters, helm.configuration) == (("c1",), {"image": {"tag": "1"}})


def test_an_update_may_change_counts_but_not_gpu_instance_type_or_backend() -> None:
    [current] = parse_specifications({"deploymentSpecifications": [_spec(backend="GFN")]}, helm=False)
    [bigger] = parse_specifications({"deploymentSpecifications": [_spec(maxInstances=5)]}, helm=False)
    check_update([current], [bigger])
    for changed, message in [
        (_spec(gpu="H100"), "GPU / InstanceType specs must match the ones in the original deployment"),
        (_spec(backend="other"), "backend 'other' does not match the original deployment's 'GFN'"),
        (_spec(clusters=["c9"]), "clusters ['c9'] do not match the original deployment's []"),
    ]:
        [new] = parse_specifications({"deploymentSpecifications": [changed]}, helm=False)
        with pytest.raises(SpecificationError, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_update([current], [new])
    with pytest.raises(SpecificationError, match="GPU / InstanceType"):
        check_update([current], [current, current])
