"""What became of a benchmark's events, read from paybridge's own storage in the bench Redis."""

from __future__ import annotations

import time
from typing import Any

import redis

from engine.crypto import SecretBox
from engine.settings import DEFAULT_RETENTION_DAYS
from engine.storage import FINAL_STATUSES, STATUSES, Storage
from tests.harness import SECRET_KEY, wait_until

POLL_INTERVAL_S = 0.02


def storage_for(client: redis.Redis) -> Storage:
    """paybridge's `Storage` on the bench database, with the harness's secret key."""
    return Storage(client, SecretBox(SECRET_KEY), DEFAULT_RETENTION_DAYS)


def status_counts(storage: Storage, integration_id: str) -> dict[str, int]:
    return {status: storage.count_deliveries(integration_id, status) for status in STATUSES}


def wait_settled(storage: Storage, integration_id: str, total: int, timeout_s: float) -> float:
    """Wait until `total` deliveries of the integration are final; return when (monotonic).

    Fails early when one of them ends as anything but delivered: the run would only wait
    for the timeout, and the figures would not be about deliveries any more.
    """

    def settled() -> float:
        counts = status_counts(storage, integration_id)
        unsuccessful = {s: counts[s] for s in FINAL_STATUSES if s != "delivered" and counts[s]}
        if unsuccessful:
            first = storage.list_deliveries(integration_id, next(iter(unsuccessful)), limit=1)
            reason = first[0].get("reason") if first else None
            raise RuntimeError(f"deliveries ended unsuccessfully: {unsuccessful}; e.g. {reason}")
        return time.monotonic() if counts["delivered"] >= total else 0.0

    what = f"{total} deliveries of {integration_id} to be delivered"
    return wait_until(settled, timeout_s, interval_s=POLL_INTERVAL_S, what=what)


def records(storage: Storage, integration_id: str, webhook_prefix: str) -> list[dict[str, Any]]:
    """Every delivery of the integration whose webhook id starts with `webhook_prefix`."""
    total = storage.count_deliveries(integration_id)
    everything = storage.list_deliveries(integration_id, limit=max(1, total))
    return [d for d in everything if str(d["webhook_id"]).startswith(webhook_prefix)]


def span_s(deliveries: list[dict[str, Any]]) -> float:
    """From the first accept (`created_at`) to the last delivery (`updated_at`), server clocks."""
    first = min(d["created_at"] for d in deliveries)
    last = max(d["updated_at"] for d in deliveries)
    return float(last - first)
