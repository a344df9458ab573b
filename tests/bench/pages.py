"""How fast the console's pages answer with 100,000 deliveries stored for one integration.

Runs its own embedded Redis (never the test database), stores the deliveries spread over event
types, statuses and customers as ingress and the worker leave them, then times each page
in-process, signed in: the median and the worst of 20 requests each.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from engine import redis_server
from engine.app import create_app
from engine.console.users import create_user
from engine.settings import load_settings

from .report import Section, median

EVENT_TYPES = ("payment.succeeded", "payment.failed", "subscription.active", "refund.succeeded")
STATUSES = ("delivered", "delivered", "delivered", "failed", "skipped", "retrying")
ROUNDS = 20
BATCH = 2000
DELIVERIES = 100_000
QUICK_DELIVERIES = 20_000
# A page of the console answers well within a tenth of a second on this 2-core machine.
TARGET_MEDIAN_MS = 100.0


def run(section: Section, quick: bool) -> None:
    count = QUICK_DELIVERIES if quick else DELIVERIES
    with tempfile.TemporaryDirectory() as folder:
        url, process = redis_server.start_embedded(Path(folder) / "redis")
        try:
            _time_pages(section, url, Path(folder), count)
        finally:
            redis_server.stop(process)


def _time_pages(section: Section, url: str, folder: Path, count: int) -> None:
    settings = load_settings(
        {
            "PAYBRIDGE_REDIS_URL": url,
            "PAYBRIDGE_API_TOKEN": "bench",
            "PAYBRIDGE_SECRET_KEY": "bench",
            "PAYBRIDGE_DATA_DIR": str(folder),
        }
    )
    app = create_app(settings)
    storage = app.state.storage
    create_user(storage, "owner", "bench password")
    integration = storage.create_integration(
        name="Bench",
        code="def handler(webhook):\n    return webhook\n",
        event_types=None,
        hubspot_token=None,
        hubspot_account=None,
        on_conflict="update",
        rate_limit=None,
    )
    started = time.perf_counter()
    some_delivery = seed(storage, integration["id"], count)
    section.figure("deliveries stored for one integration", count, "deliveries")
    section.figure("time to store them", time.perf_counter() - started, "s")

    base = f"/integrations/{integration['id']}"
    pages = {
        "integrations list": "/",
        "log, newest 50": base,
        "log, halfway back": f"{base}?offset={count // 2}",
        "log, status=failed": f"{base}?status=failed",
        "log, event type": f"{base}?event_type=refund.succeeded",
        "log, status + event type": f"{base}?status=failed&event_type=payment.failed",
        "find by customer email": f"{base}?find=customer17%40example.com",
        "find by event id": f"{base}?find=msg_{count // 2}",
        "one delivery": f"{base}/deliveries/{some_delivery}",
    }
    with TestClient(app, headers={"Accept": "text/html"}) as client:
        page = client.get("/login").text
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        client.post(
            "/login", data={"csrftoken": token, "name": "owner", "password": "bench password"}
        )
        for name, path in pages.items():
            timings = []
            for _ in range(ROUNDS):
                began = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            section.at_most(f"{name}: median", median(timings), TARGET_MEDIAN_MS, "ms")
            section.figure(f"{name}: worst of {ROUNDS}", max(timings), "ms")


def seed(storage, integration_id: str, count: int) -> str:
    """Store deliveries as ingress and the worker leave them, without running any."""
    last = ""
    for start in range(0, count, BATCH):
        pipe = storage.redis.pipeline(transaction=False)
        for n in range(start, min(start + BATCH, count)):
            event = {
                "type": EVENT_TYPES[n % len(EVENT_TYPES)],
                "data": {"customer": {"email": f"customer{n % 5000}@example.com"}},
            }
            last = f"dlv_bench{n:08d}"
            storage._store_delivery(pipe, integration_id, last, f"msg_{n}", b"{}", event)
            pipe.set(f"pb:dedupe:{integration_id}:msg_{n}", last)
        pipe.execute()
        for n in range(start, min(start + BATCH, count)):
            status = STATUSES[n % len(STATUSES)]
            delivery = storage.get_delivery(f"dlv_bench{n:08d}")
            storage.update_delivery(delivery, status=status)
    return last
