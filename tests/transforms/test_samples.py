import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from transforms import EVENT_TYPES, real_samples, sample, samples
from transforms.catalogue import SAMPLES_DIR

# The payload type Dodo sends in `data.payload_type` for each event group
# (/work/shared/reference/dodo-webhooks.md §2.1).
PAYLOAD_TYPE_BY_GROUP = {
    "payment": "Payment",
    "refund": "Refund",
    "dispute": "Dispute",
    "subscription": "Subscription",
    "license_key": "LicenseKey",
    "payout": "Payout",
    "credit": "CreditLedgerEntry",
    "abandoned_checkout": "AbandonedCheckout",
    "dunning": "DunningAttempt",
    "entitlement_grant": "EntitlementGrant",
}

# Required fields per payload type, from Dodo's Python SDK types (reference notes §2.3-2.8).
REQUIRED_FIELDS = {
    "Payment": {
        "billing", "brand_id", "business_id", "created_at", "currency", "customer",
        "digital_products_delivered", "disputes", "is_update_payment_method", "metadata",
        "payment_id", "payment_provider", "refunds", "retry_attempt", "settlement_amount",
        "settlement_currency", "total_amount", "status",
    },
    "Subscription": {
        "addons", "billing", "brand_id", "cancel_at_next_billing_date", "created_at",
        "credit_entitlement_cart", "currency", "customer", "metadata",
        "meter_credit_entitlement_cart", "meters", "next_billing_date", "on_demand",
        "payment_frequency_count", "payment_frequency_interval", "previous_billing_date",
        "product_id", "quantity", "recurring_pre_tax_amount", "status", "subscription_id",
        "subscription_period_count", "subscription_period_interval", "tax_inclusive",
        "trial_period_days",
    },
    "Refund": {
        "brand_id", "business_id", "created_at", "customer", "is_partial", "metadata",
        "payment_id", "refund_id", "status", "amount", "currency",
    },
    "Dispute": {
        "amount", "business_id", "created_at", "currency", "dispute_id", "dispute_stage",
        "dispute_status", "payment_id",
    },
    "LicenseKey": {
        "id", "brand_id", "business_id", "created_at", "customer_id", "instances_count", "key",
        "product_id", "source", "status",
    },
    "CreditLedgerEntry": {
        "id", "amount", "balance_after", "balance_before", "brand_id", "business_id",
        "created_at", "credit_entitlement_id", "customer_id", "is_credit", "overage_after",
        "overage_before", "transaction_type",
    },
    "CreditBalanceLow": {
        "available_balance", "brand_id", "credit_entitlement_id", "credit_entitlement_name",
        "customer_id", "subscription_credits_amount", "subscription_id", "threshold_amount",
        "threshold_percent",
    },
    "AbandonedCheckout": {
        "abandoned_at", "abandonment_reason", "brand_id", "customer_id", "payment_id", "status",
    },
    "DunningAttempt": {
        "brand_id", "created_at", "customer_id", "status", "subscription_id", "trigger_state",
    },
    "EntitlementGrant": {
        "id", "brand_id", "business_id", "created_at", "customer_id", "entitlement_id",
        "integration_type", "metadata", "status", "updated_at",
    },
    "Payout": {
        "amount", "business_id", "chargebacks", "created_at", "currency", "fee",
        "payment_method", "payout_id", "refunds", "status", "tax", "updated_at",
    },
}  # fmt: skip

# The state each event reports in its payload.
EXPECTED_STATE = {
    "payment.succeeded": ("status", "succeeded"),
    "payment.failed": ("status", "failed"),
    "payment.processing": ("status", "processing"),
    "payment.cancelled": ("status", "cancelled"),
    "refund.succeeded": ("status", "succeeded"),
    "refund.failed": ("status", "failed"),
    "dispute.opened": ("dispute_status", "dispute_opened"),
    "dispute.expired": ("dispute_status", "dispute_expired"),
    "dispute.accepted": ("dispute_status", "dispute_accepted"),
    "dispute.cancelled": ("dispute_status", "dispute_cancelled"),
    "dispute.challenged": ("dispute_status", "dispute_challenged"),
    "dispute.won": ("dispute_status", "dispute_won"),
    "dispute.lost": ("dispute_status", "dispute_lost"),
    "subscription.active": ("status", "active"),
    "subscription.renewed": ("status", "active"),
    "subscription.on_hold": ("status", "on_hold"),
    "subscription.paused": ("status", "paused"),
    "subscription.cancelled": ("status", "cancelled"),
    "subscription.failed": ("status", "failed"),
    "subscription.expired": ("status", "expired"),
    "subscription.plan_changed": ("status", "active"),
    "subscription.updated": ("status", "active"),
    "subscription.update_payment_method": ("status", "on_hold"),
    "license_key.created": ("status", "active"),
    "payout.created": ("status", "not_initiated"),
    "payout.on_hold": ("status", "on_hold"),
    "payout.in_progress": ("status", "in_progress"),
    "payout.failed": ("status", "failed"),
    "payout.success": ("status", "success"),
    "credit.added": ("transaction_type", "credit_added"),
    "credit.deducted": ("transaction_type", "credit_deducted"),
    "credit.expired": ("transaction_type", "credit_expired"),
    "credit.rolled_over": ("transaction_type", "credit_rolled_over"),
    "credit.rollover_forfeited": ("transaction_type", "rollover_forfeited"),
    "credit.overage_charged": ("transaction_type", "overage_charged"),
    "credit.overage_reset": ("transaction_type", "overage_reset"),
    "credit.manual_adjustment": ("transaction_type", "manual_adjustment"),
    "credit.balance_low": ("threshold_percent", 20),
    "abandoned_checkout.detected": ("status", "abandoned"),
    "abandoned_checkout.recovered": ("status", "recovered"),
    "dunning.started": ("status", "recovering"),
    "dunning.recovered": ("status", "recovered"),
    "entitlement_grant.created": ("status", "Pending"),
    "entitlement_grant.delivered": ("status", "Delivered"),
    "entitlement_grant.failed": ("status", "Failed"),
    "entitlement_grant.revoked": ("status", "Revoked"),
}

INT_AMOUNTS = {
    "Payment": ("total_amount", "settlement_amount", "tax", "settlement_tax"),
    "Subscription": ("recurring_pre_tax_amount",),
    "Refund": ("amount",),
    "Payout": ("amount", "fee", "tax", "refunds", "chargebacks"),
}
DECIMAL_STRING_AMOUNTS = {
    "Dispute": ("amount",),
    "CreditLedgerEntry": (
        "amount", "balance_after", "balance_before", "overage_after", "overage_before",
    ),
    "CreditBalanceLow": ("available_balance", "threshold_amount", "subscription_credits_amount"),
}  # fmt: skip

DECIMAL_STRING = re.compile(r"-?[0-9]+(\.[0-9]+)?")
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")

# The files shared by the research, copied unchanged into samples/real/.
SHARED_SAMPLES_DIR = Path("/work/shared/reference/dodo-samples")


def payload_type_of(event_type: str) -> str:
    if event_type == "credit.balance_low":
        return "CreditBalanceLow"
    return PAYLOAD_TYPE_BY_GROUP[event_type.split(".")[0]]


def test_there_are_46_distinct_event_types() -> None:
    assert len(EVENT_TYPES) == 46
    assert len(set(EVENT_TYPES)) == 46
    assert set(EXPECTED_STATE) == set(EVENT_TYPES)


def test_every_event_type_has_exactly_one_sample_file() -> None:
    names = {path.stem for path in SAMPLES_DIR.glob("*.json")}

    assert names == set(EVENT_TYPES)


def test_samples_are_keyed_in_event_type_order() -> None:
    assert list(samples()) == list(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_is_a_full_envelope(event_type: str) -> None:
    event = sample(event_type)

    assert list(event) == ["business_id", "type", "timestamp", "data"]
    assert event["type"] == event_type
    assert event["business_id"].startswith("bus_")
    assert ISO_UTC.fullmatch(event["timestamp"])
    datetime.fromisoformat(event["timestamp"])
    assert event["data"]["payload_type"] == payload_type_of(event_type)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_has_the_required_fields_of_its_payload_type(event_type: str) -> None:
    data = sample(event_type)["data"]

    missing = REQUIRED_FIELDS[data["payload_type"]] - set(data)

    assert not missing


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_reports_the_state_of_its_event(event_type: str) -> None:
    field, value = EXPECTED_STATE[event_type]

    assert sample(event_type)["data"][field] == value


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_amounts_have_dodo_types(event_type: str) -> None:
    data = sample(event_type)["data"]
    payload_type = data["payload_type"]

    for field in INT_AMOUNTS.get(payload_type, ()):
        assert type(data[field]) is int, field
    for field in DECIMAL_STRING_AMOUNTS.get(payload_type, ()):
        assert isinstance(data[field], str) and DECIMAL_STRING.fullmatch(data[field]), field


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_timestamps_are_iso_utc(event_type: str) -> None:
    data = sample(event_type)["data"]

    for field, value in data.items():
        if field.endswith("_at") or field in ("next_billing_date", "previous_billing_date"):
            assert value is None or ISO_UTC.fullmatch(value), field


def test_customers_have_dodo_fields_only() -> None:
    customers = [e["data"]["customer"] for e in samples().values() if "customer" in e["data"]]

    assert len(customers) == 23  # payments, refunds, disputes and subscriptions
    for customer in customers:
        assert {"customer_id", "email", "name", "phone_number"} <= set(customer)
        assert "phone" not in customer
        assert "company" not in customer


def test_failed_payment_explains_the_failure() -> None:
    data = sample("payment.failed")["data"]

    assert data["error_code"] == "INSUFFICIENT_FUNDS"
    assert data["error_message"]


def test_succeeded_payment_has_no_error() -> None:
    data = sample("payment.succeeded")["data"]

    assert data["error_code"] is None
    assert data["error_message"] is None


def test_cancelled_subscription_says_when() -> None:
    data = sample("subscription.cancelled")["data"]

    assert data["cancelled_at"]
    assert data["cancellation_feedback"] == "too_expensive"


def test_expired_subscription_says_when() -> None:
    assert sample("subscription.expired")["data"]["expires_at"]


def test_samples_share_one_customer() -> None:
    customer_ids = set()
    for event in samples().values():
        data = event["data"]
        customer_ids.add(data.get("customer_id") or data.get("customer", {}).get("customer_id"))
    customer_ids.discard(None)

    assert customer_ids == {sample("payment.succeeded")["data"]["customer"]["customer_id"]}


def test_samples_share_payment_and_subscription_ids() -> None:
    payment = sample("payment.succeeded")["data"]
    payment_id = payment["payment_id"]
    subscription_id = payment["subscription_id"]

    for event_type in ("refund.succeeded", "dispute.opened", "license_key.created"):
        assert sample(event_type)["data"]["payment_id"] == payment_id, event_type
    assert sample("abandoned_checkout.recovered")["data"]["recovered_payment_id"] == payment_id
    for event_type in EVENT_TYPES:
        if event_type.startswith("subscription.") and event_type != "subscription.failed":
            assert sample(event_type)["data"]["subscription_id"] == subscription_id, event_type
    assert (
        sample("dunning.started")["data"]["payment_id"]
        == (sample("payment.failed")["data"]["payment_id"])
    )


def test_subscription_payment_amount_is_pre_tax_amount_plus_tax() -> None:
    payment = sample("payment.succeeded")["data"]
    subscription = sample("subscription.active")["data"]

    assert payment["total_amount"] == subscription["recurring_pre_tax_amount"] + payment["tax"]


def test_sample_returns_a_fresh_copy_each_call() -> None:
    first = sample("payment.succeeded")
    first["data"]["customer"]["email"] = "changed@example.com"
    first["data"]["billing"].clear()

    second = sample("payment.succeeded")

    assert second["data"]["customer"]["email"] == "jane.doe@example.com"
    assert second["data"]["billing"]["city"] == "San Francisco"
    assert samples()["payment.succeeded"] == second


def test_sample_of_an_unknown_event_type_names_it() -> None:
    with pytest.raises(KeyError, match="payment.success"):
        sample("payment.success")


def test_sample_files_are_readable_json() -> None:
    for path in SAMPLES_DIR.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_real_samples_are_keyed_by_file_name() -> None:
    real = real_samples()

    assert set(real) == {
        "payment.failed__dodo-docs-handle-payment-failures",
        "payment.succeeded__dodopayments-cli-mock",
        "payment.succeeded__real-Bounce-anonymized",
        "payment.succeeded__real-kaamsync-testmode-upi",
        "refund.succeeded__dodopayments-cli-mock",
        "subscription.active__real-kaamsync-testmode",
        "subscription.renewed__real-kaamsync-testmode",
    }
    for name, event in real.items():
        assert event["type"] == name.split("__")[0]
        assert event["type"] in EVENT_TYPES
        assert event["data"]["payload_type"] == payload_type_of(event["type"])


def test_real_samples_return_fresh_copies() -> None:
    name = "payment.succeeded__real-Bounce-anonymized"
    real_samples()[name]["data"]["currency"] = "EUR"

    assert real_samples()[name]["data"]["currency"] == "INR"


@pytest.mark.skipif(not SHARED_SAMPLES_DIR.is_dir(), reason="shared research samples not here")
def test_real_samples_are_unchanged_copies_of_the_shared_ones() -> None:
    for shared in SHARED_SAMPLES_DIR.glob("*.json"):
        copied = SAMPLES_DIR / "real" / shared.name
        assert copied.read_bytes() == shared.read_bytes(), shared.name
