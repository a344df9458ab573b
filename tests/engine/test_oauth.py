"""Connect HubSpot with OAuth, over real HTTP: paybridge's web and worker processes against the
fake HubSpot's authorize page, token endpoint and token info."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis

import transforms
from engine.oauth import OPTIONAL_SCOPES, REQUIRED_SCOPES
from tests.fake_hubspot import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakeHubSpot
from tests.fake_hubspot.schema import DEFAULT_PORTAL_ID
from tests.harness import API_TOKEN, Paybridge, wait_until

PORTAL_ID = str(DEFAULT_PORTAL_ID)
COMPANY_CODE = """
def handler(webhook):
    customer = webhook.payload["data"]["customer"]
    webhook.url = "https://api.hubapi.com/crm/v3/objects/companies"
    webhook.payload = {"properties": {"name": customer["name"]}}
    return webhook
"""


def _oauth_env(hubspot: FakeHubSpot, **extra: str) -> dict[str, str]:
    return {
        "PAYBRIDGE_HUBSPOT_CLIENT_ID": FAKE_CLIENT_ID,
        "PAYBRIDGE_HUBSPOT_CLIENT_SECRET": FAKE_CLIENT_SECRET,
        "PAYBRIDGE_HUBSPOT_AUTHORIZE_URL": f"{hubspot.base_url}/oauth/authorize",
        "PAYBRIDGE_LOG_LEVEL": "INFO",
        **extra,
    }


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "paybridge.log"


@pytest.fixture
def oauth_paybridge(
    redis_url: str, hubspot: FakeHubSpot, tmp_path: Path, log_path: Path
) -> Iterator[Paybridge]:
    env = _oauth_env(hubspot)
    with Paybridge(
        redis_url, hubspot.base_url, tmp_path / "data", env=env, log_path=log_path
    ) as pb:
        yield pb


def connect(paybridge: Paybridge, hubspot: FakeHubSpot, integration_id: str | None) -> dict:
    """The owner's browser: start the connect, approve on HubSpot's page, come back."""
    browser = httpx.Client(base_url=paybridge.base_url, timeout=30.0)
    try:
        params = {"integration_id": integration_id} if integration_id else {}
        started = browser.get(
            "/connect/hubspot", params=params, headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
        assert started.status_code == 302, started.text
        authorize_url = started.headers["location"]
        assert authorize_url.startswith(f"{hubspot.base_url}/oauth/authorize?")

        page = httpx.get(authorize_url)
        assert page.status_code == 200, page.text
        assert "Connect app" in page.text
        approved = httpx.post(authorize_url, data={"decision": "approve"})
        assert approved.status_code == 302, approved.text
        callback = approved.headers["location"]
        assert callback.startswith(f"{paybridge.base_url}/oauth/hubspot/callback?")

        finished = browser.get(callback)
        assert finished.status_code == 200, finished.text
        return {"authorize_url": authorize_url, **finished.json()}
    finally:
        browser.close()


def _integration(paybridge: Paybridge, **body) -> dict:
    defaults = {"name": "Contacts", "template": "contact_from_payment"}
    return paybridge.create_integration(**{**defaults, **body})


def _payment(email: str) -> dict:
    event = transforms.sample("payment.succeeded")
    event["data"]["customer"]["email"] = email
    return event


def _send(paybridge: Paybridge, integration: dict, webhook_id: str, email: str) -> str:
    response = paybridge.post_event(integration, _payment(email), webhook_id)
    assert response.status_code == 202, response.text
    return str(response.json()["delivery_id"])


def _read(paybridge: Paybridge, integration_id: str) -> dict:
    response = paybridge.api.get(f"/api/integrations/{integration_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _refresh_grants(hubspot: FakeHubSpot) -> list[dict]:
    return [
        r
        for r in hubspot.requests()
        if r["path"] == "/oauth/v1/token" and "grant_type=refresh_token" in str(r["body"])
    ]


def test_the_connect_dance_links_the_account_and_delivers_with_oauth_tokens(
    oauth_paybridge, hubspot
):
    integration = _integration(oauth_paybridge)
    assert integration["hubspot"]["connected"] is False
    assert integration["connect_url"].endswith(
        f"/connect/hubspot?integration_id={integration['id']}"
    )

    connected = connect(oauth_paybridge, hubspot, integration["id"])

    query = parse_qs(urlsplit(connected["authorize_url"]).query)
    assert query["client_id"] == [FAKE_CLIENT_ID]
    assert set(query["scope"][0].split()) == set(REQUIRED_SCOPES)
    assert set(query["optional_scope"][0].split()) == set(OPTIONAL_SCOPES)
    assert query["redirect_uri"] == [f"{oauth_paybridge.base_url}/oauth/hubspot/callback"]
    assert query["state"][0]
    assert connected["hub_id"] == PORTAL_ID
    assert connected["kind"] == "oauth"
    assert set(connected["scopes"]) == {*REQUIRED_SCOPES, *OPTIONAL_SCOPES}
    assert hubspot.oauth()["codes_exchanged"] == 1

    view = _read(oauth_paybridge, integration["id"])
    assert view["hubspot"] == {"account": PORTAL_ID, "connected": True, "kind": "oauth"}
    assert view["connection"]["state"] == "connected"
    delivery_id = _send(oauth_paybridge, integration, "m1", "jane@example.com")
    oauth_paybridge.wait_for_status(delivery_id, ("delivered",))
    creates = [r for r in hubspot.requests() if r["path"] == "/crm/v3/objects/contacts"]
    assert len(creates) == 1
    assert creates[0]["token"] in hubspot.oauth()["access_tokens"]


def test_several_integrations_share_one_connection(oauth_paybridge, hubspot):
    first = _integration(oauth_paybridge, name="First")
    second = _integration(oauth_paybridge, name="Second")

    connect(oauth_paybridge, hubspot, first["id"])
    connect(oauth_paybridge, hubspot, second["id"])

    listed = oauth_paybridge.api.get("/api/connections").json()["connections"]
    assert len(listed) == 1
    assert sorted(listed[0]["integrations"]) == sorted([first["id"], second["id"]])
    for number, integration in enumerate((first, second)):
        delivery_id = _send(oauth_paybridge, integration, f"m{number}", f"c{number}@example.com")
        oauth_paybridge.wait_for_status(delivery_id, ("delivered",))


def test_a_callback_that_this_browser_did_not_start_is_refused(oauth_paybridge, hubspot, redis_url):
    integration = _integration(oauth_paybridge)
    started = httpx.get(
        f"{oauth_paybridge.base_url}/connect/hubspot",
        params={"integration_id": integration["id"]},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    approved = httpx.post(started.headers["location"], data={"decision": "approve"})

    # A different browser (no session cookie) brings the code back.
    answer = httpx.get(approved.headers["location"])

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "oauth_state_mismatch"
    assert hubspot.oauth()["codes_exchanged"] == 0
    assert not redis.Redis.from_url(redis_url).keys("pb:connection:*")


def test_connect_needs_the_api_token_or_a_console_session(oauth_paybridge):
    response = httpx.get(f"{oauth_paybridge.base_url}/connect/hubspot")

    assert response.status_code == 401


def test_without_client_credentials_connect_says_to_use_a_private_app_token(paybridge):
    response = paybridge.api.get("/connect/hubspot")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "oauth_not_configured"
    assert "private app token" in response.json()["error"]["message"]


def test_tokens_expiring_mid_stream_are_refreshed_once_per_expiry(
    redis_url, hubspot, tmp_path, log_path
):
    lifetime_s = 1.5
    hubspot.configure_oauth(access_token_lifetime_s=lifetime_s)
    # 50 requests a second (with the limiter's margin, about 40) spread 200 events over some
    # five seconds: the access token expires several times while they go out.
    env = _oauth_env(hubspot, PAYBRIDGE_HUBSPOT_RATE_LIMIT="50/1s")
    with Paybridge(
        redis_url, hubspot.base_url, tmp_path / "data", workers=2, env=env, log_path=log_path
    ) as paybridge:
        integration = _integration(paybridge)
        connect(paybridge, hubspot, integration["id"])

        ids = [_send(paybridge, integration, f"m{n}", f"c{n}@example.com") for n in range(200)]

        def all_final() -> bool:
            listed = paybridge.api.get(
                f"/api/integrations/{integration['id']}/deliveries", params={"status": "delivered"}
            ).json()
            return listed["total"] == len(ids)

        wait_until(all_final, timeout_s=120, interval_s=0.2, what="200 deliveries")
        connection = _read(paybridge, integration["id"])["connection"]

    refreshes = hubspot.oauth()["refreshes"]
    assert len(refreshes) >= 2, refreshes
    assert connection["refreshes"] == len(refreshes)
    # A second refresh of the same expiry would find the token just issued, with nearly its
    # whole lifetime left; each refresh found the previous token at (or past) its end.
    assert all(r["previous_remaining_s"] < lifetime_s / 2 for r in refreshes), refreshes
    assert len(_refresh_grants(hubspot)) == len(refreshes)


def test_a_revoked_refresh_token_parks_deliveries_and_reconnecting_sends_them(
    oauth_paybridge, hubspot
):
    integration = _integration(oauth_paybridge)
    connect(oauth_paybridge, hubspot, integration["id"])
    first = _send(oauth_paybridge, integration, "m0", "before@example.com")
    oauth_paybridge.wait_for_status(first, ("delivered",))

    hubspot.revoke_oauth()  # the app is uninstalled: refresh and access tokens revoked
    held = [_send(oauth_paybridge, integration, f"m{n}", f"c{n}@example.com") for n in (1, 2, 3)]

    def all_held() -> bool:
        deliveries = [oauth_paybridge.delivery(d) for d in held]
        return all(
            d["status"] == "retrying" and "reconnect" in (d["reason"] or "") for d in deliveries
        )

    wait_until(all_held, what="the deliveries to wait for a reconnect")
    view = _read(oauth_paybridge, integration["id"])
    assert view["state"] == "needs_reconnect"
    assert "invalid_grant" in view["state_reason"]
    assert view["connection"]["state"] == "needs_reconnect"
    assert len(_refresh_grants(hubspot)) == 1  # refused once; no delivery asks again
    failed = oauth_paybridge.api.get(
        f"/api/integrations/{integration['id']}/deliveries", params={"status": "failed"}
    ).json()
    assert failed["total"] == 0

    connect(oauth_paybridge, hubspot, integration["id"])

    for delivery_id in held:
        oauth_paybridge.wait_for_status(delivery_id, ("delivered",))
    assert _read(oauth_paybridge, integration["id"])["state"] == "ok"


def test_a_missing_scope_is_named_and_a_reconnect_asking_for_it_delivers(oauth_paybridge, hubspot):
    integration = _integration(oauth_paybridge, name="Companies", code=COMPANY_CODE)
    connect(oauth_paybridge, hubspot, integration["id"])
    delivery_id = _send(oauth_paybridge, integration, "m1", "jane@example.com")

    delivery = wait_until(
        lambda: (d := oauth_paybridge.delivery(delivery_id))["attempts"] == 1 and d,
        what="the first attempt",
    )

    assert delivery["status"] == "retrying"
    assert "crm.objects.companies.write" in delivery["reason"]
    view = _read(oauth_paybridge, integration["id"])
    assert view["state"] == "needs_reconnect"
    assert "crm.objects.companies.write" in view["state_reason"]
    assert view["missing_scopes"] == ["crm.objects.companies.write"]

    reconnected = connect(oauth_paybridge, hubspot, integration["id"])

    asked = parse_qs(urlsplit(reconnected["authorize_url"]).query)["scope"][0].split()
    assert "crm.objects.companies.write" in asked
    assert "crm.objects.companies.write" in reconnected["scopes"]
    oauth_paybridge.wait_for_status(delivery_id, ("delivered",))
    assert len(hubspot.objects("companies")) == 1


def test_disconnect_deletes_the_tokens(oauth_paybridge, hubspot, redis_url):
    integration = _integration(oauth_paybridge)
    connect(oauth_paybridge, hubspot, integration["id"])
    client = redis.Redis.from_url(redis_url)
    assert client.exists(f"pb:connection:{PORTAL_ID}:tokens")

    response = oauth_paybridge.api.delete(f"/api/connections/{PORTAL_ID}")

    assert response.status_code == 204
    assert not client.keys("pb:connection:*")
    view = _read(oauth_paybridge, integration["id"])
    assert view["hubspot"]["connected"] is False
    assert view["connection"] is None
    delivery_id = _send(oauth_paybridge, integration, "m1", "after@example.com")
    wait_until(
        lambda: (
            "not connected" in (oauth_paybridge.delivery(delivery_id)["reason"] or "")
            or "rejected the token" in (oauth_paybridge.delivery(delivery_id)["reason"] or "")
        ),
        what="the delivery to wait for a connection",
    )
    assert oauth_paybridge.delivery(delivery_id)["status"] == "retrying"


def test_disconnecting_the_last_integration_deletes_the_tokens(oauth_paybridge, hubspot, redis_url):
    integration = _integration(oauth_paybridge)
    connect(oauth_paybridge, hubspot, integration["id"])

    response = oauth_paybridge.api.delete(f"/api/integrations/{integration['id']}/hubspot")

    assert response.status_code == 200, response.text
    assert response.json()["hubspot"]["connected"] is False
    assert not redis.Redis.from_url(redis_url).keys("pb:connection:*")


def test_no_token_in_clear_text_in_redis_logs_or_api_answers(
    oauth_paybridge, hubspot, redis_url, log_path
):
    hubspot.configure_oauth(access_token_lifetime_s=1)
    integration = _integration(oauth_paybridge)
    answers = [json.dumps(connect(oauth_paybridge, hubspot, integration["id"]))]
    sent: list[str] = []

    def refreshed_after_one_more() -> bool:
        # The access token lives a second: events keep going until it was refreshed.
        delivery_id = _send(oauth_paybridge, integration, f"m{len(sent)}", "c@example.com")
        oauth_paybridge.wait_for_status(delivery_id, ("delivered",))
        sent.append(delivery_id)
        return len(_refresh_grants(hubspot)) >= 1

    wait_until(refreshed_after_one_more, timeout_s=30, interval_s=0.2, what="a token refresh")
    oauth_state = hubspot.oauth()
    oauth_tokens = {*oauth_state["access_tokens"], *oauth_state["refresh_tokens"]}
    assert len(oauth_tokens) >= 3  # two access tokens and a refresh token at least
    _assert_nowhere(oauth_tokens, oauth_paybridge, redis_url, log_path, answers, sent)

    # A private app token for the same account becomes the account's connection.
    private_token = "pat-na1-99999999-2222-4333-8444-555555555555"
    hubspot.add_token(private_token)
    other = _integration(oauth_paybridge, name="Private", hubspot_token=private_token)
    answers.append(json.dumps(other))
    assert other["connection"]["kind"] == "private_app"
    delivery_id = _send(oauth_paybridge, other, "p1", "p@example.com")
    oauth_paybridge.wait_for_status(delivery_id, ("delivered",))
    _assert_nowhere({private_token}, oauth_paybridge, redis_url, log_path, answers, [delivery_id])


def _assert_nowhere(
    tokens: set[str],
    paybridge: Paybridge,
    redis_url: str,
    log_path: Path,
    answers: list[str],
    delivery_ids: list[str],
) -> None:
    for path in ("/api/integrations", "/api/connections"):
        answers.append(paybridge.api.get(path).text)
    for integration in paybridge.api.get("/api/integrations").json()["integrations"]:
        answers.append(paybridge.api.get(f"/api/integrations/{integration['id']}").text)
        answers.append(paybridge.api.get(f"/api/integrations/{integration['id']}/deliveries").text)
    answers.extend(paybridge.api.get(f"/api/deliveries/{d}").text for d in delivery_ids)
    stored = _everything_in_redis(redis.Redis.from_url(redis_url))
    logs = log_path.read_text(errors="replace")
    assert "attempt integration=" in logs  # the workers did log, at INFO
    for token in tokens:
        assert token not in stored
        assert token not in logs
        assert all(token not in answer for answer in answers)


def _everything_in_redis(client: redis.Redis) -> str:
    """Every key and value of the test database, as text."""
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        else:
            value = b""
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


def test_test_with_an_oauth_integration_names_the_scopes_its_connection_lacks(
    oauth_paybridge, hubspot
):
    integration = _integration(oauth_paybridge, name="Companies", code=COMPANY_CODE)
    connect(oauth_paybridge, hubspot, integration["id"])

    tested = oauth_paybridge.api.post(
        "/api/transforms/test",
        json={"code": COMPANY_CODE, "integration_id": integration["id"]},
    ).json()

    scopes = " ".join(f["problem"] for f in tested["findings"] if f["field"] == "scopes")
    assert "crm.objects.companies.write" in scopes, tested["findings"]


def test_test_refreshes_an_expired_access_token_before_reading_the_account(
    redis_url, hubspot, tmp_path
):
    hubspot.configure_oauth(access_token_lifetime_s=1)
    with Paybridge(redis_url, hubspot.base_url, tmp_path / "data", env=_oauth_env(hubspot)) as pb:
        integration = _integration(pb, name="Deals", template="deal_from_payment")
        connect(pb, hubspot, integration["id"])
        first = _read(pb, integration["id"])["connection"]["expires_at"]
        wait_until(lambda: time.time() > first, 5, what="the access token to expire")

        tested = pb.api.post(
            "/api/transforms/test",
            json={
                "template": "deal_from_payment",
                "integration_id": integration["id"],
                "code": transforms.template("deal_from_payment")["code"],
            },
        ).json()

    assert tested["error"] is None, tested
    assert not [f for f in tested["findings"] if "token" in f["problem"].lower()], tested
    assert len(hubspot.oauth()["refreshes"]) >= 1


def test_a_token_hubspot_expires_early_is_refreshed_once_on_its_401(oauth_paybridge, hubspot):
    integration = _integration(oauth_paybridge)
    connect(oauth_paybridge, hubspot, integration["id"])
    first = _send(oauth_paybridge, integration, "m1", "early1@example.com")
    oauth_paybridge.wait_for_status(first, ("delivered",))

    hubspot.expire_oauth_access_tokens()  # paybridge still thinks it has 30 minutes
    second = _send(oauth_paybridge, integration, "m2", "early2@example.com")
    delivery = oauth_paybridge.wait_for_status(second, ("delivered",))

    statuses = [e["response"]["status"] for e in delivery["attempt_log"][-1]["exchanges"]]
    assert statuses == [401, 201], delivery["attempt_log"]
    assert (
        "EXPIRED_AUTHENTICATION" in delivery["attempt_log"][-1]["exchanges"][0]["response"]["body"]
    )
    assert len(_refresh_grants(hubspot)) == 1
