"""Ingress in-process: events that arrive together, secrets that change, integrations that go."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

import transforms
from engine.app import create_app
from engine.settings import load_settings
from engine.storage import Gone
from tests.harness import API_TOKEN, SECRET_KEY, sign, store_contact_integration

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _app(redis_url: str, tmp_path: Path) -> Starlette:
    settings = load_settings(
        {
            "PAYBRIDGE_REDIS_URL": redis_url,
            "PAYBRIDGE_API_TOKEN": API_TOKEN,
            "PAYBRIDGE_SECRET_KEY": SECRET_KEY,
            "PAYBRIDGE_DATA_DIR": str(tmp_path),
        }
    )
    return create_app(settings)


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Starlette]:
    yield _app(redis_url, tmp_path)


def _client(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://paybridge", headers=AUTH)


async def _create(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {"name": "Contacts", "template": "contact_from_payment"}
    response = await client.post("/api/integrations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _post(
    client: httpx.AsyncClient, integration: dict[str, Any], webhook_id: str, secret: str = ""
) -> httpx.Response:
    event = transforms.sample("payment.succeeded")
    body = json.dumps(event).encode()
    headers = sign(secret or integration["signing_secret"], body, webhook_id)
    return await client.post(f"/webhooks/{integration['id']}", content=body, headers=headers)


def test_events_that_arrive_together_share_a_write_and_are_each_stored_once(app: Starlette):
    writes = []
    storage = app.state.storage
    accept_events = storage.accept_events

    def counted(events):
        writes.append(len(events))
        return accept_events(events)

    storage.accept_events = counted

    async def scenario() -> list[httpx.Response]:
        async with _client(app) as client:
            integration = await _create(client)
            ids = [f"msg_{n % 20}" for n in range(40)]  # each webhook id twice
            return await asyncio.gather(*(_post(client, integration, i) for i in ids))

    responses = asyncio.run(scenario())

    created = [r.json() for r in responses if r.status_code == 202]
    repeated = [r.json() for r in responses if r.status_code == 200]
    assert len(created) == 20 and len(repeated) == 20
    assert {r["delivery_id"] for r in repeated} == {r["delivery_id"] for r in created}
    assert sum(writes) == 40
    assert len(writes) < 40, "concurrent events should share Redis round trips"
    assert storage.redis.zcard("pb:due") == 20


def test_a_batch_with_a_repeated_webhook_id_and_a_deleted_integration(app: Starlette):
    storage = app.state.storage
    kept = store_contact_integration(storage, "Kept")
    event = transforms.sample("payment.succeeded")
    body = json.dumps(event).encode()
    first = storage.prepare_event(kept["id"], "msg_1", body, event)
    again = storage.prepare_event(kept["id"], "msg_1", body, event)
    orphan = storage.prepare_event("int_deleted", "msg_1", body, event)

    outcomes = storage.accept_events([first, again, orphan])

    assert outcomes[0] == (first.delivery_id, True)
    assert outcomes[1] == (first.delivery_id, False)
    assert isinstance(outcomes[2], Gone)
    assert storage.redis.exists(f"pb:delivery:{again.delivery_id}") == 0
    assert storage.redis.exists(f"pb:delivery:{orphan.delivery_id}") == 0
    assert storage.get_event(first.delivery_id) == event
    assert storage.queue.count == 1  # one fan_out job for the batch
    assert storage.take_inbox(10) == [first.delivery_id]


def test_a_fan_out_job_is_enqueued_only_when_the_inbox_was_empty(app: Starlette):
    storage = app.state.storage
    integration = store_contact_integration(storage)
    event = transforms.sample("payment.succeeded")
    body = json.dumps(event).encode()

    def accept(webhook_id: str) -> str:
        prepared = storage.prepare_event(integration["id"], webhook_id, body, event)
        storage.accept_events([prepared])
        return prepared.delivery_id

    first = accept("msg_1")
    second = accept("msg_2")  # the first still waits in the inbox: its fan_out job takes both

    assert [job.func_name for job in storage.queue.get_jobs()] == ["worker.jobs.fan_out"]
    assert storage.drain_inbox() == 2  # what the job, or a worker's sweeper, does
    delivering = [job.args for job in storage.queue.get_jobs()[1:]]
    assert delivering == [(first,), (second,)]
    accept("msg_3")  # the inbox is empty again: a new fan_out job
    assert storage.queue.count == 4


def test_a_replaced_signing_secret_is_used_at_once(app: Starlette):
    rotated = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

    async def scenario() -> tuple[int, int]:
        async with _client(app) as client:
            integration = await _create(client)
            before = await _post(client, integration, "msg_before")  # the old secret is cached
            patch = {"signing_secret": rotated}
            changed = await client.patch(f"/api/integrations/{integration['id']}", json=patch)
            assert changed.status_code == 200, changed.text
            after = await _post(client, integration, "msg_after", secret=rotated)
            return before.status_code, after.status_code

    assert asyncio.run(scenario()) == (202, 202)


def test_an_event_for_a_deleted_integration_is_404_though_its_secret_was_cached(app: Starlette):
    async def scenario() -> tuple[int, httpx.Response]:
        async with _client(app) as client:
            integration = await _create(client)
            before = await _post(client, integration, "msg_before")
            deleted = await client.delete(f"/api/integrations/{integration['id']}")
            assert deleted.status_code in (200, 204), deleted.text
            return before.status_code, await _post(client, integration, "msg_after")

    before, after = asyncio.run(scenario())

    assert before == 202
    assert after.status_code == 404
    assert after.json()["error"]["code"] == "not_found"
    assert app.state.storage.redis.keys("pb:dedupe:*msg_after") == []


def test_ingress_answers_503_while_redis_is_down_and_stores_once_it_is_back(
    embedded_redis, tmp_path
):
    url, restart = embedded_redis
    app = _app(url, tmp_path)
    answers: list[httpx.Response] = []

    async def create() -> dict[str, Any]:
        async with _client(app) as client:
            return await _create(client)

    async def post(webhook_id: str) -> None:
        async with _client(app) as client:
            answers.append(await _post(client, integration, webhook_id))

    integration = asyncio.run(create())
    asyncio.run(post("msg_warm"))  # the secret is cached: only the write meets the outage
    restart(while_down=lambda: asyncio.run(post("msg_down")))
    asyncio.run(post("msg_down"))

    assert [answer.status_code for answer in answers] == [202, 503, 202]
    assert answers[1].json()["error"]["code"] == "storage_unavailable"
    client = redis.Redis.from_url(url)
    assert client.zcard(f"pb:integration:{integration['id']}:deliveries") == 2


def test_a_delivery_taken_from_the_inbox_but_never_enqueued_falls_due_for_the_sweeper(
    app: Starlette,
):
    storage = app.state.storage
    storage.due_grace_s = 0  # due at once, as it would be `due_grace_s` after acceptance
    integration = store_contact_integration(storage, "Kept")
    event = transforms.sample("payment.succeeded")
    prepared = storage.prepare_event(integration["id"], "msg_1", json.dumps(event).encode(), event)
    storage.accept_events([prepared])

    assert storage.take_inbox(10) == [prepared.delivery_id]  # a fan_out job that then dies

    assert storage.take_inbox(10) == []
    assert storage.claim_due() == [prepared.delivery_id]


def test_paths_and_methods_ingress_does_not_serve_get_a_json_404_or_405(app: Starlette):
    async def scenario() -> list[httpx.Response]:
        async with _client(app) as client:
            return [
                await client.post("/webhooks/"),
                await client.post("/webhooks/x/y"),
                await client.put("/webhooks/int_x"),
                await client.get("/webhooks/int_x"),
            ]

    answers = asyncio.run(scenario())

    assert [answer.status_code for answer in answers] == [404, 404, 405, 405]
    assert [answer.json()["error"]["code"] for answer in answers] == [
        "not_found",
        "not_found",
        "method_not_allowed",
        "method_not_allowed",
    ]


def test_redis_down_while_reading_the_signing_secret_is_503_not_401(app: Starlette):
    def unavailable(integration_id: str) -> str:
        raise redis.ConnectionError("redis down")

    async def scenario() -> httpx.Response:
        async with _client(app) as client:
            integration = await _create(client)
            app.state.storage.signing_secret = unavailable
            return await _post(client, integration, "msg_1")

    answer = asyncio.run(scenario())

    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "storage_unavailable"
