"""The fake HubSpot over real HTTP: status codes, error bodies and headers as HubSpot sends them
(/work/shared/reference/hubspot-api.md), the control API, and the FakeHubSpot helper itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.fake_hubspot import FakeHubSpot
from tests.fake_hubspot.ratelimit import parse_rate_limit

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports both API Key and OAuth 2.0 "
    "authentication and you can find more details at "
    "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
REPO_ROOT = Path(__file__).resolve().parents[1]
CONTACTS = "/crm/v3/objects/contacts"
DEALS = "/crm/v3/objects/deals"
RATE_HEADERS = (
    "x-hubspot-ratelimit-daily",
    "x-hubspot-ratelimit-daily-remaining",
    "x-hubspot-ratelimit-interval-milliseconds",
    "x-hubspot-ratelimit-max",
    "x-hubspot-ratelimit-remaining",
)


@pytest.fixture(scope="module")
def hubspot_server():
    with FakeHubSpot() as server:
        yield server


@pytest.fixture
def hubspot(hubspot_server):
    hubspot_server.reset()
    return hubspot_server


@pytest.fixture
def client(hubspot):
    with httpx.Client(base_url=hubspot.base_url, headers=hubspot.auth_headers, timeout=10) as c:
        yield c


def create_contact(client, **properties) -> dict:
    response = client.post(CONTACTS, json={"properties": properties})
    assert response.status_code == 201, response.text
    return response.json()


def create_deal(client, associations=None, **properties) -> httpx.Response:
    body: dict = {"properties": {"dealname": "Deal", **properties}}
    if associations is not None:
        body["associations"] = associations
    return client.post(DEALS, json=body)


def property_errors(response: httpx.Response) -> list[dict]:
    """The per-property details HubSpot embeds as JSON inside `message`."""
    prefix = "Property values were not valid: "
    message = response.json()["message"]
    assert message.startswith(prefix), message
    return json.loads(message[len(prefix) :])


def assert_error_body(response: httpx.Response, status: int, category: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["correlationId"] == response.headers["x-hubspot-correlation-id"]
    assert uuid.UUID(body["correlationId"]).version == 4
    return body


def to_contact(contact_id: str, type_id: int = 3) -> dict:
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
    return {"to": {"id": contact_id}, "types": [spec]}


# authentication and scopes


def test_missing_token_gets_hubspot_401(hubspot):
    response = httpx.get(hubspot.base_url + CONTACTS)

    body = assert_error_body(response, 401, "INVALID_AUTHENTICATION")
    assert body == {
        "status": "error",
        "message": AUTH_MESSAGE,
        "correlationId": body["correlationId"],
        "category": "INVALID_AUTHENTICATION",
    }
    assert response.headers["x-hubspot-auth-failure"] == "401 Unauthorized"


def test_unknown_token_gets_hubspot_401(hubspot):
    response = httpx.get(
        hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer not-a-token"}
    )

    assert assert_error_body(response, 401, "INVALID_AUTHENTICATION")["message"] == AUTH_MESSAGE


def test_token_added_at_runtime_is_accepted(hubspot):
    hubspot.add_token("pat-na1-runtime")

    response = httpx.get(
        hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer pat-na1-runtime"}
    )

    assert response.status_code == 200


def test_missing_scope_gets_403_with_required_scopes(hubspot):
    hubspot.add_token("read-only", scopes=["crm.objects.contacts.read"])
    headers = {"Authorization": "Bearer read-only"}

    response = httpx.post(
        hubspot.base_url + CONTACTS,
        headers=headers,
        json={"properties": {"email": "a@example.com"}},
    )

    body = assert_error_body(response, 403, "MISSING_SCOPES")
    assert body == {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read "
        "more about required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": body["correlationId"],
        "errors": [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredScopes": ["crm.objects.contacts.write"]},
            }
        ],
        "links": {"scopes": "https://developers.hubspot.com/scopes"},
        "category": "MISSING_SCOPES",
    }
    assert httpx.get(hubspot.base_url + CONTACTS, headers=headers).status_code == 200


def test_property_reads_accept_schema_or_object_read_scope(hubspot):
    hubspot.add_token("schema-reader", scopes=["crm.schemas.deals.read"])
    hubspot.add_token("deal-reader", scopes=["crm.objects.deals.read"])
    hubspot.add_token("contact-reader", scopes=["crm.objects.contacts.read"])

    def read(token):
        url = hubspot.base_url + "/crm/v3/properties/deals/amount"
        return httpx.get(url, headers={"Authorization": f"Bearer {token}"})

    assert read("schema-reader").status_code == 200
    assert read("deal-reader").status_code == 200
    body = assert_error_body(read("contact-reader"), 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredScopes"] == [
        "crm.schemas.deals.read",
        "crm.objects.deals.read",
    ]


def test_success_carries_correlation_and_rate_limit_headers(client):
    response = client.get(CONTACTS)

    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert uuid.UUID(response.headers["x-hubspot-correlation-id"]).version == 4
    for header in RATE_HEADERS:
        assert int(response.headers[header]) >= 0
    assert response.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"


def test_expired_token_gets_401_expired_authentication(hubspot):
    hubspot.add_token("expired", oauth=True, expires_in_s=0)

    response = httpx.get(hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer expired"})

    body = assert_error_body(response, 401, "EXPIRED_AUTHENTICATION")
    assert body["message"] == "The OAuth token used to make this call expired 0 second(s) ago."
    assert list(body["context"]) == ["expire time"]
    assert response.headers["x-hubspot-auth-failure"] == "401 Unauthorized"


def test_removed_token_gets_401(hubspot):
    hubspot.add_token("uninstalled")
    hubspot.remove_token("uninstalled")

    response = httpx.get(
        hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer uninstalled"}
    )

    assert_error_body(response, 401, "INVALID_AUTHENTICATION")


def test_oauth_token_gets_no_daily_headers(hubspot):
    hubspot.add_token("oauth-token", oauth=True)

    response = httpx.get(
        hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer oauth-token"}
    )

    assert "x-hubspot-ratelimit-daily" not in response.headers
    assert "x-hubspot-ratelimit-daily-remaining" not in response.headers
    assert "x-hubspot-ratelimit-max" in response.headers


# contacts


def test_create_contact_returns_simple_public_object(client):
    response = client.post(
        CONTACTS, json={"properties": {"email": "Jane@Example.com", "firstname": "Jane"}}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["id"].isdigit()
    assert body["archived"] is False
    assert body["createdAt"] == body["updatedAt"]
    properties = body["properties"]
    assert properties["email"] == "jane@example.com"
    assert properties["firstname"] == "Jane"
    assert properties["hs_object_id"] == body["id"]
    assert properties["createdate"] == body["createdAt"]
    assert properties["lastmodifieddate"] == body["createdAt"]


def test_ids_are_numeric_strings_that_increase(client):
    first = create_contact(client, email="a@example.com")["id"]
    second = create_contact(client, email="b@example.com")["id"]

    assert int(second) > int(first)


def test_read_contact_by_id_and_by_email(client):
    contact = create_contact(client, email="jane@example.com", firstname="Jane")

    by_id = client.get(f"{CONTACTS}/{contact['id']}")
    by_email = client.get(f"{CONTACTS}/JANE@example.com", params={"idProperty": "email"})

    assert by_id.status_code == 200
    assert by_email.status_code == 200
    assert by_id.json() == by_email.json()
    assert set(by_id.json()["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert by_id.json()["properties"]["lastname"] is None


def test_read_contact_with_requested_properties(client):
    contact = create_contact(client, email="jane@example.com", phone="+1 555")

    response = client.get(f"{CONTACTS}/{contact['id']}", params={"properties": "phone,city"})

    assert response.json()["properties"] == {
        "phone": "+1 555",
        "city": None,
        "hs_object_id": contact["id"],
        "createdate": contact["createdAt"],
        "lastmodifieddate": contact["updatedAt"],
    }


def test_update_contact_by_id_and_by_email(client):
    contact = create_contact(client, email="jane@example.com")

    by_id = client.patch(f"{CONTACTS}/{contact['id']}", json={"properties": {"firstname": "J"}})
    by_email = client.patch(
        f"{CONTACTS}/jane@example.com",
        params={"idProperty": "email"},
        json={"properties": {"lastname": "Doe"}},
    )

    assert by_id.status_code == 200
    assert by_email.status_code == 200
    properties = by_email.json()["properties"]
    assert (properties["firstname"], properties["lastname"]) == ("J", "Doe")
    assert by_email.json()["id"] == contact["id"]


def test_empty_string_clears_a_property(client):
    contact = create_contact(client, email="jane@example.com", firstname="Jane")

    client.patch(f"{CONTACTS}/{contact['id']}", json={"properties": {"firstname": ""}})

    assert client.get(f"{CONTACTS}/{contact['id']}").json()["properties"]["firstname"] is None


def test_unknown_contact_is_404(client):
    for response in (
        client.get(f"{CONTACTS}/999"),
        client.patch(f"{CONTACTS}/999", json={"properties": {"firstname": "x"}}),
        client.get(f"{CONTACTS}/nobody@example.com", params={"idProperty": "email"}),
    ):
        body = assert_error_body(response, 404, "OBJECT_NOT_FOUND")
        assert body == {
            "status": "error",
            "message": "resource not found",
            "correlationId": body["correlationId"],
            "category": "OBJECT_NOT_FOUND",
        }


def test_duplicate_email_is_409_with_existing_id(client):
    contact = create_contact(client, email="jane@example.com")

    response = client.post(CONTACTS, json={"properties": {"email": "JANE@example.COM"}})

    body = assert_error_body(response, 409, "CONFLICT")
    assert body == {
        "status": "error",
        "message": f"Contact already exists. Existing ID: {contact['id']}",
        "correlationId": body["correlationId"],
        "category": "CONFLICT",
    }


def test_contact_without_email_or_name_is_400(client):
    response = client.post(CONTACTS, json={"properties": {"phone": "123"}})

    assert_error_body(response, 400, "VALIDATION_ERROR")


def test_delete_contact_archives_it(client):
    contact = create_contact(client, email="jane@example.com")

    assert client.delete(f"{CONTACTS}/{contact['id']}").status_code == 204

    assert client.get(f"{CONTACTS}/{contact['id']}").status_code == 404
    assert create_contact(client, email="jane@example.com")["id"] != contact["id"]


def test_body_that_is_not_json_is_400(client):
    response = client.post(
        CONTACTS, content=b"{not json", headers={"content-type": "application/json"}
    )

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Invalid input JSON on line 1, column 2")


def test_list_contacts_pages_with_after(client):
    ids = [create_contact(client, email=f"u{i}@example.com")["id"] for i in range(3)]

    first = client.get(CONTACTS, params={"limit": 2}).json()
    second = client.get(CONTACTS, params={"limit": 2, "after": first["paging"]["next"]["after"]})

    assert [r["id"] for r in first["results"]] == ids[:2]
    assert [r["id"] for r in second.json()["results"]] == ids[2:]
    assert "paging" not in second.json()


def test_unknown_path_is_hubspot_404(client):
    response = client.get(f"{CONTACTS}/")

    assert_error_body(response, 404, "OBJECT_NOT_FOUND")


def test_unknown_object_type_is_400(client):
    response = client.get("/crm/v3/objects/widgets")

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "Unable to infer object type from: widgets"


# property validation


def test_unknown_property_is_400_property_doesnt_exist(client):
    response = client.post(CONTACTS, json={"properties": {"email": "a@example.com", "x": "1"}})

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body == {
        "status": "error",
        "message": 'Property values were not valid: [{"isValid":false,"message":"Property '
        '\\"x\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"x"}]',
        "correlationId": body["correlationId"],
        "category": "VALIDATION_ERROR",
    }


def test_every_invalid_property_is_reported(client):
    response = client.post(
        CONTACTS, json={"properties": {"email": "a@example.com", "x": "1", "y": "2"}}
    )

    assert [error["name"] for error in property_errors(response)] == ["x", "y"]


def test_created_property_can_be_used(client):
    definition = {
        "name": "plan",
        "label": "Plan",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
    }

    created = client.post("/crm/v3/properties/contacts", json=definition)
    contact = create_contact(client, email="a@example.com", plan="pro")

    assert created.status_code == 201
    assert created.json()["modificationMetadata"]["readOnlyValue"] is False
    assert contact["properties"]["plan"] == "pro"
    assert client.get("/crm/v3/properties/contacts/plan").json()["name"] == "plan"


def test_creating_an_existing_property_is_409(client):
    definition = {
        "name": "email",
        "label": "Email",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
    }

    response = client.post("/crm/v3/properties/contacts", json=definition)

    body = assert_error_body(response, 409, "OBJECT_ALREADY_EXISTS")
    assert body["message"] == "Property named 'email' already exists."


def test_property_create_needs_required_fields_and_a_valid_type_pair(client):
    missing = client.post("/crm/v3/properties/deals", json={"name": "tier", "label": "Tier"})
    bad_pair = client.post(
        "/crm/v3/properties/deals",
        json={
            "name": "tier",
            "label": "Tier",
            "type": "number",
            "fieldType": "text",
            "groupName": "dealinformation",
        },
    )

    body = assert_error_body(missing, 400, "VALIDATION_ERROR")
    assert body["message"].endswith(
        "Some required fields were not set: [type, fieldType, groupName]"
    )
    assert assert_error_body(bad_pair, 400, "VALIDATION_ERROR")["message"].startswith(
        "Field type text is not valid for property type number"
    )


def test_property_create_needs_schema_write_scope(hubspot):
    hubspot.add_token("objects-only", scopes=["crm.objects.contacts.write"])

    response = httpx.post(
        hubspot.base_url + "/crm/v3/properties/contacts",
        headers={"Authorization": "Bearer objects-only"},
        json={"name": "a", "label": "A", "type": "string", "fieldType": "text"},
    )

    body = assert_error_body(response, 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredScopes"] == ["crm.schemas.contacts.write"]


def test_unknown_property_definition_is_404(client):
    response = client.get("/crm/v3/properties/contacts/nope")

    assert_error_body(response, 404, "OBJECT_NOT_FOUND")


def test_property_list_has_seeded_definitions(client):
    results = client.get("/crm/v3/properties/deals").json()["results"]

    by_name = {definition["name"]: definition for definition in results}
    assert by_name["amount"]["type"] == "number"
    assert by_name["closedate"]["type"] == "datetime"
    assert [option["value"] for option in by_name["deal_currency_code"]["options"]] == [
        "USD",
        "EUR",
        "GBP",
        "INR",
    ]
    assert by_name["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    for definition in results:
        assert {"name", "label", "type", "fieldType", "groupName", "options"} <= set(definition)


def test_date_not_at_midnight_is_invalid_date(client):
    client.post(
        "/crm/v3/properties/deals",
        json={
            "name": "renewal_date",
            "label": "Renewal date",
            "type": "date",
            "fieldType": "date",
            "groupName": "dealinformation",
        },
    )

    rejected = create_deal(client, renewal_date="1635535865865")
    by_day = create_deal(client, renewal_date="2021-10-29")
    by_ms = create_deal(client, renewal_date=1635465600000)

    assert property_errors(rejected) == [
        {
            "isValid": False,
            "message": "1635535865865 is at 19:31:05.865 UTC, not midnight!",
            "error": "INVALID_DATE",
            "name": "renewal_date",
        }
    ]
    assert by_day.json()["properties"]["renewal_date"] == "2021-10-29"
    assert by_ms.json()["properties"]["renewal_date"] == "2021-10-29"


def test_datetime_accepts_iso_and_epoch_ms(client):
    iso = create_deal(client, closedate="2019-12-07T16:50:06.678Z")
    epoch = create_deal(client, closedate=1575737406678)
    garbage = create_deal(client, closedate="next tuesday")

    assert iso.json()["properties"]["closedate"] == "2019-12-07T16:50:06.678Z"
    assert epoch.json()["properties"]["closedate"] == "2019-12-07T16:50:06.678Z"
    assert property_errors(garbage)[0]["error"] == "INVALID_DATE"


def test_number_property_rejects_non_numeric(client):
    response = create_deal(client, amount="12,50")

    assert property_errors(response) == [
        {
            "isValid": False,
            "message": "12,50 was not a valid number.",
            "error": "INVALID_INTEGER",
            "name": "amount",
        }
    ]


def test_values_may_be_numbers_and_booleans(client):
    response = create_deal(client, amount=1500.5, dealname=42)

    assert response.status_code == 201
    assert response.json()["properties"]["amount"] == "1500.5"
    assert response.json()["properties"]["dealname"] == "42"


def test_invalid_option_is_400(client):
    response = create_deal(client, dealstage="won")

    [error] = property_errors(response)
    assert error["error"] == "INVALID_OPTION"
    assert error["name"] == "dealstage"
    assert error["message"].startswith("won was not one of the allowed options: [")
    assert create_deal(client, dealstage="closedwon").status_code == 201


def test_currency_outside_the_portal_is_invalid_option(hubspot, client):
    rejected = create_deal(client, deal_currency_code="BRL")
    hubspot.set_currencies(["USD", "BRL"])
    accepted = create_deal(client, deal_currency_code="BRL")

    assert property_errors(rejected) == [
        {
            "isValid": False,
            "message": '"BRL" is not a part of the current effective currency codes for portal '
            "4242424",
            "error": "INVALID_OPTION",
            "name": "deal_currency_code",
        }
    ]
    assert accepted.status_code == 201


def test_deal_without_pipeline_gets_the_default_one(client):
    response = create_deal(client, dealstage="contractsent")

    assert response.json()["properties"]["pipeline"] == "default"


def test_invalid_email_is_400(client):
    response = client.post(CONTACTS, json={"properties": {"email": "jane@"}})

    assert property_errors(response) == [
        {
            "isValid": False,
            "message": "Email address jane@ is invalid",
            "error": "INVALID_EMAIL",
            "name": "email",
        }
    ]


def test_read_only_property_is_400(client):
    response = client.post(
        CONTACTS, json={"properties": {"email": "a@example.com", "hs_object_id": "5"}}
    )

    [error] = property_errors(response)
    assert (error["error"], error["name"]) == ("READ_ONLY_VALUE", "hs_object_id")


# associations


def test_inline_association_is_stored_both_ways(client):
    contact = create_contact(client, email="jane@example.com")

    deal = create_deal(client, associations=[to_contact(contact["id"])])

    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["id"]
    from_deal = client.get(f"/crm/v4/objects/deals/{deal_id}/associations/contacts").json()
    from_contact = client.get(f"/crm/v4/objects/contact/{contact['id']}/associations/deal").json()
    assert from_deal["results"] == [
        {
            "toObjectId": int(contact["id"]),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}],
        }
    ]
    assert from_contact["results"][0]["toObjectId"] == int(deal_id)
    assert from_contact["results"][0]["associationTypes"][0]["typeId"] == 4


def test_association_to_unknown_id_is_400(client):
    response = create_deal(client, associations=[to_contact("123")])

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body == {
        "status": "error",
        "message": "One or more associations are invalid",
        "correlationId": body["correlationId"],
        "context": {
            "INVALID_OBJECT_IDS": ["CONTACT=123 is not valid"],
            "objectId": ["123"],
            "objectType": ["CONTACT"],
        },
        "category": "VALIDATION_ERROR",
    }
    assert client.get(DEALS).json()["results"] == []


def test_wrong_direction_association_type_is_400(client):
    contact = create_contact(client, email="jane@example.com")

    response = create_deal(client, associations=[to_contact(contact["id"], type_id=4)])

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body["context"]["INVALID_OBJECT_IDS"] == [f"CONTACT={contact['id']} is not valid"]


def test_association_without_category_or_type_id_is_400(client):
    contact = create_contact(client, email="jane@example.com")
    association = {"to": {"id": contact["id"]}, "types": [{}]}

    response = create_deal(client, associations=[association])

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Invalid input JSON on line 1, column ")
    assert body["message"].endswith(
        "Some required fields were not set: [associationCategory, associationTypeId]"
    )


def test_note_associates_with_contact(client):
    contact = create_contact(client, email="jane@example.com")

    note = client.post(
        "/crm/v3/objects/notes",
        json={
            "properties": {"hs_note_body": "Paid", "hs_timestamp": "2024-05-01T10:00:00Z"},
            "associations": [to_contact(contact["id"], type_id=202)],
        },
    )

    assert note.status_code == 201, note.text
    links = client.get(f"/crm/v4/objects/notes/{note.json()['id']}/associations/contacts")
    assert links.json()["results"][0]["associationTypes"][0]["typeId"] == 202


def test_default_association_put(client):
    contact = create_contact(client, email="jane@example.com")
    deal_id = create_deal(client).json()["id"]

    response = client.put(
        f"/crm/v4/objects/deals/{deal_id}/associations/default/contacts/{contact['id']}"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETE"
    specs = [
        result["associationSpec"]["associationTypeId"] for result in response.json()["results"]
    ]
    assert specs == [3, 4]
    read = client.get(f"{DEALS}/{deal_id}", params={"associations": "contacts"}).json()
    assert read["associations"]["contacts"]["results"] == [
        {"id": contact["id"], "type": "deal_to_contact"}
    ]


# search and batch


def test_search_by_email(client):
    contact = create_contact(client, email="jane@example.com", firstname="Jane")
    create_contact(client, email="john@example.com")

    response = client.post(
        f"{CONTACTS}/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "email", "operator": "EQ", "value": "JANE@example.com"}
                    ]
                }
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    assert body["results"][0]["id"] == contact["id"]
    assert body["results"][0]["properties"]["firstname"] == "Jane"
    assert "x-hubspot-ratelimit-max" not in response.headers


def test_search_rejects_too_many_filter_groups(client):
    group = {"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@example.com"}]}

    response = client.post(f"{CONTACTS}/search", json={"filterGroups": [group] * 6})

    assert_error_body(response, 400, "VALIDATION_ERROR")


def test_batch_upsert_by_email(client):
    existing = create_contact(client, email="jane@example.com")

    response = client.post(
        f"{CONTACTS}/batch/upsert",
        json={
            "inputs": [
                {"id": "jane@example.com", "idProperty": "email", "properties": {"lastname": "D"}},
                {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "N"}},
            ]
        },
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["id"] == existing["id"], r["new"]) for r in results] == [
        (True, False),
        (False, True),
    ]
    assert results[1]["properties"]["email"] == "new@example.com"


def test_batch_upsert_by_non_unique_property_is_400(client):
    response = client.post(
        f"{CONTACTS}/batch/upsert",
        json={"inputs": [{"id": "Jane", "idProperty": "firstname", "properties": {}}]},
    )

    body = assert_error_body(response, 400, "VALIDATION_ERROR")
    assert body["message"] == "Unable to perform update/upsert by non-unique 0-1 property"


# portal reads


def test_pipeline_and_account_details(client):
    pipelines = client.get("/crm/v3/pipelines/deals").json()["results"]
    details = client.get("/account-info/v3/details").json()

    assert [stage["id"] for stage in pipelines[0]["stages"]] == [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ]
    assert pipelines[0]["id"] == "default"
    assert details["portalId"] == 4242424


# faults


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."),
        ("SECONDLY", "You have reached your secondly limit."),
        ("DAILY", "You have reached your daily limit."),
    ],
)
def test_rate_limit_fault(hubspot, client, policy, message):
    hubspot.inject(kind="rate_limit", policy=policy, retry_after=2)

    response = client.get(CONTACTS)

    assert response.status_code == 429
    body = response.json()
    assert body["status"] == "error"
    assert body["message"] == message
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == policy
    assert body["correlationId"] == response.headers["x-hubspot-correlation-id"]
    assert response.headers["x-hubspot-ratelimit-remaining"] == "0"
    assert response.headers["retry-after"] == "2"
    if policy == "TEN_SECONDLY_ROLLING":
        assert body["groupName"].startswith("publicapi:")
    if policy == "DAILY":
        assert response.headers["x-hubspot-ratelimit-daily-remaining"] == "0"
    assert client.get(CONTACTS).status_code == 200


def test_status_fault(hubspot, client):
    hubspot.inject(kind="status", status=503, count=2)

    responses = [client.get(CONTACTS) for _ in range(3)]

    assert [response.status_code for response in responses] == [503, 503, 200]
    assert_error_body(responses[0], 503, "SERVICE_UNAVAILABLE")


def test_fault_applies_only_to_its_path_prefix(hubspot, client):
    hubspot.inject(kind="status", status=502, path_prefix=DEALS)

    assert client.get(CONTACTS).status_code == 200
    assert client.get(DEALS).status_code == 502
    assert client.get(DEALS).status_code == 200


def test_slow_fault(hubspot, client):
    hubspot.inject(kind="slow", delay_s=0.3)

    started = time.monotonic()
    response = client.get(CONTACTS)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_fault_closes_the_connection_without_a_response(hubspot, client):
    hubspot.inject(kind="drop")

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(CONTACTS)

    assert client.get(CONTACTS).status_code == 200
    assert hubspot.stats()["dropped"] == 1
    assert hubspot.requests()[0]["status"] is None


def test_unknown_fault_kind_is_refused(hubspot):
    with pytest.raises(RuntimeError, match="kind must be one of"):
        hubspot.inject(kind="explode")


# rate limiting


def test_rolling_rate_limit_with_headers(hubspot, client):
    hubspot.set_rate_limit(3, interval_ms=1000)

    responses = [client.get(CONTACTS) for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["x-hubspot-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    for response in responses:
        assert response.headers["x-hubspot-ratelimit-max"] == "3"
        assert response.headers["x-hubspot-ratelimit-interval-milliseconds"] == "1000"
    assert responses[3].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert wait_for_status(client, 200, deadline_s=5) == 200
    assert hubspot.stats()["rate_limited"] >= 1


def test_rate_limit_is_per_token(hubspot, client):
    hubspot.set_rate_limit(1)
    hubspot.add_token("second-app")

    first = client.get(CONTACTS)
    other = httpx.get(hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer second-app"})

    assert (first.status_code, other.status_code) == (200, 200)
    assert client.get(CONTACTS).status_code == 429


def test_rate_limit_can_be_switched_off(hubspot, client):
    hubspot.set_rate_limit(1)
    client.get(CONTACTS)
    hubspot.set_rate_limit(None)

    assert [client.get(CONTACTS).status_code for _ in range(3)] == [200, 200, 200]


def test_search_has_its_own_secondly_limit(hubspot, client):
    hubspot.set_rate_limit(None, search_per_second=2)
    search = {"filterGroups": []}

    statuses = [client.post(f"{CONTACTS}/search", json=search).status_code for _ in range(3)]
    limited = client.post(f"{CONTACTS}/search", json=search)

    assert statuses == [200, 200, 429]
    assert limited.json()["message"] == "You have reached your secondly limit."
    assert client.get(CONTACTS).status_code == 200


def wait_for_status(client, status: int, deadline_s: float) -> int:
    """Poll until a request answers `status` or the deadline passes; returns the last status."""
    deadline = time.monotonic() + deadline_s
    while True:
        last = client.get(CONTACTS).status_code
        if last == status or time.monotonic() > deadline:
            return last
        time.sleep(0.05)


# control API and helper


def test_request_log_records_method_path_query_body_status(client, hubspot):
    client.post(CONTACTS, json={"properties": {"email": "a@example.com"}})
    client.get(f"{CONTACTS}/a@example.com", params={"idProperty": "email"})

    create, read = hubspot.requests()

    assert create["method"] == "POST"
    assert create["body"] == {"properties": {"email": "a@example.com"}}
    assert create["status"] == 201
    assert read["path"] == f"{CONTACTS}/a@example.com"
    assert read["query"] == {"idProperty": "email"}
    assert read["status"] == 200


def test_control_views_of_records_and_stats(client, hubspot):
    contact = create_contact(client, email="a@example.com")
    create_deal(client, associations=[to_contact(contact["id"])])
    client.get(f"{CONTACTS}/404")

    [stored_deal] = hubspot.deals()
    assert hubspot.contacts()[0]["properties"]["email"] == "a@example.com"
    assert stored_deal["associations"] == {"contacts": [contact["id"]]}
    assert hubspot.objects("0-3") == [stored_deal]
    assert hubspot.stats()["by_status"] == {"201": 2, "404": 1}
    assert hubspot.stats()["requests"] == 3


def test_reset_forgets_records_and_runtime_tokens(client, hubspot):
    create_contact(client, email="a@example.com")
    hubspot.add_token("temporary")

    hubspot.reset()

    assert hubspot.contacts() == []
    assert hubspot.requests() == []
    assert client.get(CONTACTS).status_code == 200
    temporary = httpx.get(
        hubspot.base_url + CONTACTS, headers={"Authorization": "Bearer temporary"}
    )
    assert temporary.status_code == 401


def test_helper_stops_the_server_on_exceptions():
    with pytest.raises(ZeroDivisionError):
        with FakeHubSpot(rate_limit="1/10s") as hubspot:
            process = hubspot.process
            headers = hubspot.auth_headers
            statuses = [
                httpx.get(hubspot.base_url + CONTACTS, headers=headers).status_code
                for _ in range(2)
            ]
            1 / 0

    assert statuses == [200, 429]
    assert process.poll() is not None


def test_server_exits_when_the_process_that_started_it_dies(tmp_path):
    script = (
        "import os, sys\n"
        "from tests.fake_hubspot import FakeHubSpot\n"
        "hubspot = FakeHubSpot().start()\n"
        "print(hubspot.process.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=REPO_ROOT
    )
    child_pid = int(parent.stdout.strip())

    deadline = time.monotonic() + 10
    while is_running(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not is_running(child_pid)


def is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_parse_rate_limit():
    assert parse_rate_limit("100/10s") == (100, 10_000)
    assert parse_rate_limit("5/s") == (5, 1_000)
    assert parse_rate_limit("50/500ms") == (50, 500)
    assert parse_rate_limit("off") is None
    with pytest.raises(ValueError, match="not like"):
        parse_rate_limit("lots")
