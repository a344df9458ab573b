"""A delivery that paybridge itself cannot carry through ends `failed`, visible and replayable:
never a job that crashes on every try, never a delivery that is tried forever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

import transforms
from engine.settings import load_settings
from engine.storage import Storage
from tests.harness import SECRET_KEY, store_contact_integration
from worker.delivery import MAX_INTERRUPTED_ATTEMPTS, deliver
from worker.ratelimit import RateLimiter
from worker.runtime import Runtime


class WorkerDied(BaseException):
    """Stands for the worker process dying in the middle of an attempt."""


class FailingPool:
    """A sandbox pool that fails in the way a test asks."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.runs = 0

    def run(self, *args: object, **kwargs: object) -> dict:
        self.runs += 1
        raise self.error


@pytest.fixture
def storage(redis_url: str, tmp_path: Path) -> Iterator[Storage]:
    settings = load_settings(
        {
            "PAYBRIDGE_REDIS_URL": redis_url,
            "PAYBRIDGE_SECRET_KEY": SECRET_KEY,
            "PAYBRIDGE_API_TOKEN": "t",
            "PAYBRIDGE_DATA_DIR": str(tmp_path),
        }
    )
    client = redis.Redis.from_url(redis_url)
    yield Storage.for_settings(settings, client)
    client.close()


def runtime_with(storage: Storage, pool: FailingPool) -> Runtime:
    settings = load_settings({"PAYBRIDGE_SECRET_KEY": SECRET_KEY, "PAYBRIDGE_API_TOKEN": "t"})
    return Runtime(settings, storage, pool, httpx.Client(), RateLimiter(storage.redis))  # type: ignore[arg-type]


def accepted_delivery(storage: Storage) -> str:
    integration = store_contact_integration(storage, "Contacts")
    event = transforms.sample("payment.succeeded")
    delivery_id, _ = storage.accept_event(integration["id"], "msg_1", b"{}", event)
    return delivery_id


def test_an_unexpected_error_fails_the_delivery_with_the_reason(storage: Storage) -> None:
    delivery_id = accepted_delivery(storage)
    runtime = runtime_with(storage, FailingPool(UnicodeEncodeError("ascii", "é", 0, 1, "no")))

    status = deliver(runtime, delivery_id)

    delivery = storage.get_delivery(delivery_id)
    assert status == "failed"
    assert delivery["status"] == "failed"
    assert "paybridge could not run this delivery: UnicodeEncodeError" in delivery["reason"]
    assert storage.get_attempts(delivery_id)[-1]["reason"] == delivery["reason"]
    assert storage.replay(delivery_id)["status"] == "pending"


def test_a_delivery_its_workers_keep_dying_on_is_failed_after_a_few(storage: Storage) -> None:
    delivery_id = accepted_delivery(storage)
    pool = FailingPool(WorkerDied())
    runtime = runtime_with(storage, pool)

    for _ in range(MAX_INTERRUPTED_ATTEMPTS):
        # An attempt starts, and its worker dies: the lease runs out with the attempt open.
        storage.lock(delivery_id, 60)
        storage.redis.delete(f"pb:lock:{delivery_id}")
        try:
            status = deliver(runtime, delivery_id)
        except WorkerDied:
            status = None

    delivery = storage.get_delivery(delivery_id)
    assert status == "failed"
    assert pool.runs == MAX_INTERRUPTED_ATTEMPTS - 1
    assert delivery["status"] == "failed"
    assert f"{MAX_INTERRUPTED_ATTEMPTS} attempts in a row were interrupted" in delivery["reason"]
