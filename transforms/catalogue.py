"""The catalogue users start from: template handlers and a sample event for every Dodo type.

Templates live as plain ``.py`` files in ``templates/`` and samples as JSON in ``samples/``,
so a person can read, diff and copy them without going through Python.
"""

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "TEMPLATES",
    "real_samples",
    "sample",
    "samples",
    "template",
    "templates",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
SAMPLES_DIR = Path(__file__).parent / "samples"
REAL_SAMPLES_DIR = SAMPLES_DIR / "real"

# Every Dodo webhook `type`, in the order of the `WebhookEventType` literal of Dodo's Python SDK
# (src/dodopayments/types/webhook_event_type.py). Dispatch on these, never on `payload_type`.
EVENT_TYPES: tuple[str, ...] = (
    "payment.succeeded",
    "payment.failed",
    "payment.processing",
    "payment.cancelled",
    "refund.succeeded",
    "refund.failed",
    "dispute.opened",
    "dispute.expired",
    "dispute.accepted",
    "dispute.cancelled",
    "dispute.challenged",
    "dispute.won",
    "dispute.lost",
    "subscription.active",
    "subscription.renewed",
    "subscription.on_hold",
    "subscription.paused",
    "subscription.cancelled",
    "subscription.failed",
    "subscription.expired",
    "subscription.plan_changed",
    "subscription.updated",
    "subscription.update_payment_method",
    "license_key.created",
    "payout.created",
    "payout.on_hold",
    "payout.in_progress",
    "payout.failed",
    "payout.success",
    "credit.added",
    "credit.deducted",
    "credit.expired",
    "credit.rolled_over",
    "credit.rollover_forfeited",
    "credit.overage_charged",
    "credit.overage_reset",
    "credit.manual_adjustment",
    "credit.balance_low",
    "abandoned_checkout.detected",
    "abandoned_checkout.recovered",
    "dunning.started",
    "dunning.recovered",
    "entitlement_grant.created",
    "entitlement_grant.delivered",
    "entitlement_grant.failed",
    "entitlement_grant.revoked",
)

_SUBSCRIPTION_EVENT_TYPES = tuple(t for t in EVENT_TYPES if t.startswith("subscription."))

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "id": "contact_from_payment",
        "name": "Contact from payment",
        "description": (
            "Creates a HubSpot contact for each successful payment: email, first and last "
            "name, phone, and the billing address. Uses only HubSpot's default contact "
            "properties."
        ),
        "event_types": ("payment.succeeded",),
    },
    {
        "id": "contact_update_on_subscription",
        "name": "Subscription details on the contact",
        "description": (
            "When a subscription becomes active, updates the customer's contact (found by "
            "email) with subscription_status, subscription_id, subscription_product_id, "
            "next_billing_date, subscription_amount and subscription_currency. These are "
            "custom contact properties: create them in HubSpot first, or HubSpot rejects "
            "the update. The contact must already exist, e.g. from Contact from payment."
        ),
        "event_types": ("subscription.active",),
    },
    {
        "id": "deal_from_payment",
        "name": "Won deal from payment",
        "description": (
            "Creates a closed-won deal in the default pipeline for each successful payment, "
            "with the amount in the payment's currency, the payment time as close date, and "
            "the customer's contact associated by email. The currency must be enabled in "
            "your HubSpot portal."
        ),
        "event_types": ("payment.succeeded",),
    },
    {
        "id": "subscription_status_sync",
        "name": "Subscription status on the contact",
        "description": (
            "Keeps the customer's contact in step with every subscription change (active, "
            "renewed, on hold, paused, cancelled, failed, expired, plan changed, updated). "
            "Writes the same custom contact properties as Subscription details on the "
            "contact, which must be created in HubSpot first."
        ),
        "event_types": _SUBSCRIPTION_EVENT_TYPES,
    },
    {
        "id": "refund_note",
        "name": "Refund note on the contact",
        "description": (
            "Adds a note to the customer's contact when a refund succeeds or fails, with the "
            "amount, the refund and payment ids, and the reason."
        ),
        "event_types": ("refund.succeeded", "refund.failed"),
    },
    {
        "id": "dispute_task",
        "name": "Task for a new dispute",
        "description": (
            "Creates a high-priority task when a customer disputes a payment, linked to the "
            "customer's contact when the event carries the customer's email."
        ),
        "event_types": ("dispute.opened",),
    },
)

_TEMPLATES_BY_ID = {meta["id"]: meta for meta in TEMPLATES}


def templates() -> list[dict[str, Any]]:
    """Every template as ``{id, name, description, event_types, code}``, in catalogue order."""
    return [template(meta["id"]) for meta in TEMPLATES]


def template(template_id: str) -> dict[str, Any]:
    """One template as ``{id, name, description, event_types, code}``."""
    meta = _TEMPLATES_BY_ID.get(template_id)
    if meta is None:
        known = ", ".join(_TEMPLATES_BY_ID)
        raise KeyError(f"unknown template {template_id!r}; the templates are: {known}")

    return {
        "id": meta["id"],
        "name": meta["name"],
        "description": meta["description"],
        "event_types": list(meta["event_types"]),
        "code": _template_code(template_id),
    }


def samples() -> dict[str, dict[str, Any]]:
    """A sample event for every Dodo event type, keyed by type, in ``EVENT_TYPES`` order."""
    return {event_type: sample(event_type) for event_type in EVENT_TYPES}


def sample(event_type: str) -> dict[str, Any]:
    """The sample event of one Dodo event type, a fresh copy the caller may change."""
    if event_type not in EVENT_TYPES:
        raise KeyError(
            f"unknown Dodo event type {event_type!r}; expected one of EVENT_TYPES, "
            "e.g. 'payment.succeeded'"
        )
    return copy.deepcopy(_load_event(SAMPLES_DIR / f"{event_type}.json"))


def real_samples() -> dict[str, dict[str, Any]]:
    """Events captured from real deliveries and Dodo's own tools, keyed by file name.

    A name reads ``<type>__<source>``, e.g. ``payment.succeeded__real-Bounce-anonymized``;
    ``samples/real/SOURCES.md`` says where each came from.
    """
    paths = sorted(REAL_SAMPLES_DIR.glob("*.json"))
    return {path.stem: copy.deepcopy(_load_event(path)) for path in paths}


@cache
def _template_code(template_id: str) -> str:
    return (TEMPLATES_DIR / f"{template_id}.py").read_text(encoding="utf-8")


@cache
def _load_event(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event
