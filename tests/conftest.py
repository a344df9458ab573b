"""Shared fixtures: a real Redis (own db number, flushed), the fake HubSpot, paybridge itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

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
