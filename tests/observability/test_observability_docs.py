"""docs/observability.md lists exactly the metrics each piece's registry exports, with their types."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from deploy.nvcf_local.config import NvcfLocalConfig, TurnServer
from deploy.nvcf_local.control_plane import ControlPlane
from deploy.nvcf_local.metrics import NvcfLocalMetrics
from deploy.nvcf_local.store import Store
from proxy.metrics import ProxyMetrics
from stream_app.metrics import StreamAppMetrics
from stream_app.ports import PortRange
from stream_app.session import SessionSlot

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def documented(piece: str) -> dict[str, str]:
    """Name -> type from the table under `### <piece>`."""
    section = DOC.read_text(encoding="utf-8").split(f"\n### {piece}\n", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^\| `([a-z_]+)` \| (counter|gauge|histogram) \|", section, re.M))


def exported(registry: CollectorRegistry) -> dict[str, str]:
    """Name -> type as a scraper sees them (counters end in `_total`)."""
    return {family.name + ("_total" if family.type == "counter" else ""): family.type for family in registry.collect()}


def stream_app_registry() -> CollectorRegistry:
    return StreamAppMetrics(SessionSlot(), PortRange(47998, 48020)).registry


def nvcf_local_registry() -> CollectorRegistry:
    config = NvcfLocalConfig(api_key="k", turn=TurnServer("127.0.0.1", 3478, "u", "p"))
    return NvcfLocalMetrics(ControlPlane(config, Store(None))).registry


@pytest.mark.parametrize(
    ("piece", "registry"),
    [
        ("stream-app", stream_app_registry),
        ("stream-proxy", lambda: ProxyMetrics().registry),
        ("nvcf-local", nvcf_local_registry),
    ],
)
def test_the_doc_lists_every_metric_of_the_piece(piece: str, registry: Callable[[], CollectorRegistry]) -> None:
    names = documented(piece)
    assert names, f"no metrics table under ### {piece}"
    assert names == exported(registry())


def test_the_troubleshooting_guide_names_only_metrics_that_exist() -> None:
    guide = (DOC.parent / "troubleshooting.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:stream_app|nvcf_local)_[a-z_]+)", guide))
    assert named, "the guide names no stream app or nvcf-local metric"
    assert named <= set(exported(stream_app_registry())) | set(exported(nvcf_local_registry()))
