"""Nothing accepted is lost: a worker killed mid-delivery, Redis restarted under load."""

from __future__ import annotations

from pathlib import Path

import redis

import transforms
from tests.harness import Paybridge, wait_until

FAST_RECOVERY = {
    "PAYBRIDGE_LEASE_S": "3",
    "PAYBRIDGE_DUE_GRACE_S": "1",
    "PAYBRIDGE_SWEEP_INTERVAL_S": "0.5",
}


def _emails(hubspot) -> set[str]:
    return {contact["properties"]["email"] for contact in hubspot.contacts()}


def _payment(email: str) -> dict:
    event = transforms.sample("payment.succeeded")
    event["data"]["customer"]["email"] = email
    return event


def test_a_worker_killed_mid_delivery_does_not_lose_it(redis_url, hubspot, tmp_path: Path):
    with Paybridge(redis_url, hubspot.base_url, tmp_path, env=FAST_RECOVERY) as paybridge:
        integration = paybridge.create_integration(
            name="C", template="contact_from_payment", hubspot_token=hubspot.token
        )
        hubspot.inject(kind="slow", delay_s=2, count=1, path_prefix="/crm/v3/objects/contacts")
        client = redis.Redis.from_url(redis_url)

        response = paybridge.post_event(integration, _payment("kill@example.com"), "m1")
        delivery_id = response.json()["delivery_id"]
        wait_until(lambda: client.exists(f"pb:lock:{delivery_id}"), what="the attempt to start")
        paybridge.kill_worker(paybridge.workers[0])
        paybridge.start_worker()

        delivery = paybridge.wait_for_status(delivery_id, ("delivered",), timeout_s=30)
        wait_until(
            lambda: any(r["fault"] == "slow" and r["status"] for r in hubspot.requests()),
            what="the fake to finish the slow request",
        )

        assert len(hubspot.contacts()) == 1
        assert delivery["status"] == "delivered"
        recovered = int(client.hget("pb:metrics:counters", "deliveries_recovered_total") or 0)
        assert recovered == 1
        assert delivery["attempt_log"][0]["interrupted"] is True


def test_a_redis_restart_loses_no_accepted_event(embedded_redis, hubspot, tmp_path: Path):
    url, restart = embedded_redis
    with Paybridge(url, hubspot.base_url, tmp_path, workers=0, env=FAST_RECOVERY) as paybridge:
        integration = paybridge.create_integration(
            name="C", template="contact_from_payment", hubspot_token=hubspot.token
        )
        before = [
            paybridge.post_event(integration, _payment(f"a{i}@example.com"), f"a{i}")
            for i in range(10)
        ]
        assert all(response.status_code == 202 for response in before)

        restart()
        paybridge.start_worker()
        first = {f"a{i}@example.com" for i in range(10)}
        wait_until(lambda: _emails(hubspot) == first, timeout_s=30, what="the first 10 contacts")

        restart()
        after = [
            paybridge.post_event(integration, _payment(f"b{i}@example.com"), f"b{i}")
            for i in range(10)
        ]
        assert all(response.status_code == 202 for response in after), [
            r.status_code for r in after
        ]
        every = first | {f"b{i}@example.com" for i in range(10)}
        wait_until(lambda: _emails(hubspot) == every, timeout_s=60, what="all 20 contacts")

        for response in before + after:
            paybridge.wait_for_status(response.json()["delivery_id"], ("delivered",))
        assert len(hubspot.contacts()) == 20


def test_an_answer_from_hubspot_is_recorded_across_a_redis_restart(
    embedded_redis, hubspot, tmp_path: Path
):
    url, restart = embedded_redis
    env = {**FAST_RECOVERY, "PAYBRIDGE_LEASE_S": "30"}
    with Paybridge(url, hubspot.base_url, tmp_path, env=env) as paybridge:
        integration = paybridge.create_integration(
            name="C", template="contact_from_payment", hubspot_token=hubspot.token
        )
        hubspot.inject(kind="slow", delay_s=1, count=1, path_prefix="/crm/v3/objects/contacts")
        client = redis.Redis.from_url(url)
        response = paybridge.post_event(integration, _payment("blip@example.com"), "blip")
        delivery_id = response.json()["delivery_id"]
        wait_until(lambda: client.exists(f"pb:lock:{delivery_id}"), what="the attempt to start")

        restart(lambda: wait_until(
            lambda: any(r["fault"] == "slow" and r["status"] for r in hubspot.requests()),
            what="HubSpot to answer while Redis is down",
        ))  # fmt: skip

        delivery = paybridge.wait_for_status(delivery_id, ("delivered",), timeout_s=30)
        assert len(hubspot.contacts()) == 1
        posts = [r for r in hubspot.requests() if r["path"] == "/crm/v3/objects/contacts"]
        assert len(posts) == 1, "the request went to HubSpot twice"
        assert [attempt.get("interrupted") for attempt in delivery["attempt_log"]] == [None]
