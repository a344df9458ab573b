"""The console in-process: sign-in, CSRF, headers, escaping, the log's indexes, versions."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from engine.cli import main
from tests.console.conftest import OWNER, PASSWORD, csrf_of
from tests.harness import API_TOKEN, SECRET_KEY, sign

CONTACT_CODE = (
    "def handler(webhook):\n"
    '    webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"\n'
    '    email = webhook.payload["data"]["customer"]["email"]\n'
    '    webhook.payload = {"properties": {"email": email}}\n'
    "    return webhook\n"
)


def create(client, **body):
    token = csrf_of(client.get("/integrations/new").text)
    body.setdefault("name", "Contacts")
    body.setdefault("code", CONTACT_CODE)
    response = client.post(
        "/api/integrations", json=body, headers={"x-csrftoken": token, "Accept": "application/json"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def post_event(
    client,
    integration,
    event_type="payment.succeeded",
    email="jane@example.com",
    webhook_id=None,
    name="Jane Doe",
):
    event = {
        "business_id": "bus_1",
        "type": event_type,
        "timestamp": "2025-08-04T05:30:45Z",
        "data": {"payment_id": "pay_1", "customer": {"email": email, "name": name}},
    }
    body = json.dumps(event).encode()
    webhook_id = webhook_id or f"msg_{time.monotonic_ns()}"
    headers = sign(integration["signing_secret"], body, webhook_id)
    response = client.post(f"/webhooks/{integration['id']}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["delivery_id"]


def test_a_browser_gets_the_console_and_an_api_client_gets_json(console):
    assert console.get("/").headers["location"] == "/setup?next=%2F"

    answer = console.get("/", headers={"Accept": "application/json"})

    assert answer.status_code == 200
    assert answer.json()["paybridge"] == "Dodo Payments events into HubSpot"


def test_the_first_run_setup_needs_the_api_token(console):
    token = csrf_of(console.get("/setup").text)
    form = {"csrftoken": token, "name": OWNER, "password": PASSWORD, "password_again": PASSWORD}

    refused = console.post("/setup", data={**form, "api_token": "guess"})
    accepted = console.post("/setup", data={**form, "api_token": API_TOKEN})

    assert refused.status_code == 422
    assert "not this paybridge&#39;s API token" in refused.text
    assert accepted.status_code == 303
    assert console.get("/").status_code == 200
    assert console.get("/setup").headers["location"] == "/login"


def test_sign_in_with_the_password_and_out_again(owner):
    token = csrf_of(owner.get("/").text)
    owner.post("/logout", data={"csrftoken": token})
    assert owner.get("/").headers["location"] == "/login?next=%2F"

    token = csrf_of(owner.get("/login").text)
    wrong = owner.post("/login", data={"csrftoken": token, "name": OWNER, "password": "nope"})
    right = owner.post(
        "/login", data={"csrftoken": token, "name": OWNER, "password": PASSWORD, "next": "/x"}
    )

    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    assert right.status_code == 303
    assert right.headers["location"] == "/x"


def test_sign_in_never_redirects_off_site(owner):
    token = csrf_of(owner.get("/").text)
    owner.post("/logout", data={"csrftoken": token})
    token = csrf_of(owner.get("/login").text)
    form = {"csrftoken": token, "name": OWNER, "password": PASSWORD}

    response = owner.post("/login", data={**form, "next": "//evil.example/"})

    assert response.headers["location"] == "/"


def test_pages_and_the_api_need_a_session(console, owner):
    owner.cookies.clear()
    for path in ["/integrations/new", "/integrations/int_x", "/integrations/int_x/versions"]:
        assert console.get(path).status_code == 303, path
    assert console.get("/api/integrations").status_code == 401


def test_a_form_or_api_call_without_the_csrf_token_is_refused(owner):
    integration = create(owner)

    form = owner.post(f"/integrations/{integration['id']}/settings/enabled", data={})
    call = owner.patch(f"/api/integrations/{integration['id']}", json={"enabled": False})

    assert form.status_code == 403
    assert call.status_code == 403
    assert owner.get(f"/integrations/{integration['id']}").text.count(">on</span>") == 1


def test_api_clients_with_the_token_need_no_csrf_token(owner):
    response = owner.post(
        "/api/integrations",
        json={"name": "By token", "code": CONTACT_CODE},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )

    assert response.status_code == 201


def test_every_answer_has_the_security_headers(console):
    for path in ["/login", "/setup", "/static/console.css", "/healthz"]:
        headers = console.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"


def test_event_values_are_escaped(owner):
    integration = create(owner)
    evil = '<script>alert("x")</script>'
    delivery_id = post_event(owner, integration, email=f"a{evil}@example.com", name=evil)

    log = owner.get(f"/integrations/{integration['id']}").text
    page = owner.get(f"/integrations/{integration['id']}/deliveries/{delivery_id}").text

    for html in (log, page):
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(" in html


def test_the_log_filters_by_status_and_event_type_and_finds_by_id_or_email(owner):
    integration = create(owner)
    base = f"/integrations/{integration['id']}"
    paid = post_event(owner, integration, "payment.succeeded", "jane@example.com", "msg_paid")
    refund = post_event(owner, integration, "refund.succeeded", "Bob@Example.com")

    def shown(query):
        html = owner.get(f"{base}?{query}").text
        return {d for d in (paid, refund) if f'data-delivery-id="{d}"' in html}

    assert shown("") == {paid, refund}
    assert shown("event_type=refund.succeeded") == {refund}
    assert shown("status=pending&event_type=payment.succeeded") == {paid}
    assert shown("status=delivered") == set()
    assert shown("find=bob%40example.com") == {refund}
    assert shown("find=msg_paid") == {paid}
    assert shown(f"find={refund}") == {refund}


def test_the_api_filters_deliveries_by_event_type(owner):
    integration = create(owner)
    post_event(owner, integration, "payment.succeeded")
    refund = post_event(owner, integration, "refund.succeeded")

    answer = owner.get(
        f"/api/integrations/{integration['id']}/deliveries?event_type=refund.succeeded"
    ).json()

    assert [d["id"] for d in answer["deliveries"]] == [refund]
    assert answer["total"] == 1


def test_versions_show_a_diff_and_roll_back(owner):
    integration = create(owner)
    base = f"/integrations/{integration['id']}"
    token = csrf_of(owner.get(base).text)
    changed = CONTACT_CODE.replace("contacts", "deals")
    headers = {"x-csrftoken": token}
    assert owner.patch(f"/api/{base[1:]}", json={"code": changed}, headers=headers).is_success

    diff = owner.get(f"{base}/versions?a=1&b=2").text
    rolled = owner.post(f"{base}/versions/1/rollback", data={"csrftoken": token})

    assert (
        '<span class="diff-removed">-    webhook.url = &#34;https://api.hubapi.com/crm/v3/objects/contacts&#34;'
        in diff
    )
    assert (
        '<span class="diff-added">+    webhook.url = &#34;https://api.hubapi.com/crm/v3/objects/deals&#34;'
        in diff
    )
    assert rolled.status_code == 303
    current = owner.get(f"/api/integrations/{integration['id']}").json()
    assert current["version"] == 3
    assert current["code"] == CONTACT_CODE


def test_switch_off_and_choose_event_types_through_forms(owner):
    integration = create(owner)
    base = f"/integrations/{integration['id']}"
    token = csrf_of(owner.get(base).text)

    owner.post(f"{base}/settings/enabled", data={"csrftoken": token})
    owner.post(
        f"{base}/settings/event-types",
        data={"csrftoken": token, "event_types": ["payment.succeeded", "refund.succeeded"]},
    )

    record = owner.get(f"/api/integrations/{integration['id']}").json()
    assert record["enabled"] is False
    assert record["event_types"] == ["payment.succeeded", "refund.succeeded"]
    assert ">off</span>" in owner.get("/").text


def test_a_bad_setting_is_refused_with_the_api_message(owner):
    integration = create(owner)
    base = f"/integrations/{integration['id']}"
    token = csrf_of(owner.get(base).text)

    response = owner.post(
        f"{base}/settings/signing-secret", data={"csrftoken": token, "signing_secret": "nope"}
    )

    assert "signing_secret+must+be" in response.headers["location"]


def test_bulk_replay_goes_in_batches_from_a_snapshot(owner):
    integration = create(owner)
    storage = owner.app.state.storage
    ids = [post_event(owner, integration) for _ in range(5)]
    for delivery_id in ids:
        storage.update_delivery(storage.get_delivery(delivery_id), status="failed")
    token = csrf_of(owner.get(f"/integrations/{integration['id']}").text)

    started = owner.post(
        f"/integrations/{integration['id']}/replay",
        data={"csrftoken": token, "status": "failed"},
        headers={"Accept": "application/json"},
    ).json()
    step = owner.post(
        f"/console/bulk-replay/{started['id']}", json={}, headers={"x-csrftoken": token}
    ).json()

    assert started["total"] == 5
    assert step["done"] == 5
    assert storage.count_deliveries(integration["id"], "failed") == 0
    assert storage.count_deliveries(integration["id"], "pending") == 5


def test_the_integrations_list_counts_events_and_failures(owner):
    integration = create(owner, name="Counted")
    storage = owner.app.state.storage
    first = post_event(owner, integration)
    post_event(owner, integration)
    storage.update_delivery(storage.get_delivery(first), status="failed")

    html = owner.get("/").text

    row = html[html.index("Counted") :]
    cells = [c.split("<")[0] for c in row.split('<td class="number">')[1:3]]
    assert cells[0] == "2"
    assert ">1</a>" in row.split('<td class="number">')[2]


def test_user_create_adds_an_account_that_can_sign_in(console, redis_url, tmp_path):
    env = {
        "PAYBRIDGE_REDIS_URL": redis_url,
        "PAYBRIDGE_SECRET_KEY": SECRET_KEY,
        "PAYBRIDGE_API_TOKEN": API_TOKEN,
        "PAYBRIDGE_DATA_DIR": str(tmp_path),
    }
    result = CliRunner().invoke(
        main, ["user", "create", "ada"], input="a long password\na long password\n", env=env
    )
    assert result.exit_code == 0, result.output

    token = csrf_of(console.get("/login").text)
    response = console.post(
        "/login", data={"csrftoken": token, "name": "ada", "password": "a long password"}
    )

    assert response.status_code == 303
    assert console.get("/").status_code == 200


def test_the_list_says_when_an_integration_needs_reconnecting(owner):
    integration = create(owner, name="Broken token")
    owner.app.state.storage.update_integration(
        integration["id"], state="needs_reconnect", state_reason="HubSpot 401"
    )

    assert ">needs reconnect</span>" in owner.get("/").text
    page = owner.get(f"/integrations/{integration['id']}").text
    assert "HubSpot refused the connection: HubSpot 401" in page


def test_missing_scopes_are_named_on_the_integration_page(owner):
    integration = create(owner, name="Needs scopes")
    owner.app.state.storage.update_integration(
        integration["id"],
        state="needs_reconnect",
        state_reason="HubSpot 403 MISSING_SCOPES",
        missing_scopes=["crm.objects.deals.write"],
    )

    page = owner.get(f"/integrations/{integration['id']}").text

    assert "Missing scopes: <code>crm.objects.deals.write</code>" in page
