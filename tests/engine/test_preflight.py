"""Preflight in `POST /api/transforms/test`: each HubSpot mistake is found, with its fix named.

paybridge runs for real (web and worker processes) against the fake HubSpot over HTTP. Where a
finding predicts a HubSpot refusal, the test also sends the same request to the fake and checks
that it refuses it with the code the finding names.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import redis

import transforms
from engine import preflight
from engine.crypto import SecretBox
from engine.storage import Storage
from tests.fake_hubspot import FakeHubSpot
from tests.harness import SECRET_KEY, Paybridge

HUBSPOT = "https://api.hubapi.com"
DEALS = f"{HUBSPOT}/crm/v3/objects/deals"
CONTACTS = f"{HUBSPOT}/crm/v3/objects/contacts"
TO_CONTACT = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]


def handler(url: str, body: dict[str, Any], method: str = "POST") -> str:
    """A handler that sends `body` to `url`, whatever the event."""
    return (
        "def handler(webhook):\n"
        f"    webhook.url = {url!r}\n"
        f"    webhook.method = {method!r}\n"
        f"    webhook.payload = {body!r}\n"
        "    return webhook\n"
    )


def connect(paybridge: Paybridge, hubspot: FakeHubSpot, token: str | None = None) -> dict:
    return paybridge.create_integration(
        name="Preflight", template="deal_from_payment", hubspot_token=token or hubspot.token
    )


def findings(
    paybridge: Paybridge, integration: dict, code: str, **extra: Any
) -> list[dict[str, Any]]:
    body = {"code": code, "integration_id": integration["id"], **extra}
    response = paybridge.api.post("/api/transforms/test", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["error"] is None, result["error"]
    return list(result["findings"])


def by_field(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    fields = [finding["field"] for finding in found]
    assert len(fields) == len(set(fields)), found
    return {finding["field"]: finding for finding in found}


def hubspot_says(hubspot: FakeHubSpot, method: str, path: str, body: Any) -> httpx.Response:
    """Send a request to the fake HubSpot as the worker would, and return its answer."""
    with httpx.Client(base_url=hubspot.base_url, trust_env=False) as client:
        return client.request(method, path, json=body, headers=hubspot.auth_headers)


def create_hubspot_property(hubspot: FakeHubSpot, object_type: str, name: str, type_: str) -> None:
    """Create a property in HubSpot directly, as an owner would in HubSpot's settings."""
    group = {"contacts": "contactinformation", "deals": "dealinformation"}[object_type]
    field_type = {"date": "date", "datetime": "date", "string": "text", "number": "number"}[type_]
    body = {"name": name, "label": name, "type": type_, "fieldType": field_type}
    answer = hubspot_says(
        hubspot, "POST", f"/crm/v3/properties/{object_type}", {**body, "groupName": group}
    )
    assert answer.status_code == 201, answer.text


# -- a correct request has no findings ----------------------------------------------------------


def test_the_templates_own_requests_have_no_findings(paybridge, hubspot):
    integration = connect(paybridge, hubspot)

    for template_id, event_type in [
        ("deal_from_payment", "payment.succeeded"),
        ("contact_from_payment", "payment.succeeded"),
        ("refund_note", "refund.succeeded"),
        ("dispute_task", "dispute.opened"),
    ]:
        code = transforms.template(template_id)["code"]
        assert findings(paybridge, integration, code, event_type=event_type) == [], template_id


def test_without_integration_or_token_there_are_no_findings(paybridge, hubspot):
    unconnected = paybridge.create_integration(name="No token", template="deal_from_payment")
    code = handler(DEALS, {"properties": {"no_such_property": "x"}})

    assert findings(paybridge, unconnected, code) == []
    response = paybridge.api.post("/api/transforms/test", json={"code": code})
    assert response.json()["findings"] == []
    assert not [r for r in hubspot.requests() if r["path"].startswith("/crm/v3/properties")]


def test_after_creating_every_property_offered_the_subscription_template_delivers(
    paybridge, hubspot
):
    integration = paybridge.create_integration(
        name="Subscriptions", template="subscription_status_sync", hubspot_token=hubspot.token
    )
    code = transforms.template("subscription_status_sync")["code"]
    offered = findings(paybridge, integration, code, event_type="subscription.renewed")

    for finding in offered:
        action = finding["action"]
        created = paybridge.api.request(action["method"], action["path"], json=action["body"])
        assert created.status_code == 201, created.text
    event = transforms.sample("subscription.renewed")
    delivery_id = paybridge.post_event(integration, event, "msg_sub").json()["delivery_id"]
    delivery = paybridge.wait_for_status(delivery_id, ("delivered", "failed"))

    types = {f["action"]["body"]["name"]: f["action"]["body"]["type"] for f in offered}
    assert types == {
        "subscription_status": "string",
        "subscription_id": "string",
        "subscription_product_id": "string",
        "subscription_currency": "string",
        "next_billing_date": "date",
        "subscription_amount": "number",
    }
    assert findings(paybridge, integration, code, event_type="subscription.renewed") == []
    assert delivery["status"] == "delivered", delivery["reason"]
    [contact] = hubspot.contacts()
    assert contact["properties"]["email"] == event["data"]["customer"]["email"]
    assert contact["properties"]["subscription_status"] == "active"
    assert contact["properties"]["next_billing_date"] == "2026-05-02"


# -- properties that do not exist, and creating them --------------------------------------------


def test_a_missing_property_is_found_with_a_create_fix_of_the_inferred_type(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    properties = {
        "dealname": "Payment",
        "mrr_amount": "49.99",
        "seats_count": 3,
        "renewal_date": "2026-02-14",
        "paid_at": "2026-02-14T10:30:00.000Z",
        "plan_status": "active",
    }

    found = by_field(findings(paybridge, integration, handler(DEALS, {"properties": properties})))

    expected_types = {
        "mrr_amount": "number",
        "seats_count": "number",
        "renewal_date": "date",
        "paid_at": "datetime",
        "plan_status": "string",
    }
    assert set(found) == {f"properties.{name}" for name in expected_types}
    for name, type_ in expected_types.items():
        finding = found[f"properties.{name}"]
        assert "PROPERTY_DOESNT_EXIST" in finding["problem"]
        assert f"Create it as a {type_} property" in finding["fix"]
        assert f"/api/integrations/{integration['id']}/properties" in finding["fix"]
        action = finding["action"]
        assert action["method"] == "POST"
        assert action["path"] == f"/api/integrations/{integration['id']}/properties"
        assert action["body"]["type"] == type_
        assert action["body"]["object_type"] == "deals"
        assert action["body"]["group_name"] == "dealinformation"
    assert "enumeration" in found["properties.plan_status"]["fix"]
    assert all(f["action"]["body"]["type"] != "enumeration" for f in found.values())
    refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/deals", {"properties": properties})
    assert refused.status_code == 400
    assert refused.text.count("PROPERTY_DOESNT_EXIST") == len(expected_types)


def test_creating_the_property_a_finding_offers_clears_the_finding(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    code = handler(DEALS, {"properties": {"dealname": "Payment", "mrr_amount": "49.99"}})
    [finding] = findings(paybridge, integration, code)

    action = finding["action"]
    created = paybridge.api.request(action["method"], action["path"], json=action["body"])

    assert created.status_code == 201, created.text
    assert created.json()["property"]["name"] == "mrr_amount"
    assert created.json()["property"]["type"] == "number"
    definition = hubspot_says(hubspot, "GET", "/crm/v3/properties/deals/mrr_amount", None)
    assert definition.status_code == 200
    assert definition.json()["type"] == "number"
    assert definition.json()["groupName"] == "dealinformation"
    assert findings(paybridge, integration, code) == []
    again = paybridge.api.request(action["method"], action["path"], json=action["body"])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"


def test_property_creation_is_refused_without_options_for_an_enumeration(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    path = f"/api/integrations/{integration['id']}/properties"

    no_options = paybridge.api.post(
        path, json={"object_type": "contacts", "name": "plan", "type": "enumeration"}
    )
    with_options = paybridge.api.post(
        path,
        json={
            "object_type": "contacts",
            "name": "plan",
            "type": "enumeration",
            "options": ["starter", "pro"],
        },
    )

    assert no_options.status_code == 422
    assert no_options.json()["error"]["field"] == "options"
    assert with_options.status_code == 201, with_options.text
    values = [o["value"] for o in with_options.json()["property"]["options"]]
    assert values == ["starter", "pro"]


def test_property_creation_names_the_schema_scope_hubspot_asks_for(paybridge, hubspot):
    token = "pat-na1-no-schema-write"
    hubspot.add_token(token, ["crm.objects.deals.read", "crm.objects.deals.write"])
    integration = connect(paybridge, hubspot, token)

    response = paybridge.api.post(
        f"/api/integrations/{integration['id']}/properties",
        json={"object_type": "deals", "name": "mrr_amount", "type": "number"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scopes"
    assert "crm.schemas.deals.write" in response.json()["error"]["message"]


# -- read-only properties, options, deal stages and pipelines -----------------------------------


def test_a_read_only_property_is_found(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    body = {"properties": {"email": "jane@example.com", "hs_object_id": "12", "createdate": "0"}}

    found = by_field(findings(paybridge, integration, handler(CONTACTS, body)))

    assert set(found) == {"properties.hs_object_id", "properties.createdate"}
    assert "read-only" in found["properties.hs_object_id"]["problem"]
    assert found["properties.hs_object_id"]["fix"] == "Remove hs_object_id from properties."
    refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/contacts", body)
    assert refused.status_code == 400
    assert "READ_ONLY_VALUE" in refused.text


def test_a_value_outside_an_enumerations_options_is_found(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    contact = {"properties": {"email": "jane@example.com", "lifecyclestage": "Customer"}}
    deal = {"properties": {"dealname": "P", "deal_currency_code": "BRL"}}

    [label] = findings(paybridge, integration, handler(CONTACTS, contact))
    [currency] = findings(paybridge, integration, handler(DEALS, deal))

    assert label["field"] == "properties.lifecyclestage"
    assert "INVALID_OPTION" in label["problem"]
    assert label["fix"] == "Use the internal value 'customer' (HubSpot shows it as 'Customer')."
    assert currency["field"] == "properties.deal_currency_code"
    assert "'USD' (USD)" in currency["fix"] and "'INR' (INR)" in currency["fix"]
    refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/deals", deal)
    assert refused.status_code == 400
    assert "INVALID_OPTION" in refused.text


def test_deal_stages_and_pipelines_are_checked_against_the_accounts_pipelines(paybridge, hubspot):
    integration = connect(paybridge, hubspot)

    [stage] = findings(
        paybridge,
        integration,
        handler(DEALS, {"properties": {"dealname": "P", "dealstage": "won"}}),
    )
    [by_label] = findings(
        paybridge,
        integration,
        handler(DEALS, {"properties": {"dealname": "P", "dealstage": "Closed Won"}}),
    )
    [pipeline] = findings(
        paybridge,
        integration,
        handler(DEALS, {"properties": {"dealname": "P", "pipeline": "sales", "dealstage": "x"}}),
    )

    assert stage["field"] == "properties.dealstage"
    assert (
        "'won' is not a stage of the deal pipeline 'Sales Pipeline' (default)" in stage["problem"]
    )
    assert "'closedwon' (Closed Won)" in stage["fix"]
    assert (
        by_label["fix"] == "Use the internal value 'closedwon' (HubSpot shows it as 'Closed Won')."
    )
    assert pipeline["field"] == "properties.pipeline"
    assert "'default' (Sales Pipeline)" in pipeline["fix"]
    assert any(r["path"] == "/crm/v3/pipelines/deals" for r in hubspot.requests())


def test_a_stage_of_another_pipeline_is_found_from_the_accounts_pipelines(paybridge, hubspot):
    hubspot.add_pipeline("renewals", "Renewals", [("renewal_open", "Open"), ("renewal_won", "Won")])
    integration = connect(paybridge, hubspot)
    wrong_pipeline = {"properties": {"dealname": "P", "dealstage": "renewal_won"}}
    right_pipeline = {
        "properties": {"dealname": "P", "pipeline": "renewals", "dealstage": "renewal_won"}
    }

    [finding] = findings(paybridge, integration, handler(DEALS, wrong_pipeline))

    assert finding["field"] == "properties.dealstage"
    assert finding["fix"] == "It is a stage of pipeline 'renewals': set \"pipeline\": 'renewals'."
    assert findings(paybridge, integration, handler(DEALS, right_pipeline)) == []
    refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/deals", wrong_pipeline)
    assert refused.status_code == 400
    assert "INVALID_OPTION" in refused.text
    accepted = hubspot_says(hubspot, "POST", "/crm/v3/objects/deals", right_pipeline)
    assert accepted.status_code == 201, accepted.text


# -- emails, dates ------------------------------------------------------------------------------


def test_emails_hubspot_rejects_are_found(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    bad_tld = {"properties": {"email": "invalid.email@wales.nhs.ik"}}
    by_email_url = f"{CONTACTS}/jane%40%40example.com?idProperty=email"

    [tld] = findings(paybridge, integration, handler(CONTACTS, bad_tld))
    [in_url] = findings(
        paybridge, integration, handler(by_email_url, {"properties": {"firstname": "J"}}, "PATCH")
    )

    assert tld["field"] == "properties.email"
    assert "'.ik', which is not a real top-level domain" in tld["problem"]
    assert "INVALID_EMAIL" in tld["problem"]
    assert "webhook.cancel" in tld["fix"]
    assert in_url["field"] == "url"
    assert "jane@@example.com" in in_url["problem"]
    refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/contacts", bad_tld)
    assert refused.status_code == 400
    assert "INVALID_EMAIL" in refused.text


def test_a_date_property_value_not_at_midnight_utc_is_found(paybridge, hubspot):
    create_hubspot_property(hubspot, "contacts", "next_billing_date", "date")
    integration = connect(paybridge, hubspot)
    body = {
        "properties": {"email": "jane@example.com", "next_billing_date": "2026-02-14T10:30:00Z"}
    }
    seconds = {"properties": {"dealname": "P", "closedate": 1635535865}}

    [date] = findings(paybridge, integration, handler(CONTACTS, body))
    [in_seconds] = findings(paybridge, integration, handler(DEALS, seconds))

    assert date["field"] == "properties.next_billing_date"
    assert "midnight UTC" in date["problem"] and "10:30:00 UTC" in date["problem"]
    assert date["fix"] == 'Send the day only: hubspot_date(timestamp) gives "2026-02-14".'
    assert in_seconds["field"] == "properties.closedate"
    assert "seconds" in in_seconds["problem"]
    assert "hubspot_datetime" in in_seconds["fix"]
    refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/contacts", body)
    assert refused.status_code == 400
    assert "not midnight" in refused.text and "INVALID_DATE" in refused.text
    midnight = {"properties": {"email": "jane@example.com", "next_billing_date": "2026-02-14"}}
    assert findings(paybridge, integration, handler(CONTACTS, midnight)) == []


# -- associations ----------------------------------------------------------------------------


def test_association_targets_that_are_not_hubspot_record_ids_are_found(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    contact = hubspot_says(
        hubspot, "POST", "/crm/v3/objects/contacts", {"properties": {"email": "jane@example.com"}}
    ).json()
    associations = [
        {"to": {"id": "cus_0NWGyJlpnt8rPFAMbZxcp"}, "types": TO_CONTACT},
        {"to": {"id": "999"}, "types": TO_CONTACT},
        {"to": {"id": contact["id"]}, "types": TO_CONTACT},
        {"to": {"email": "jane@example.com"}, "types": TO_CONTACT},
        {
            "to": {"id": contact["id"]},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}],
        },
        {"to": {"id": contact["id"]}, "types": [{"associationTypeId": 3}]},
    ]
    body = {"properties": {"dealname": "P"}, "associations": associations}

    found = by_field(findings(paybridge, integration, handler(DEALS, body)))

    assert set(found) == {
        "associations[0].to.id",
        "associations[1].to.id",
        "associations[4].types[0].associationTypeId",
        "associations[5].types[0]",
    }
    dodo_id = found["associations[0].to.id"]
    assert "is not a HubSpot record id (it is Dodo's customer id)" in dodo_id["problem"]
    assert '{"email": customer["email"]}' in dodo_id["fix"]
    assert "has no contact 999" in found["associations[1].to.id"]["problem"]
    direction = found["associations[4].types[0].associationTypeId"]
    assert "type 4 is contact → deal" in direction["problem"]
    assert "3 (deal → contact)" in direction["fix"]
    assert "associationCategory" in found["associations[5].types[0]"]["problem"]
    for index in (0, 1, 4):
        one = {"properties": {"dealname": "P"}, "associations": [associations[index]]}
        refused = hubspot_says(hubspot, "POST", "/crm/v3/objects/deals", one)
        assert refused.status_code == 400, index
        assert "One or more associations are invalid" in refused.text


def test_a_contact_id_in_the_url_that_is_dodos_is_found(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    url = f"{CONTACTS}/cus_0NWGyJlpnt8rPFAMbZxcp"

    [finding] = findings(paybridge, integration, handler(url, {"properties": {}}, "PATCH"))

    assert finding["field"] == "url"
    assert "Dodo's customer id" in finding["problem"]
    assert "?idProperty=email" in finding["fix"]


# -- scopes ---------------------------------------------------------------------------------


def test_scopes_hubspot_refuses_to_a_private_app_token_are_found(paybridge, hubspot):
    token = "pat-na1-contacts-only"
    hubspot.add_token(token, ["crm.objects.contacts.read", "crm.objects.contacts.write"])
    integration = connect(paybridge, hubspot, token)

    [finding] = findings(paybridge, integration, handler(DEALS, {"properties": {"dealname": "P"}}))

    assert finding["field"] == "scopes"
    assert "crm.objects.deals.read" in finding["problem"]
    assert finding["fix"].startswith("Grant ")


def test_scopes_the_connection_was_not_granted_are_found(redis_url, hubspot):
    """Against the scopes an OAuth connection reports (`granted_scopes`)."""
    client = redis.Redis.from_url(redis_url)
    storage = Storage(client, SecretBox(SECRET_KEY), retention_days=1)
    request = {
        "method": "POST",
        "url": DEALS,
        "body": {
            "properties": {"dealname": "P"},
            "associations": [{"to": {"email": "jane@example.com"}, "types": TO_CONTACT}],
        },
    }
    granted = {"crm.objects.deals.read", "crm.objects.contacts.write"}

    async def run(scopes: set[str] | None) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(trust_env=False) as http:
            schema = preflight.AccountSchema(storage, http, hubspot.base_url, hubspot.token, "42")
            return await preflight.check_request(request, schema, scopes, "int_x")

    found = asyncio.run(run(granted))
    unknown = asyncio.run(run(None))
    client.close()

    problems = " ".join(finding["problem"] for finding in found)
    assert [finding["field"] for finding in found] == ["scopes", "scopes"]
    assert "crm.objects.deals.write" in problems
    assert "crm.objects.contacts.read" in problems
    assert "finding the contact by email" in problems
    assert unknown == []


# -- the schema cache -----------------------------------------------------------------------


def _property_reads(hubspot: FakeHubSpot) -> int:
    reads = [r for r in hubspot.requests() if r["method"] == "GET"]
    return sum(1 for r in reads if r["path"] == "/crm/v3/properties/deals")


def test_the_account_schema_is_cached_and_refreshed_on_demand(paybridge, hubspot):
    integration = connect(paybridge, hubspot)
    code = handler(DEALS, {"properties": {"dealname": "P", "plan_name": "Pro", "seats": "x"}})
    assert len(findings(paybridge, integration, code)) == 2
    assert _property_reads(hubspot) == 1

    create_hubspot_property(hubspot, "deals", "plan_name", "string")
    cached = findings(paybridge, integration, code)
    refreshed = findings(paybridge, integration, code, refresh=True)

    assert len(cached) == 2
    assert [finding["field"] for finding in refreshed] == ["properties.seats"]
    assert _property_reads(hubspot) == 2

    create_hubspot_property(hubspot, "deals", "seats", "number")
    response = paybridge.api.post(f"/api/integrations/{integration['id']}/schema/refresh", json={})

    assert response.status_code == 200, response.text
    assert response.json()["findings"] == []
    pipelines = response.json()["objects"]["deals"]["pipelines"]
    assert pipelines[0]["id"] == "default" and "closedwon" in pipelines[0]["stages"]
    before = _property_reads(hubspot)
    [bad_number] = findings(paybridge, integration, code)
    assert _property_reads(hubspot) == before
    assert bad_number["field"] == "properties.seats"
    assert "not a number" in bad_number["problem"]


def test_the_schema_cache_is_plain_json_in_redis(paybridge, hubspot, redis_url):
    integration = connect(paybridge, hubspot)
    findings(paybridge, integration, handler(DEALS, {"properties": {"dealname": "P"}}))

    client = redis.Redis.from_url(redis_url)
    account = integration["hubspot"]["account"]
    raw = client.get(f"pb:schema:{account}:properties:deals")
    ttl_s = client.ttl(f"pb:schema:{account}:properties:deals")
    client.close()

    cached = json.loads(raw)
    assert cached["properties"]["amount"]["type"] == "number"
    assert cached["properties"]["hs_object_id"]["read_only"] is True
    assert 0 < ttl_s <= preflight.SCHEMA_CACHE_S


# -- the worker: update by email that meets 404, and the deal template end to end --------------


def _update_by_email_code(email: str) -> str:
    url = f"{CONTACTS}/{email.replace('@', '%40')}?idProperty=email"
    return handler(url, {"properties": {"firstname": "Jane"}}, "PATCH")


def test_an_update_by_email_that_meets_404_creates_the_contact(paybridge, hubspot):
    creating = paybridge.create_integration(
        name="Update", code=_update_by_email_code("new@example.com"), hubspot_token=hubspot.token
    )
    failing = paybridge.create_integration(
        name="Strict",
        code=_update_by_email_code("other@example.com"),
        hubspot_token=hubspot.token,
        on_missing="fail",
    )
    event = transforms.sample("subscription.active")

    created = paybridge.wait_for_status(
        paybridge.post_event(creating, event, "msg_404_create").json()["delivery_id"],
        ("delivered", "failed"),
    )
    refused = paybridge.wait_for_status(
        paybridge.post_event(failing, event, "msg_404_fail").json()["delivery_id"],
        ("delivered", "failed"),
    )

    assert created["status"] == "delivered"
    assert creating["on_missing"] == "create"
    exchanges = created["attempt_log"][0]["exchanges"]
    assert [(e["request"]["method"], e["response"]["status"]) for e in exchanges] == [
        ("PATCH", 404),
        ("POST", 201),
    ]
    [contact] = hubspot.contacts()
    assert contact["properties"]["email"] == "new@example.com"
    assert contact["properties"]["firstname"] == "Jane"
    assert refused["status"] == "failed"
    assert "HubSpot 404" in refused["reason"]


def test_the_deal_template_associates_the_real_payment_with_its_contact(paybridge, hubspot):
    event = transforms.real_samples()["payment.succeeded__real-Bounce-anonymized"]
    contacts = paybridge.create_integration(
        name="Contacts", template="contact_from_payment", hubspot_token=hubspot.token
    )
    deals = paybridge.create_integration(
        name="Deals", template="deal_from_payment", hubspot_token=hubspot.token
    )

    contact_delivery = paybridge.post_event(contacts, event, "msg_real_contact").json()
    deal_delivery = paybridge.post_event(deals, event, "msg_real_deal").json()
    paybridge.wait_for_status(contact_delivery["delivery_id"], ("delivered",))
    paybridge.wait_for_status(deal_delivery["delivery_id"], ("delivered",), timeout_s=30)

    [contact] = hubspot.contacts()
    [deal] = hubspot.deals()
    assert contact["properties"]["email"] == event["data"]["customer"]["email"]
    assert deal["associations"] == {"contacts": [contact["id"]]}
    assert deal["properties"]["dealstage"] == "closedwon"
    assert deal["properties"]["deal_currency_code"] == event["data"]["currency"]
    assert event["data"]["payment_id"] in deal["properties"]["dealname"]


def test_the_preflight_package_exports_its_public_names():
    submodules = {"checks", "crm", "schema", "values"}
    public = {name for name in vars(preflight) if not name.startswith("_")} - submodules

    assert sorted(preflight.__all__) == sorted(public)
