"""The proxy's Prometheus metrics, in a registry of its own per app (no global registry)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class ProxyMetrics:
    """Every metric the proxy exports at `/metrics` (names in docs/proxy.md)."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.active_sessions = Gauge("proxy_active_sessions", "Bridged sessions open now", registry=r)
        self.handshakes = Counter("proxy_handshakes_total", "Sign-in handshakes by outcome", ["outcome"], registry=r)
        self.functions_requests = Counter(
            "proxy_functions_requests_total", "GET /functions answers by outcome", ["outcome"], registry=r
        )
        self.bytes = Counter("proxy_bytes_total", "Payload bytes relayed, by direction", ["direction"], registry=r)
        self.messages = Counter(
            "proxy_messages_total", "WebSocket messages relayed, by direction", ["direction"], registry=r
        )
        self.upstream_connect_seconds = Histogram(
            "proxy_upstream_connect_seconds",
            "Time to open the upstream WebSocket (successful handshakes)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.key_fetches = Counter(
            "proxy_key_fetches_total", "JWKS fetches by result (ok, error)", ["result"], registry=r
        )

    def count_message(self, direction: str, size: int) -> None:
        """Count one relayed message of `size` payload bytes."""
        self.messages.labels(direction).inc()
        self.bytes.labels(direction).inc(size)
