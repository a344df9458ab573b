"""The fake HubSpot's deal pipelines and email rule, over HTTP: what preflight checks against."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fake_hubspot import FakeHubSpot

DEALS = "/crm/v3/objects/deals"
RENEWAL_STAGES = [("renewal_open", "Open"), ("renewal_won", "Won")]


@pytest.fixture
def client(hubspot: FakeHubSpot) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=hubspot.base_url, headers=hubspot.auth_headers, trust_env=False
    ) as client:
        yield client


def _problems(response: httpx.Response) -> list[dict]:
    prefix = "Property values were not valid: "
    return json.loads(response.json()["message"].removeprefix(prefix))


def test_an_added_pipeline_is_listed_with_its_stages_and_in_the_property_options(client, hubspot):
    hubspot.add_pipeline("renewals", "Renewals", RENEWAL_STAGES)

    pipelines = client.get("/crm/v3/pipelines/deals").json()["results"]
    one = client.get("/crm/v3/pipelines/deals/renewals").json()
    stages = client.get("/crm/v3/pipelines/deals/renewals/stages").json()["results"]
    dealstage = client.get("/crm/v3/properties/deals/dealstage").json()
    pipeline = client.get("/crm/v3/properties/deals/pipeline").json()

    assert [p["id"] for p in pipelines] == ["default", "renewals"]
    assert one["label"] == "Renewals"
    assert [stage["id"] for stage in stages] == ["renewal_open", "renewal_won"]
    assert "renewal_won" in [option["value"] for option in dealstage["options"]]
    assert "closedwon" in [option["value"] for option in dealstage["options"]]
    assert [option["value"] for option in pipeline["options"]] == ["default", "renewals"]
    assert client.get("/crm/v3/pipelines/deals/nope").status_code == 404


def test_a_deal_stage_must_belong_to_the_deals_pipeline(client, hubspot):
    hubspot.add_pipeline("renewals", "Renewals", RENEWAL_STAGES)

    wrong = client.post(DEALS, json={"properties": {"dealname": "D", "dealstage": "renewal_won"}})
    right = client.post(
        DEALS,
        json={"properties": {"dealname": "D", "pipeline": "renewals", "dealstage": "renewal_won"}},
    )
    moved = client.patch(
        f"{DEALS}/{right.json()['id']}", json={"properties": {"pipeline": "default"}}
    )

    assert wrong.status_code == 400
    assert _problems(wrong) == [
        {
            "isValid": False,
            "message": "renewal_won is not a valid dealstage for pipeline default",
            "error": "INVALID_OPTION",
            "name": "dealstage",
        }
    ]
    assert right.status_code == 201
    assert moved.status_code == 400


def test_reset_forgets_added_pipelines(client, hubspot):
    hubspot.add_pipeline("renewals", "Renewals", RENEWAL_STAGES)

    hubspot.reset()

    assert [p["id"] for p in client.get("/crm/v3/pipelines/deals").json()["results"]] == ["default"]


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("invalid.email@wales.nhs.ik", False),
        ("jane@example.c0m", False),
        ("jane@localhost", False),
        ("jane@example.co.uk", True),
        ("jane@example.io", True),
    ],
)
def test_an_email_under_an_unknown_top_level_domain_is_invalid_email(client, email, valid):
    response = client.post("/crm/v3/objects/contacts", json={"properties": {"email": email}})

    if valid:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 400
        [problem] = _problems(response)
        assert problem["error"] == "INVALID_EMAIL"
        assert problem["message"] == f"Email address {email} is invalid"
