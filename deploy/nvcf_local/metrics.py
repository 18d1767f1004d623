"""nvcf-local's Prometheus metrics, served on its control API at `GET /metrics` (no API key, as a
scrape target). One registry per app; instance states are read from the control plane when scraped.
Names, types and labels: docs/observability.md.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from deploy.nvcf_local.control_plane import ControlPlane
from deploy.nvcf_local.instance import InstanceState

# A refusal's HTTP status as the `reason` label: a fixed set, whatever the refusal's text says.
REFUSAL_REASONS: Final[dict[int, str]] = {
    400: "bad_request",  # not a WebSocket upgrade, or a malformed sign-in
    401: "unauthorized",  # no or a wrong API key
    404: "not_found",  # no such function or version, or no session to resume
    409: "already_connected",  # the session to resume is still connected
    502: "instance_unreachable",  # the instance did not accept the WebSocket
    503: "no_instance",  # not deployed, not ready, or every instance busy
}


def refusal_reason(status: int) -> str:
    """The `reason` label of a sign-in refused with HTTP `status`."""
    return REFUSAL_REASONS.get(status, f"http_{status}")


class _Instances(Collector):
    """Read at scrape time: instances by function and state, and how many hold a session."""

    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane

    def describe(self) -> Iterable[Any]:
        return list(self._families(scraping=False))

    def collect(self) -> Iterable[Any]:
        return list(self._families(scraping=True))

    def _families(self, scraping: bool) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily(
            "nvcf_local_instances", "Function instances by function and state", labels=["function_id", "state"]
        )
        busy = GaugeMetricFamily(
            "nvcf_local_instances_busy",
            "Instances holding a session (connected or awaiting a resume)",
            labels=["function_id"],
        )
        if scraping:
            counts: Tally[tuple[str, str]] = Tally()
            holding: Tally[str] = Tally()
            functions = set()
            for deployment in list(self._plane.deployments.values()):
                for instance in deployment.instances:
                    functions.add(instance.function_id)
                    counts[(instance.function_id, instance.state.value)] += 1
                    holding[instance.function_id] += instance.session_id is not None
            for function_id in sorted(functions):
                for state in InstanceState:
                    states.add_metric([function_id, state.value], counts[(function_id, state.value)])
                busy.add_metric([function_id], holding[function_id])
        yield states
        yield busy


class NvcfLocalMetrics:
    """Every metric nvcf-local exports, in a registry of its own."""

    def __init__(self, plane: ControlPlane) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions_routed = Counter(
            "nvcf_local_sessions_routed",
            "Sign-ins connected to an instance: new sessions and resumed ones",
            ["kind"],
            registry=r,
        )
        self.refusals = Counter(
            "nvcf_local_sign_ins_refused", "Sign-ins the relay refused, by reason", ["reason"], registry=r
        )
        r.register(_Instances(plane))

    def refused(self, status: int) -> None:
        """Count one sign-in refused with HTTP `status`."""
        self.refusals.labels(refusal_reason(status)).inc()

    def routed(self, resumed: bool) -> None:
        """Count one sign-in connected to an instance."""
        self.sessions_routed.labels("resumed" if resumed else "new").inc()


METRICS = web.AppKey("nvcf_local_metrics", NvcfLocalMetrics)
