import ast
import json
import tomllib
from typing import Any

import pytest
from RestrictedPython import compile_restricted_exec

from tests.transforms.restricted import plain_handler, restricted_handler, run
from transforms import EVENT_TYPES, HELPERS, TEMPLATES, real_samples, sample, samples, template
from transforms import templates as all_templates
from transforms.catalogue import TEMPLATES_DIR

TEMPLATE_IDS = [meta["id"] for meta in TEMPLATES]
HUBSPOT = "https://api.hubapi.com"
JANE_URL = f"{HUBSPOT}/crm/v3/objects/contacts/jane.doe%40example.com?idProperty=email"

PAYMENT_ID = "pay_0Ngt7xj2nKa6R7tfq3pCB"
SUBSCRIPTION_ID = "sub_0NtpHmxTtXifTn8lzGPSg"
PRODUCT_ID = "pdt_0NilTL17mObye2zh6VzyJ"


def every_event() -> list[tuple[str, dict[str, Any]]]:
    events = [(f"sample:{name}", event) for name, event in samples().items()]
    events += [(f"real:{name}", event) for name, event in real_samples().items()]
    return events


def handler_of(template_id: str) -> Any:
    return restricted_handler(template(template_id)["code"], f"{template_id}.py")


def association(email: str, type_id: int) -> list[dict[str, Any]]:
    return [
        {
            "to": {"email": email},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
    ]


def subscription_properties(**overrides: str) -> dict[str, str]:
    properties = {
        "subscription_status": "active",
        "subscription_id": SUBSCRIPTION_ID,
        "subscription_product_id": PRODUCT_ID,
        "subscription_currency": "USD",
        "next_billing_date": "2026-04-02",
        "subscription_amount": "45.45",
    }
    properties.update(overrides)
    return properties


# The catalogue --------------------------------------------------------------------------------


def test_templates_lists_every_template_with_its_code() -> None:
    listed = all_templates()

    assert [t["id"] for t in listed] == TEMPLATE_IDS
    assert TEMPLATE_IDS == [
        "contact_from_payment",
        "contact_update_on_subscription",
        "deal_from_payment",
        "subscription_status_sync",
        "refund_note",
        "dispute_task",
    ]
    for entry in listed:
        assert list(entry) == ["id", "name", "description", "event_types", "code"]
        assert entry["name"] and entry["description"]
        path = TEMPLATES_DIR / f"{entry['id']}.py"
        assert entry["code"] == path.read_text(encoding="utf-8")
        assert entry["event_types"]
        assert set(entry["event_types"]) <= set(EVENT_TYPES)
    json.dumps(listed)


def test_every_template_file_is_in_the_catalogue() -> None:
    assert {path.stem for path in TEMPLATES_DIR.glob("*.py")} == set(TEMPLATE_IDS)


def test_template_returns_a_copy_the_caller_may_change() -> None:
    first = template("subscription_status_sync")
    first["event_types"].clear()

    assert len(template("subscription_status_sync")["event_types"]) == 10


def test_template_event_types() -> None:
    event_types = {entry["id"]: entry["event_types"] for entry in all_templates()}

    assert event_types == {
        "contact_from_payment": ["payment.succeeded"],
        "contact_update_on_subscription": ["subscription.active"],
        "deal_from_payment": ["payment.succeeded"],
        "subscription_status_sync": [t for t in EVENT_TYPES if t.startswith("subscription.")],
        "refund_note": ["refund.succeeded", "refund.failed"],
        "dispute_task": ["dispute.opened"],
    }


def test_contact_update_description_says_to_create_the_properties_first() -> None:
    description = template("contact_update_on_subscription")["description"]

    assert "create them in HubSpot first" in description
    for name in ("subscription_status", "next_billing_date", "subscription_amount"):
        assert name in description


def test_unknown_template_raises_key_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown template 'contact_from_pay'") as caught:
        template("contact_from_pay")

    assert "contact_from_payment" in str(caught.value)


# What the code may use ------------------------------------------------------------------------


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_template_compiles_under_restricted_python(template_id: str) -> None:
    result = compile_restricted_exec(template(template_id)["code"], filename=f"{template_id}.py")

    assert result.errors == ()
    assert result.warnings == []


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_template_uses_only_plain_sandbox_friendly_python(template_id: str) -> None:
    tree = ast.parse(template(template_id)["code"])
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]

    assert [f.name for f in functions] == ["handler"]
    assert [a.arg for a in functions[0].args.args] == ["webhook"]
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Import | ast.ImportFrom), "no imports in templates"
        assert not isinstance(node, ast.AugAssign), "augmented assignment needs _inplacevar_"
        assert not isinstance(node, ast.ClassDef | ast.Lambda | ast.Try | ast.While)
        if isinstance(node, ast.Name):
            assert not node.id.startswith("_"), node.id
            assert node.id != "print", "print needs the sandbox's _print_"
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), node.attr
            assert node.attr not in ("format", "format_map"), "str.format is blocked"


def test_ruff_builtins_for_templates_match_the_helpers() -> None:
    config = tomllib.loads((TEMPLATES_DIR / "ruff.toml").read_text(encoding="utf-8"))

    assert sorted(config["builtins"]) == sorted(HELPERS)


# Running every template against every event ---------------------------------------------------


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_template_leaves_other_event_types_alone(template_id: str) -> None:
    handler = handler_of(template_id)
    handled = set(template(template_id)["event_types"])

    for name, event in every_event():
        if event["type"] in handled:
            continue
        webhook = run(handler, event)
        assert webhook.url == "", name
        assert webhook.method == "POST", name
        assert webhook.payload == event, name
        assert webhook.cancel is False, name


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_template_builds_a_hubspot_request_for_each_of_its_events(template_id: str) -> None:
    handler = handler_of(template_id)
    handled = set(template(template_id)["event_types"])

    for name, event in every_event():
        if event["type"] not in handled:
            continue
        webhook = run(handler, event)
        assert webhook.url.startswith(f"{HUBSPOT}/crm/v3/objects/"), name
        assert webhook.method in ("POST", "PATCH"), name
        assert isinstance(webhook.payload["properties"], dict), name
        for value in webhook.payload["properties"].values():
            assert isinstance(value, str) and value, name
        assert len(json.dumps(webhook.payload).encode()) < 1024 * 1024


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_template_behaves_the_same_as_plain_python(template_id: str) -> None:
    code = template(template_id)["code"]
    restricted = restricted_handler(code)
    plain = plain_handler(code)

    for name, event in every_event():
        a, b = run(restricted, event), run(plain, json.loads(json.dumps(event)))
        assert (a.url, a.method, a.payload) == (b.url, b.method, b.payload), name


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_template_survives_an_event_with_empty_data(template_id: str, event_type: str) -> None:
    event = {
        "business_id": "bus_x",
        "type": event_type,
        "timestamp": "2026-03-02T10:14:19.482913Z",
        "data": {},
    }

    run(handler_of(template_id), event)
    run(handler_of(template_id), {**event, "data": None})


# contact_from_payment -------------------------------------------------------------------------


def test_contact_from_payment_sample() -> None:
    webhook = run(handler_of("contact_from_payment"), sample("payment.succeeded"))

    assert webhook.url == f"{HUBSPOT}/crm/v3/objects/contacts"
    assert webhook.method == "POST"
    assert webhook.payload == {
        "properties": {
            "email": "jane.doe@example.com",
            "firstname": "Jane",
            "lastname": "Doe",
            "phone": "+14155550132",
            "address": "548 Market Street",
            "city": "San Francisco",
            "state": "CA",
            "zip": "94104",
            "country": "US",
        }
    }


def test_contact_from_payment_real_bounce_payment() -> None:
    event = real_samples()["payment.succeeded__real-Bounce-anonymized"]

    webhook = run(handler_of("contact_from_payment"), event)

    assert webhook.payload == {
        "properties": {
            "email": "jane.doe@example.com",
            "firstname": "Jane",
            "lastname": "Doe",
            "phone": "+910000000000",
            "address": "123 Example Street",
            "city": "Example City",
            "state": "Example State",
            "zip": "000000",
            "country": "IN",
        }
    }


def test_contact_from_payment_leaves_out_what_dodo_did_not_send() -> None:
    event = real_samples()["payment.succeeded__real-kaamsync-testmode-upi"]

    webhook = run(handler_of("contact_from_payment"), event)

    assert webhook.payload == {
        "properties": {
            "email": "test@test.com",
            "firstname": "test",
            "address": "a",
            "city": "a",
            "state": "a",
            "zip": "560038",
            "country": "IN",
        }
    }


def test_contact_from_payment_cli_mock_and_null_phone() -> None:
    event = real_samples()["payment.succeeded__dodopayments-cli-mock"]
    event["data"]["customer"]["phone_number"] = None

    properties = run(handler_of("contact_from_payment"), event).payload["properties"]

    assert properties["firstname"] == "Test"
    assert properties["lastname"] == "user"
    assert "phone" not in properties
    assert "company" not in properties


def test_contact_from_payment_skips_a_payment_without_email() -> None:
    event = sample("payment.succeeded")
    del event["data"]["customer"]["email"]

    assert run(handler_of("contact_from_payment"), event).url == ""


# contact_update_on_subscription ---------------------------------------------------------------


def test_contact_update_on_subscription_sample() -> None:
    webhook = run(handler_of("contact_update_on_subscription"), sample("subscription.active"))

    assert webhook.url == JANE_URL
    assert webhook.method == "PATCH"
    assert webhook.payload == {"properties": subscription_properties()}


def test_contact_update_on_subscription_real_kaamsync() -> None:
    event = real_samples()["subscription.active__real-kaamsync-testmode"]

    webhook = run(handler_of("contact_update_on_subscription"), event)

    assert webhook.url == f"{HUBSPOT}/crm/v3/objects/contacts/test%40test.com?idProperty=email"
    assert webhook.payload == {
        "properties": {
            "subscription_status": "active",
            "subscription_id": "sub_0NWGyJWb0l1msGyZVlKer",
            "subscription_product_id": "pdt_0NVPN65dLWspJhGZcSJ3d",
            "subscription_currency": "USD",
            "next_billing_date": "2026-02-14",
            "subscription_amount": "29.00",
        }
    }


def test_contact_update_on_subscription_encodes_the_email_in_the_url() -> None:
    event = sample("subscription.active")
    event["data"]["customer"]["email"] = "jane+vip@example.com"

    webhook = run(handler_of("contact_update_on_subscription"), event)

    assert webhook.url == (
        f"{HUBSPOT}/crm/v3/objects/contacts/jane%2Bvip%40example.com?idProperty=email"
    )


def test_contact_update_on_subscription_converts_by_currency_exponent() -> None:
    event = sample("subscription.active")
    event["data"]["currency"] = "JPY"
    event["data"]["recurring_pre_tax_amount"] = 4500

    properties = run(handler_of("contact_update_on_subscription"), event).payload["properties"]

    assert properties["subscription_amount"] == "4500"
    assert properties["subscription_currency"] == "JPY"


# deal_from_payment ----------------------------------------------------------------------------


def test_deal_from_payment_sample() -> None:
    webhook = run(handler_of("deal_from_payment"), sample("payment.succeeded"))

    assert webhook.url == f"{HUBSPOT}/crm/v3/objects/deals"
    assert webhook.method == "POST"
    assert webhook.payload == {
        "properties": {
            "dealname": f"Payment {PAYMENT_ID} – Jane Doe",
            "dealstage": "closedwon",
            "pipeline": "default",
            "amount": "49.99",
            "deal_currency_code": "USD",
            "closedate": "2026-03-02T10:14:05.112Z",
        },
        "associations": association("jane.doe@example.com", 3),
    }


def test_deal_from_payment_real_kaamsync_inr_payment() -> None:
    event = real_samples()["payment.succeeded__real-kaamsync-testmode-upi"]

    webhook = run(handler_of("deal_from_payment"), event)

    assert webhook.payload == {
        "properties": {
            "dealname": "Payment pay_0NWGyJWRwu5tvVhinRZol – test",
            "dealstage": "closedwon",
            "pipeline": "default",
            "amount": "3213.56",
            "deal_currency_code": "INR",
            "closedate": "2026-01-14T13:25:43.118Z",
        },
        "associations": association("test@test.com", 3),
    }


def test_deal_from_payment_real_bounce_zero_amount_payment() -> None:
    event = real_samples()["payment.succeeded__real-Bounce-anonymized"]

    properties = run(handler_of("deal_from_payment"), event).payload["properties"]

    assert properties["amount"] == "0.00"
    assert properties["deal_currency_code"] == "INR"
    assert properties["closedate"] == "2025-12-24T08:51:51.437Z"


def test_deal_from_payment_cli_mock() -> None:
    event = real_samples()["payment.succeeded__dodopayments-cli-mock"]

    properties = run(handler_of("deal_from_payment"), event).payload["properties"]

    assert properties["dealname"] == "Payment pay_test – Test user"
    assert properties["amount"] == "4.00"
    assert properties["closedate"] == "2025-08-04T05:30:45.182Z"


def test_deal_from_payment_skips_a_payment_method_update() -> None:
    event = sample("payment.succeeded")
    event["data"]["is_update_payment_method"] = True
    event["data"]["total_amount"] = 0

    assert run(handler_of("deal_from_payment"), event).url == ""


def test_deal_from_payment_without_email_has_no_association() -> None:
    event = sample("payment.succeeded")
    event["data"]["customer"] = {"customer_id": "cus_x", "name": "Jane Doe"}

    payload = run(handler_of("deal_from_payment"), event).payload

    assert "associations" not in payload
    assert payload["properties"]["dealname"] == f"Payment {PAYMENT_ID} – Jane Doe"


# subscription_status_sync ---------------------------------------------------------------------


PRO_PRODUCT = {
    "subscription_product_id": "pdt_0NZUSxGUe5qVPE89bZ15X",
    "subscription_amount": "99.00",
}
FAILED_SUBSCRIPTION = {"subscription_id": "sub_0NoZf6fEf5huLi9Q3EPdJ"}


@pytest.mark.parametrize(
    ("event_type", "status", "next_billing_date", "other"),
    [
        ("subscription.active", "active", "2026-04-02", {}),
        ("subscription.renewed", "active", "2026-05-02", {}),
        ("subscription.on_hold", "on_hold", "2026-05-02", {}),
        ("subscription.paused", "paused", "2026-07-02", {}),
        ("subscription.cancelled", "cancelled", "2026-07-02", {}),
        ("subscription.failed", "failed", "2026-04-01", FAILED_SUBSCRIPTION),
        ("subscription.expired", "expired", "2036-03-02", {}),
        ("subscription.plan_changed", "active", "2026-06-04", PRO_PRODUCT),
        ("subscription.updated", "active", "2026-04-02", {}),
        ("subscription.update_payment_method", "on_hold", "2026-05-02", {}),
    ],
)
def test_subscription_status_sync_samples(
    event_type: str, status: str, next_billing_date: str, other: dict[str, str]
) -> None:
    webhook = run(handler_of("subscription_status_sync"), sample(event_type))

    assert webhook.url == JANE_URL
    assert webhook.method == "PATCH"
    assert webhook.payload == {
        "properties": subscription_properties(
            subscription_status=status, next_billing_date=next_billing_date, **other
        )
    }


def test_subscription_status_sync_real_kaamsync_renewal() -> None:
    event = real_samples()["subscription.renewed__real-kaamsync-testmode"]

    properties = run(handler_of("subscription_status_sync"), event).payload["properties"]

    assert properties["subscription_status"] == "active"
    assert properties["next_billing_date"] == "2026-02-14"
    assert properties["subscription_amount"] == "29.00"


def test_subscription_status_sync_trusts_the_payload_status_over_the_event_name() -> None:
    event = sample("subscription.active")
    event["data"]["status"] = "cancelled"

    properties = run(handler_of("subscription_status_sync"), event).payload["properties"]

    assert properties["subscription_status"] == "cancelled"


# refund_note ----------------------------------------------------------------------------------


def test_refund_note_sample_succeeded() -> None:
    webhook = run(handler_of("refund_note"), sample("refund.succeeded"))

    assert webhook.url == f"{HUBSPOT}/crm/v3/objects/notes"
    assert webhook.method == "POST"
    assert webhook.payload == {
        "properties": {
            "hs_timestamp": "2026-03-18T11:27:40.335Z",
            "hs_note_body": (
                "Refund of 49.99 USD succeeded. Refund ref_0NAuQQADBx0N1AzXXQQGt for payment "
                f"{PAYMENT_ID}. Reason: Customer requested a refund"
            ),
        },
        "associations": association("jane.doe@example.com", 202),
    }


def test_refund_note_sample_failed_partial() -> None:
    webhook = run(handler_of("refund_note"), sample("refund.failed"))

    assert webhook.payload["properties"] == {
        "hs_timestamp": "2026-03-16T15:02:09.118Z",
        "hs_note_body": (
            "Partial refund of 20.00 USD failed. Refund ref_0NsDEUuuEg9PkBxqVwcaJ for payment "
            f"{PAYMENT_ID}. Reason: Partial refund for unused seats"
        ),
    }


def test_refund_note_cli_mock_without_brand_or_metadata() -> None:
    event = real_samples()["refund.succeeded__dodopayments-cli-mock"]

    webhook = run(handler_of("refund_note"), event)

    assert webhook.payload == {
        "properties": {
            "hs_timestamp": "2025-08-04T06:10:00.000Z",
            "hs_note_body": (
                "Refund of 4.00 USD succeeded. Refund ref_test for payment pay_test. "
                "Reason: Testing success refund"
            ),
        },
        "associations": association("test@acme.com", 202),
    }


def test_refund_note_without_amount() -> None:
    event = sample("refund.succeeded")
    del event["data"]["amount"]
    del event["data"]["reason"]

    body = run(handler_of("refund_note"), event).payload["properties"]["hs_note_body"]

    assert body.startswith("Refund of an unknown amount succeeded.")
    assert "Reason" not in body


# dispute_task ---------------------------------------------------------------------------------


def test_dispute_task_sample() -> None:
    webhook = run(handler_of("dispute_task"), sample("dispute.opened"))

    assert webhook.url == f"{HUBSPOT}/crm/v3/objects/tasks"
    assert webhook.method == "POST"
    assert webhook.payload == {
        "properties": {
            "hs_timestamp": "2026-03-20T07:55:12.448Z",
            "hs_task_subject": f"Respond to dispute on payment {PAYMENT_ID}",
            "hs_task_body": (
                "Dispute dp_0NpgUfuLsD8sOankBRYJv for 49.99 USD (stage: dispute). "
                "Customer: jane.doe@example.com."
            ),
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
        },
        "associations": association("jane.doe@example.com", 204),
    }


def test_dispute_task_without_customer_is_still_created_unlinked() -> None:
    event = sample("dispute.opened")
    del event["data"]["customer"]
    event["data"]["amount"] = "150000"
    event["data"]["currency"] = "JPY"
    event["data"]["remarks"] = "Card reported stolen"

    payload = run(handler_of("dispute_task"), event).payload

    assert "associations" not in payload
    assert payload["properties"]["hs_task_body"] == (
        "Dispute dp_0NpgUfuLsD8sOankBRYJv for 150000 JPY (stage: dispute). "
        "Remarks: Card reported stolen"
    )


# The stand-in policy really restricts ---------------------------------------------------------


def test_stand_in_policy_rejects_augmented_assignment_to_a_subscript() -> None:
    code = 'def handler(webhook):\n    d = {"x": 1}\n    d["x"] += 1\n    return webhook\n'

    with pytest.raises(SyntaxError, match="Augmented assignment"):
        restricted_handler(code)


def test_stand_in_policy_has_no_import() -> None:
    code = "import os\n\ndef handler(webhook):\n    return webhook\n"

    with pytest.raises(ImportError):
        restricted_handler(code)


def test_stand_in_policy_has_no_getattr() -> None:
    code = (
        "def handler(webhook):\n"
        '    webhook.url = getattr(webhook, "__class__")\n'
        "    return webhook\n"
    )

    with pytest.raises(NameError, match="getattr"):
        run(restricted_handler(code), sample("payment.succeeded"))
