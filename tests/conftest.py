"""Shared fixtures: a real Redis (own db number, flushed), the fake HubSpot, paybridge itself."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from engine import redis_server
from tests.fake_hubspot import FakeHubSpot
from tests.harness import Paybridge

TEST_REDIS_URL = os.environ.get("PAYBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"tests need Redis at {TEST_REDIS_URL}: {error}")
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def fake_hubspot_server() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as hubspot:
        yield hubspot


@pytest.fixture
def hubspot(fake_hubspot_server: FakeHubSpot) -> Iterator[FakeHubSpot]:
    fake_hubspot_server.reset()
    yield fake_hubspot_server
    fake_hubspot_server.reset()


@pytest.fixture
def paybridge(redis_url: str, hubspot: FakeHubSpot, tmp_path: Path) -> Iterator[Paybridge]:
    with Paybridge(redis_url, hubspot.base_url, tmp_path / "data") as running:
        yield running


@pytest.fixture
def embedded_redis(tmp_path: Path):
    """An embedded Redis server of our own (AOF on, as `make run` has it), and a restart."""
    port = redis_server.free_port()
    url, process = redis_server.start_embedded(tmp_path / "redis-data", port)
    state = {"process": process}

    def restart(while_down: Callable[[], object] | None = None) -> None:
        redis_server.stop(state["process"])
        if while_down is not None:
            while_down()
        state["process"] = redis_server.start_embedded(tmp_path / "redis-data", port)[1]

    yield url, restart
    redis_server.stop(state["process"])
