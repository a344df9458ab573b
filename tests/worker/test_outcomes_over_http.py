"""Every HubSpot outcome, driven through the fake HubSpot over HTTP, ends in the right state."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

import transforms
from tests.harness import Paybridge, wait_until

CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture
def slow_client_paybridge(redis_url, hubspot, tmp_path: Path):
    env = {"PAYBRIDGE_HTTP_TIMEOUT_S": "1"}
    with Paybridge(redis_url, hubspot.base_url, tmp_path / "data", env=env) as running:
        yield running


def _contacts(paybridge: Paybridge, hubspot, **options) -> dict:
    return paybridge.create_integration(
        name="Contacts", template="contact_from_payment", hubspot_token=hubspot.token, **options
    )


def _payment(email: str = "jane@example.com") -> dict:
    event = transforms.sample("payment.succeeded")
    event["data"]["customer"]["email"] = email
    return event


def _send(paybridge: Paybridge, integration: dict, webhook_id: str, event: dict | None = None):
    response = paybridge.post_event(integration, event or _payment(), webhook_id)
    assert response.status_code == 202, response.text
    return response.json()["delivery_id"]


def _http_statuses(delivery: dict) -> list[int | None]:
    return [
        exchange["response"]["status"] if exchange["response"] else None
        for attempt in delivery["attempt_log"]
        for exchange in attempt.get("exchanges", [])
    ]


def test_5xx_is_retried_until_delivered(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="status", status=503, count=2, path_prefix=CONTACTS)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    assert _http_statuses(delivery) == [503, 503, 201]
    assert delivery["attempts"] == 3
    assert "HubSpot 503" in delivery["attempt_log"][0]["reason"]


def test_423_locked_is_retried(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="status", status=423, count=1, path_prefix=CONTACTS)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    assert _http_statuses(delivery) == [423, 201]


def test_a_dropped_connection_is_retried(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="drop", count=1, path_prefix=CONTACTS)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    assert _http_statuses(delivery) == [None, 201]
    assert "network error" in delivery["attempt_log"][0]["reason"]


def test_a_timeout_is_retried_and_the_late_create_is_not_duplicated(slow_client_paybridge, hubspot):
    paybridge = slow_client_paybridge
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="slow", delay_s=2.5, count=1, path_prefix=CONTACTS)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    assert "timed out" in delivery["attempt_log"][0]["reason"]
    wait_until(
        lambda: any(r["fault"] == "slow" and r["status"] for r in hubspot.requests()),
        what="the slow request to finish in the fake",
    )
    assert {r["status"] for r in hubspot.requests() if r["method"] == "POST"} == {201, 409}
    assert len(hubspot.contacts()) == 1


@pytest.mark.parametrize(
    ("policy", "words"),
    [("TEN_SECONDLY_ROLLING", "ten_secondly_rolling"), ("SECONDLY", "secondly limit")],
)
def test_429_waits_as_hubspot_says_and_is_not_a_failure(paybridge, hubspot, policy, words):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="rate_limit", policy=policy, retry_after=1, count=1, path_prefix=CONTACTS)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    assert _http_statuses(delivery) == [429, 201]
    assert words in delivery["attempt_log"][0]["reason"]
    assert delivery.get("failures", 0) == 0


def test_429_daily_parks_deliveries_until_the_limit_resets(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="rate_limit", policy="DAILY", count=1, path_prefix=CONTACTS)
    delivery_id = _send(paybridge, integration, "m1")

    delivery = wait_until(
        lambda: (d := paybridge.delivery(delivery_id))["attempts"] == 1 and d,
        what="the first attempt",
    )

    assert delivery["status"] == "retrying"
    assert "daily limit" in delivery["reason"]
    assert delivery["next_attempt_at"] > time.time() + 60
    other = paybridge.delivery(_send(paybridge, integration, "m2", _payment("b@example.com")))
    wait_until(lambda: paybridge.delivery(other["id"])["status"] == "retrying", what="parking")
    assert len([r for r in hubspot.requests() if r["path"] == CONTACTS]) == 1


def test_401_parks_the_integration_until_a_new_token_is_saved(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="status", status=401, category="INVALID_AUTHENTICATION", count=1)
    delivery_id = _send(paybridge, integration, "m1")

    wait_until(
        lambda: (
            paybridge.api.get(f"/api/integrations/{integration['id']}").json()["state"]
            == "needs_reconnect"
        ),
        what="the integration to need reconnecting",
    )
    parked = paybridge.delivery(delivery_id)
    assert parked["status"] == "retrying"
    assert "reconnect" in parked["reason"]

    second = _send(paybridge, integration, "m2", _payment("later@example.com"))
    wait_until(lambda: "reconnect" in (paybridge.delivery(second)["reason"] or ""), what="park")
    hubspot.add_token("pat-na1-new-token")
    response = paybridge.api.patch(
        f"/api/integrations/{integration['id']}", json={"hubspot_token": "pat-na1-new-token"}
    )
    assert response.status_code == 200, response.text

    paybridge.wait_for_status(delivery_id, ("delivered",))
    paybridge.wait_for_status(second, ("delivered",))


def test_403_missing_scopes_names_the_scopes(paybridge, hubspot):
    hubspot.add_token("pat-read-only", scopes=["crm.objects.contacts.read"])
    integration = paybridge.create_integration(
        name="Contacts", template="contact_from_payment", hubspot_token="pat-read-only"
    )
    delivery_id = _send(paybridge, integration, "m1")

    wait_until(lambda: paybridge.delivery(delivery_id)["attempts"] == 1, what="an attempt")

    delivery = paybridge.delivery(delivery_id)
    assert "crm.objects.contacts.write" in delivery["reason"]
    state = paybridge.api.get(f"/api/integrations/{integration['id']}").json()
    assert state["state"] == "needs_reconnect"
    assert "crm.objects.contacts.write" in state["state_reason"]


def test_400_unknown_property_fails_at_once_naming_the_property(paybridge, hubspot):
    code = transforms.template("contact_from_payment")["code"].replace(
        '"email": email', '"email": email, "favourite_colour": "teal"'
    )
    assert "favourite_colour" in code
    integration = paybridge.create_integration(name="C", code=code, hubspot_token=hubspot.token)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("failed",))

    assert delivery["attempts"] == 1
    assert "favourite_colour" in delivery["reason"]
    assert "PROPERTY_DOESNT_EXIST" in delivery["reason"]


def test_404_fails_at_once(paybridge, hubspot):
    code = (
        "def handler(webhook):\n"
        "    webhook.url = 'https://api.hubapi.com/crm/v3/objects/contacts/999999'\n"
        "    webhook.method = 'PATCH'\n"
        "    webhook.payload = {'properties': {'firstname': 'x'}}\n"
        "    return webhook\n"
    )
    integration = paybridge.create_integration(name="C", code=code, hubspot_token=hubspot.token)

    delivery = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("failed",))

    assert delivery["attempts"] == 1
    assert "HubSpot 404" in delivery["reason"]


def test_409_updates_the_contact_by_default_and_fails_when_asked(paybridge, hubspot):
    updating = _contacts(paybridge, hubspot)
    failing = _contacts(paybridge, hubspot, on_conflict="fail")
    paybridge.wait_for_status(_send(paybridge, updating, "m1"), ("delivered",))

    updated = paybridge.wait_for_status(_send(paybridge, updating, "m2"), ("delivered",))
    refused = paybridge.wait_for_status(_send(paybridge, failing, "m3"), ("failed",))

    assert _http_statuses(updated) == [409, 200]
    assert "Contact already exists" in refused["reason"]
    assert len(hubspot.contacts()) == 1


def test_a_delivery_gives_up_after_the_schedule_and_replays_after_the_fix(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    hubspot.inject(kind="status", status=500, count=4, path_prefix=CONTACTS)

    failed = paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("failed",))

    assert failed["attempts"] == 4
    assert "gave up after 4 failed attempts" in failed["reason"]
    listed = paybridge.api.get(
        f"/api/integrations/{integration['id']}/deliveries", params={"status": "failed"}
    ).json()
    assert [d["id"] for d in listed["deliveries"]] == [failed["id"]]

    response = paybridge.api.post(f"/api/deliveries/{failed['id']}/replay")
    assert response.status_code == 202
    replayed = paybridge.wait_for_status(failed["id"], ("delivered",))
    assert replayed["attempts"] == 5


def test_replay_all_failed_uses_the_current_handler_version(paybridge, hubspot):
    code = transforms.template("contact_from_payment")["code"]
    broken = code.replace('"email": email', '"email": email, "nope": "x"')
    integration = paybridge.create_integration(name="C", code=broken, hubspot_token=hubspot.token)
    ids = [_send(paybridge, integration, f"m{i}", _payment(f"p{i}@example.com")) for i in range(3)]
    for delivery_id in ids:
        paybridge.wait_for_status(delivery_id, ("failed",))

    fixed = paybridge.api.patch(f"/api/integrations/{integration['id']}", json={"code": code})
    assert fixed.json()["version"] == 2
    response = paybridge.api.post(f"/api/integrations/{integration['id']}/replay", json={})

    assert response.json() == {"replayed": 3}
    for delivery_id in ids:
        delivered = paybridge.wait_for_status(delivery_id, ("delivered",))
        assert delivered["handler_version"] == 2
    assert len(hubspot.contacts()) == 3


def test_no_token_is_stored_in_clear_text_or_shown(paybridge, hubspot, redis_url):
    integration = _contacts(paybridge, hubspot)
    paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    client = redis.Redis.from_url(redis_url)
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"hash":
            values = list(client.hgetall(key).values())
        else:
            continue
        for value in values:
            assert hubspot.token.encode() not in (value or b""), key

    answers = [
        paybridge.api.get(f"/api/integrations/{integration['id']}").text,
        paybridge.api.get(f"/api/integrations/{integration['id']}/deliveries").text,
    ]
    assert all(hubspot.token not in answer for answer in answers)


def test_metrics_count_events_attempts_and_outcomes(paybridge, hubspot):
    integration = _contacts(paybridge, hubspot)
    paybridge.wait_for_status(_send(paybridge, integration, "m1"), ("delivered",))

    text = paybridge.api.get("/metrics").text

    assert "paybridge_events_received_total 1.0" in text
    assert 'paybridge_deliveries_total{status="delivered"} 1.0' in text
    assert "paybridge_attempts_total 1.0" in text
    assert "paybridge_transform_seconds_count 1.0" in text
    assert 'paybridge_queue_depth{queue="queued"}' in text
