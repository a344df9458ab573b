"""A signed Dodo event becomes a HubSpot record: the whole path, over real HTTP and Redis."""

from __future__ import annotations

import json
import time

import pytest
import redis

import transforms
from tests.fake_hubspot import FakeHubSpot
from tests.harness import Paybridge, sign

REAL_PAYMENT = "payment.succeeded__real-Bounce-anonymized"


def _contact_integration(paybridge: Paybridge, hubspot: FakeHubSpot) -> dict:
    return paybridge.create_integration(
        name="Contacts", template="contact_from_payment", hubspot_token=hubspot.token
    )


def test_real_payment_creates_the_contact_in_hubspot(paybridge, hubspot):
    integration = _contact_integration(paybridge, hubspot)
    event = transforms.real_samples()[REAL_PAYMENT]

    response = paybridge.post_event(integration, event, "msg_real_1")

    assert response.status_code == 202
    delivery = paybridge.wait_for_status(response.json()["delivery_id"], ("delivered",))
    contacts = hubspot.contacts()
    assert len(contacts) == 1
    properties = contacts[0]["properties"]
    customer = event["data"]["customer"]
    assert properties["email"] == customer["email"]
    first, _, last = customer["name"].partition(" ")
    assert properties["firstname"] == first
    assert properties["lastname"] == last
    assert properties["country"] == event["data"]["billing"]["country"]
    assert delivery["attempts"] == 1
    assert delivery["attempt_log"][0]["exchanges"][0]["response"]["status"] == 201


def test_the_same_webhook_id_again_creates_nothing_more(paybridge, hubspot):
    integration = _contact_integration(paybridge, hubspot)
    event = transforms.real_samples()[REAL_PAYMENT]

    first = paybridge.post_event(integration, event, "msg_dupe")
    second = paybridge.post_event(integration, event, "msg_dupe")

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"delivery_id": first.json()["delivery_id"], "duplicate": True}
    paybridge.wait_for_status(first.json()["delivery_id"], ("delivered",))
    listed = paybridge.api.get(f"/api/integrations/{integration['id']}/deliveries").json()
    assert listed["total"] == 1
    creates = [r for r in hubspot.requests() if r["method"] == "POST"]
    assert len(creates) == 1


def test_a_bad_signature_is_401_and_stores_nothing(paybridge, hubspot, redis_url):
    integration = _contact_integration(paybridge, hubspot)
    body = json.dumps(transforms.sample("payment.succeeded")).encode()
    headers = sign("whsec_" + "A" * 32, body, "msg_forged")
    client = redis.Redis.from_url(redis_url)
    keys_before = set(client.keys("pb:delivery:*"))

    response = paybridge.api.post(f"/webhooks/{integration['id']}", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert set(client.keys("pb:delivery:*")) == keys_before
    assert not client.exists(f"pb:dedupe:{integration['id']}:msg_forged")


def test_a_malformed_signature_header_is_401_not_500(paybridge, hubspot):
    integration = _contact_integration(paybridge, hubspot)
    body = json.dumps(transforms.sample("payment.succeeded")).encode()
    headers = sign(integration["signing_secret"], body, "msg_x")
    for bad in ("v1", "v1,not-base64!!", "garbage with spaces", ""):
        headers["webhook-signature"] = bad
        response = paybridge.api.post(
            f"/webhooks/{integration['id']}", content=body, headers=headers
        )
        assert response.status_code == 401, bad


def test_a_stale_timestamp_is_401(paybridge, hubspot):
    integration = _contact_integration(paybridge, hubspot)
    body = json.dumps(transforms.sample("payment.succeeded")).encode()
    headers = sign(integration["signing_secret"], body, "msg_old", time.time() - 3600)

    response = paybridge.api.post(f"/webhooks/{integration['id']}", content=body, headers=headers)

    assert response.status_code == 401


def test_unknown_integration_is_404_and_malformed_body_is_400(paybridge, hubspot):
    integration = _contact_integration(paybridge, hubspot)
    body = b"{not json"
    headers = sign(integration["signing_secret"], body, "msg_bad_json")

    malformed = paybridge.api.post(f"/webhooks/{integration['id']}", content=body, headers=headers)
    unknown = paybridge.api.post("/webhooks/int_nope", content=body, headers=headers)

    assert malformed.status_code == 400
    assert unknown.status_code == 404


NOT_JSON_WE_ACCEPT = [
    pytest.param(
        b'{"type": "payment.succeeded", "data": NaN}', "NaN is not a JSON value", id="NaN"
    ),
    pytest.param(b'{"type": "x", "data": Infinity}', "Infinity", id="Infinity"),
    pytest.param(
        b'{"type": "x", "data": ' + b"[" * 40 + b"]" * 40 + b"}", "deeper than 32", id="deep"
    ),
    pytest.param(
        b'{"type": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "deeper than 32",
        id="very-deep",
    ),
    pytest.param(b'{"type": "x", "n": ' + b"9" * 5000 + b"}", "digits", id="huge-int"),
    pytest.param(b'{"type": "x\xff\xfe"}', "UTF-8", id="not-utf-8"),
    pytest.param(b'{"type": "x", "e": "\\ud800"}', "surrogate", id="lone-surrogate"),
    pytest.param(b'{"type": "x", "e": "\xed\xa0\x80"}', "UTF-8", id="raw-surrogate"),
    pytest.param(
        '{"type": "x", "e": "\ud800"}'.encode("utf-16-le", "surrogatepass"), "UTF-8", id="utf-16"
    ),
    pytest.param(b'["payment.succeeded"]', "JSON object with a type", id="a-list"),
    pytest.param(b'{"data": {}}', "JSON object with a type", id="no-type"),
]


@pytest.mark.parametrize("body, words", NOT_JSON_WE_ACCEPT)
def test_a_signed_body_that_is_not_plain_json_is_400_and_stores_nothing(
    paybridge, hubspot, body: bytes, words: str
):
    integration = _contact_integration(paybridge, hubspot)
    headers = sign(integration["signing_secret"], body, "msg_odd")

    response = paybridge.api.post(f"/webhooks/{integration['id']}", content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
    listed = paybridge.api.get(f"/api/integrations/{integration['id']}/deliveries").json()
    assert listed["deliveries"] == []


def test_an_event_the_handler_ignores_ends_skipped(paybridge, hubspot):
    integration = _contact_integration(paybridge, hubspot)

    response = paybridge.post_event(integration, transforms.sample("refund.succeeded"), "msg_r")

    delivery = paybridge.wait_for_status(response.json()["delivery_id"], ("skipped",))
    assert "no url" in delivery["reason"]
    assert hubspot.contacts() == []


def test_a_handler_that_raises_ends_transform_error_with_its_line(paybridge, hubspot):
    code = (
        "def handler(webhook):\n"
        "    data = webhook.payload['data']\n"
        "    phone = data['customer']['phone']\n"
        "    return webhook\n"
    )
    integration = paybridge.create_integration(
        name="Broken", code=code, hubspot_token=hubspot.token
    )

    response = paybridge.post_event(integration, transforms.sample("payment.succeeded"), "msg_e")

    delivery = paybridge.wait_for_status(response.json()["delivery_id"], ("transform_error",))
    assert "KeyError" in delivery["reason"]
    assert "(line 3)" in delivery["reason"]
    error = delivery["attempt_log"][0]["transform"]["error"]
    assert error["line"] == 3
    assert hubspot.requests() == [] or all(r["method"] == "GET" for r in hubspot.requests())
