"""`GET /metrics`: Prometheus text, read from the counters every process keeps in Redis."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from .storage import LATENCY_BUCKETS_S, STATUSES, Storage

COUNTERS = {
    "events_received_total": "Dodo events accepted at ingress",
    "attempts_total": "HTTP requests made to HubSpot",
    "retries_total": "attempts scheduled again after a retryable failure",
    "rate_limit_waits_total": "deliveries held back by paybridge's own rate limiter",
    "rate_limited_by_hubspot_total": "429 answers from HubSpot",
    "replays_total": "deliveries replayed",
    "deliveries_recovered_total": "deliveries enqueued again after their worker vanished",
}
HISTOGRAMS = {
    "transform_seconds": "time to run a handler in the sandbox, round trip included",
    "delivery_seconds": "time to deliver a request to HubSpot",
}


class RedisCollector(Collector):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def collect(self) -> Iterator[Metric]:
        counters = self.storage.counters()
        for name, help_text in COUNTERS.items():
            family = CounterMetricFamily(f"paybridge_{name.removesuffix('_total')}", help_text)
            family.add_metric([], counters.get(name, 0))
            yield family

        outcomes = CounterMetricFamily(
            "paybridge_deliveries", "deliveries that reached a final status", labels=["status"]
        )
        for status in STATUSES:
            outcomes.add_metric([status], counters.get(f"deliveries_{status}_total", 0))
        yield outcomes

        for name, help_text in HISTOGRAMS.items():
            yield self._histogram(name, help_text)

        depth = GaugeMetricFamily("paybridge_queue_depth", "jobs waiting", labels=["queue"])
        for queue, count in self.storage.queue_depth().items():
            depth.add_metric([queue], count)
        yield depth

    def _histogram(self, name: str, help_text: str) -> HistogramMetricFamily:
        raw = self.storage.histogram(name)
        buckets = []
        running = 0.0
        for bound in LATENCY_BUCKETS_S:
            running += raw.get(str(bound), 0)
            buckets.append((str(bound), running))
        running += raw.get("+Inf", 0)
        buckets.append(("+Inf", running))
        family = HistogramMetricFamily(f"paybridge_{name}", help_text)
        family.add_metric([], buckets, sum_value=raw.get("sum", 0.0))
        return family


async def metrics(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(request.app.state.storage))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
