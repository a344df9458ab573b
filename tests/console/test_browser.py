"""The owner's whole journey in a real browser: Playwright driving Debian's Chromium headless.

paybridge runs for real (web and worker processes, tests/harness.py) against the fake HubSpot.
With PAYBRIDGE_SCREENSHOTS=docs/screenshots (`make screenshots`) the main pages are saved there.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import transforms
from tests.fake_hubspot import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from tests.harness import API_TOKEN, Paybridge, wait_until

PASSWORD = "correct horse battery"
BROKEN_CODE = (
    "def handler(webhook):\n"
    "    data = webhook.payload['data']\n"
    "    phone = data['customer']['phone']\n"
    "    return webhook\n"
)
TIMEOUT_MS = 20_000


def chromium_path() -> str:
    path = os.environ.get("PAYBRIDGE_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("the browser tests need Chromium: `make test` installs it (apt-get)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, paybridge: Paybridge) -> Iterator[Page]:
    context = browser.new_context(
        base_url=paybridge.base_url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    yield opened
    context.close()
    assert errors == [], f"the page reported errors: {errors}"


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("PAYBRIDGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def sign_up(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup"))
    page.fill("input[name=api_token]", API_TOKEN)
    page.fill("input[name=name]", "owner")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Integrations")


def set_code(page: Page, code: str) -> None:
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)", code)


def event_for(email: str) -> dict:
    event = copy.deepcopy(transforms.sample("payment.succeeded"))
    event["data"]["customer"]["email"] = email
    return event


def delivery_row(page: Page, delivery_id: str):
    return page.locator(f'tr[data-delivery-id="{delivery_id}"]')


def send_sample_event_and_see_it_delivered(page: Page) -> None:
    """On an integration's page: the sample payment, and its row in the log as it is delivered
    (the log follows a delivery under way by itself)."""
    page.select_option("#sample-event select", "payment.succeeded")
    page.click("text=Send a sample event")
    expect(page.locator(".notice")).to_contain_text("Sample payment.succeeded event msg_sample_")
    row = page.locator("#deliveries tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("delivered", timeout=30_000)


def wait_for_row_status(page: Page, delivery_id: str, status: str) -> None:
    def shown() -> bool:
        page.reload()
        return delivery_row(page, delivery_id).locator(".status").inner_text() == status

    wait_until(shown, 30, interval_s=0.3, what=f"delivery {delivery_id} shown as {status}")


DODO_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_the_owner_creates_tests_and_runs_an_integration_in_the_browser(
    page: Page, paybridge: Paybridge, hubspot, tmp_path: Path
):
    sign_up(page)
    screenshot(page, "sign-in-done", tmp_path)

    # New integration: HubSpot, the private app token, a template, a sample event.
    page.click("text=New integration >> nth=0")
    expect(page.locator(".CodeMirror")).to_be_visible()
    page.fill("#integration-name", "Contacts from payments")
    page.fill("#hubspot-token", hubspot.token)
    page.select_option("#template", "contact_from_payment")
    expect(page.locator("#event")).to_have_value(re.compile(r'"type": "payment.succeeded"'))

    # Test it and read the request.
    page.click("#test-button")
    expect(page.locator("#result-url")).to_have_text(
        "https://api.hubapi.com/crm/v3/objects/contacts"
    )
    sample_email = transforms.sample("payment.succeeded")["data"]["customer"]["email"]
    expect(page.locator("#result-body")).to_contain_text(f'"email": "{sample_email}"')
    screenshot(page, "new-integration-test", tmp_path)

    # Break the handler: the error names the line, and the editor marks it.
    set_code(page, BROKEN_CODE)
    expect(page.locator("#template")).to_have_value("")  # no template holds this code
    page.click("#test-button")
    expect(page.locator("#result-error")).to_contain_text("KeyError")
    expect(page.locator("#result-error")).to_contain_text("(line 3)")
    marked = page.locator(".CodeMirror-code > .error-line")
    expect(marked).to_have_count(1)
    expect(marked).to_contain_text("phone = data['customer']['phone']")
    screenshot(page, "new-integration-error", tmp_path)

    # Fix it (back to the template) and create: webhook URL and signing secret are shown.
    page.select_option("#template", "")
    page.select_option("#template", "contact_from_payment")
    expect(marked).to_have_count(0)
    page.click("#save-button")
    expect(page.locator("#created")).to_be_visible()
    webhook_url = page.locator("#webhook-url").inner_text()
    secret = page.locator("#signing-secret").inner_text()
    assert webhook_url.startswith(f"{paybridge.base_url}/webhooks/int_")
    assert secret.startswith("whsec_")
    expect(page.locator("#save-button")).to_be_disabled()  # a second click creates nothing

    # Dodo's own signing secret for the endpoint is pasted where the steps say.
    page.fill("#dodo-secret", DODO_SECRET)
    page.click("#dodo-secret-save")
    expect(page.locator("#dodo-secret-result")).to_contain_text("Saved")
    screenshot(page, "new-integration-created", tmp_path)
    integration = {"id": webhook_url.rsplit("/", 1)[1], "signing_secret": DODO_SECRET}
    assert len(paybridge.api.get("/api/integrations").json()["integrations"]) == 1

    # A signed event arrives and is delivered to HubSpot; the log shows it.
    accepted = paybridge.post_event(integration, event_for("first@example.com"), "msg_first")
    assert accepted.status_code == 202, accepted.text
    first = accepted.json()["delivery_id"]
    page.click("#open-integration")
    wait_for_row_status(page, first, "delivered")
    assert [c["properties"]["email"] for c in hubspot.contacts()] == ["first@example.com"]
    screenshot(page, "integration", tmp_path)

    # HubSpot fails: the delivery fails, with HubSpot's own words on its page.
    hubspot.inject(
        kind="status",
        status=400,
        count=100,
        message="Property values were not valid",
        category="VALIDATION_ERROR",
        path_prefix="/crm/v3/objects/contacts",
    )
    failing = paybridge.post_event(integration, event_for("second@example.com"), "msg_second")
    second = failing.json()["delivery_id"]
    wait_for_row_status(page, second, "failed")
    delivery_row(page, second).locator("a").click()
    expect(page.locator("#delivery-reason")).to_contain_text("HubSpot 400")
    expect(page.locator("#attempts .http-status").first).to_have_text("400")
    expect(page.locator("#attempts pre").nth(1)).to_contain_text('"category": "VALIDATION_ERROR"')
    screenshot(page, "delivery-failed", tmp_path)

    # After the fix, replay it: it is delivered.
    hubspot.clear_faults()
    page.click("#replay")
    expect(page.locator(".notice")).to_contain_text("Replay queued")

    def delivered() -> bool:
        page.reload()
        return page.locator("#delivery-status").inner_text() == "delivered"

    wait_until(delivered, 30, interval_s=0.3, what="the replayed delivery to be delivered")
    emails = {c["properties"]["email"] for c in hubspot.contacts()}
    assert emails == {"first@example.com", "second@example.com"}
    screenshot(page, "delivery-replayed", tmp_path)
    page.click("text=Integrations")
    expect(page.locator("#integrations tbody tr")).to_have_count(1)
    screenshot(page, "integrations", tmp_path)


def test_replay_all_failed_shows_progress(page: Page, paybridge: Paybridge, hubspot):
    sign_up(page)
    integration = paybridge.create_integration(
        name="Bulk", template="contact_from_payment", hubspot_token=hubspot.token
    )
    hubspot.inject(kind="status", status=400, count=100, path_prefix="/crm/v3/objects/contacts")
    ids = [
        paybridge.post_event(integration, event_for(f"c{n}@example.com"), f"msg_{n}").json()[
            "delivery_id"
        ]
        for n in range(3)
    ]
    for delivery_id in ids:
        paybridge.wait_for_status(delivery_id, ("failed",))
    hubspot.clear_faults()

    page.goto(f"/integrations/{integration['id']}")
    page.select_option("#bulk-replay select[name=status]", "failed")
    page.click("#replay-all")

    expect(page.locator("#replay-status")).to_contain_text("3 of 3 queued again")
    expect(page.locator("#replay-progress")).to_have_attribute("value", "3")
    for delivery_id in ids:
        paybridge.wait_for_status(delivery_id, ("delivered",))
    page.goto(f"/integrations/{integration['id']}?status=delivered")
    expect(page.locator("#deliveries tbody tr")).to_have_count(3)


def test_send_test_shows_hubspots_answer(page: Page, paybridge: Paybridge, hubspot, tmp_path):
    sign_up(page)
    page.goto("/integrations/new")
    page.fill("#hubspot-token", hubspot.token)
    page.select_option("#template", "contact_from_payment")
    expect(page.locator("#event")).to_have_value(re.compile(r"payment.succeeded"))

    page.click("#send-test-button")

    expect(page.locator("#hubspot-status")).to_have_text("HubSpot answered 201")
    expect(page.locator("#hubspot-body")).to_contain_text('"id"')
    assert len(hubspot.contacts()) == 1
    assert page.evaluate("() => fetch('/api/integrations').then(r => r.json())") == {
        "integrations": []
    }


def test_edit_tests_on_a_real_event_then_diffs_and_rolls_back_versions(
    page: Page, paybridge: Paybridge, hubspot, tmp_path
):
    sign_up(page)
    integration = paybridge.create_integration(name="Versions", template="contact_from_payment")
    paybridge.post_event(integration, event_for("real.one@example.com"), "msg_real")
    page.goto(f"/integrations/{integration['id']}/edit")
    page.select_option("#recent-event", index=1)
    expect(page.locator("#event")).to_have_value(re.compile(r"real\.one@example\.com"))
    page.click("#test-button")
    expect(page.locator("#result-body")).to_contain_text('"email": "real.one@example.com"')
    page.select_option("#template", "deal_from_payment")
    page.click("#save-button")
    expect(page.locator(".notice")).to_contain_text("Saved as version 2")

    page.click("text=Versions (2)")
    expect(page.locator("#diff .diff-added").first).to_be_visible()
    expect(page.locator("#diff .diff-added").first).to_contain_text("+")
    expect(page.locator("#diff")).to_contain_text("crm/v3/objects/deals")
    screenshot(page, "versions", tmp_path)
    page.click("text=Roll back to this")

    expect(page.locator(".notice")).to_contain_text("version 3 has the code of version 1")
    code = paybridge.api.get(f"/api/integrations/{integration['id']}").json()["code"]
    assert code == transforms.template("contact_from_payment")["code"]


def test_a_sample_event_sent_from_the_page_is_delivered(page: Page, paybridge: Paybridge, hubspot):
    sign_up(page)
    integration = paybridge.create_integration(
        name="Sample", template="contact_from_payment", hubspot_token=hubspot.token
    )
    page.goto(f"/integrations/{integration['id']}")

    send_sample_event_and_see_it_delivered(page)
    sample_email = transforms.sample("payment.succeeded")["data"]["customer"]["email"]
    assert [c["properties"]["email"] for c in hubspot.contacts()] == [sample_email]


@pytest.fixture
def oauth_paybridge(redis_url: str, hubspot, tmp_path: Path) -> Iterator[Paybridge]:
    env = {
        "PAYBRIDGE_HUBSPOT_CLIENT_ID": FAKE_CLIENT_ID,
        "PAYBRIDGE_HUBSPOT_CLIENT_SECRET": FAKE_CLIENT_SECRET,
        "PAYBRIDGE_HUBSPOT_AUTHORIZE_URL": f"{hubspot.base_url}/oauth/authorize",
    }
    with Paybridge(redis_url, hubspot.base_url, tmp_path / "data", env=env) as running:
        yield running


def test_the_owner_connects_hubspot_with_oauth_and_events_are_delivered(
    browser: Browser, oauth_paybridge: Paybridge, hubspot
):
    context = browser.new_context(base_url=oauth_paybridge.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_up(page)
        integration = oauth_paybridge.create_integration(
            name="OAuth", template="contact_from_payment"
        )
        page.goto(f"/integrations/{integration['id']}")
        expect(page.locator("text=Not connected")).to_be_visible()

        page.click("#oauth-connect")
        expect(page.locator("h1")).to_have_text("Connect app")
        page.click("button[value=approve]")

        expect(page).to_have_url(re.compile(rf"/integrations/{integration['id']}$"))
        expect(page.locator(".notice")).to_have_text("HubSpot is connected.")
        expect(page.locator("text=Connected to account")).to_be_visible()
        send_sample_event_and_see_it_delivered(page)
        sent = [r for r in hubspot.requests() if r["path"] == "/crm/v3/objects/contacts"]
        assert sent and all(r["token"] != hubspot.token for r in sent)
    finally:
        context.close()


def test_without_an_oauth_app_the_page_says_how_to_use_a_private_app_token(
    page: Page, paybridge: Paybridge
):
    sign_up(page)
    integration = paybridge.create_integration(name="Token", template="contact_from_payment")
    page.goto(f"/integrations/{integration['id']}")

    expect(page.locator("#oauth-connect")).to_have_count(0)
    expect(page.locator("text=Private Apps")).to_be_visible()


def test_the_delivery_log_follows_a_delivery_under_way_without_a_reload(
    page: Page, paybridge: Paybridge, hubspot
):
    sign_up(page)
    integration = paybridge.create_integration(
        name="Follow", template="contact_from_payment", hubspot_token=hubspot.token
    )
    # HubSpot takes 4 s to answer: the delivery is under way while the page loads.
    hubspot.inject(kind="slow", delay_s=4, count=1, path_prefix="/crm/v3/objects/contacts")
    accepted = paybridge.post_event(integration, event_for("follow@example.com"), "msg_follow")
    delivery_id = accepted.json()["delivery_id"]
    contacts = "/crm/v3/objects/contacts"
    wait_until(
        lambda: [r for r in hubspot.requests() if r["path"] == contacts],
        what="the request to reach HubSpot",
    )
    page.goto(f"/integrations/{integration['id']}")
    status = delivery_row(page, delivery_id).locator(".status")
    expect(status).to_have_text("pending")

    expect(status).to_have_text("delivered", timeout=15_000)


def test_a_missing_property_found_by_test_is_created_from_the_page(
    page: Page, paybridge: Paybridge, hubspot
):
    sign_up(page)
    integration = paybridge.create_integration(
        name="Subscriptions",
        template="contact_update_on_subscription",
        hubspot_token=hubspot.token,
    )
    page.goto(f"/integrations/{integration['id']}/edit")
    page.select_option("#event-type", "subscription.active")
    expect(page.locator("#event")).to_have_value(re.compile(r'"type": "subscription.active"'))
    page.click("#test-button")
    action = page.locator(".finding-action", has_text="date property next_billing_date")
    expect(action).to_have_text("Create the date property next_billing_date in HubSpot")

    action.click()

    done = page.locator("p.finding-done")
    expect(done).to_contain_text("next_billing_date")
    expect(done).to_contain_text("Created.")
    headers = hubspot.auth_headers
    listed = httpx.get(f"{hubspot.base_url}/crm/v3/properties/contacts", headers=headers).json()
    assert "next_billing_date" in {p["name"] for p in listed["results"]}
