"""Values as HubSpot reads them: emails, dates, numbers, options; and what a finding is."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from publicsuffixlist import PublicSuffixList

from .crm import FIELD_TYPE_FOR, PROPERTY_GROUPS

MAX_LISTED_OPTIONS = 12
# A numeric date below this many milliseconds (about 1970-04-26) is almost surely in seconds.
SECONDS_NOT_MS_BELOW = 10_000_000_000
DECIMAL = re.compile(r"^-?\d+\.\d+$")
INTEGER = re.compile(r"^-?\d+$")
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_EMAIL_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_AMOUNT_WORDS = ("amount", "price", "total", "tax", "fee", "revenue", "quantity", "count", "mrr")
_DATE_WORDS = ("date", "time", "_at", "timestamp")
_SUFFIXES = PublicSuffixList(accept_unknown=False)


@dataclasses.dataclass
class Finding:
    field: str
    problem: str
    fix: str
    action: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"field": self.field, "problem": self.problem, "fix": self.fix}
        if self.action is not None:
            body["action"] = self.action
        return body


def email_problem(email: str) -> str | None:
    """Why HubSpot would reject `email` (INVALID_EMAIL), or None.

    HubSpot checks more than the shape: its captured rejection is of `…@wales.nhs.ik`, a domain
    under no real top-level domain (reference 2.2), so the domain is checked against the Public
    Suffix List.
    """
    text = email.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return "is not an email address (it needs a name, @ and a domain)"
    if any(character.isspace() for character in text) or "@" in local:
        return "has spaces or more than one @"
    if ".." in local or local.startswith(".") or local.endswith("."):
        return "has a misplaced dot before the @"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_EMAIL_DOMAIN_LABEL.match(label) for label in labels):
        return f"has an invalid domain {domain!r}"
    if _SUFFIXES.publicsuffix(domain.lower()) is None:
        return f"ends in '.{labels[-1]}', which is not a real top-level domain"
    return None


def guess_property(object_name: str, name: str, value: Any) -> dict[str, Any]:
    """The property a value asks for: number for amounts, date or datetime for dates, string
    otherwise. Enumerations are never guessed: their options are the owner's to choose."""
    type_ = _guess_type(name, value)
    body = {
        "object_type": object_name,
        "name": name,
        "label": name.replace("_", " ").strip().capitalize() or name,
        "type": type_,
        "field_type": FIELD_TYPE_FOR[type_],
    }
    if object_name in PROPERTY_GROUPS:
        body["group_name"] = PROPERTY_GROUPS[object_name]
    return body


def options_fix(value: str, options: list[Any], name: str) -> str:
    """Name the right internal value when `value` is a label, else list the options."""
    for option_value, label in options:
        if value.strip().lower() in (str(label).lower(), str(option_value).lower()):
            return f"Use the internal value {option_value!r} (HubSpot shows it as {label!r})."
    listed = ", ".join(f"{v!r} ({label})" for v, label in options[:MAX_LISTED_OPTIONS])
    more = (
        f" and {len(options) - MAX_LISTED_OPTIONS} more"
        if len(options) > MAX_LISTED_OPTIONS
        else ""
    )
    if not options:
        return (
            f"{name} has no options yet: add {value!r} to it in HubSpot, then refresh the schema."
        )
    return f"Use one of {listed}{more}; or add {value!r} as an option of {name} in HubSpot."


def dodo_hint(value: str) -> str:
    prefixes = {"cus_": "customer", "pay_": "payment", "sub_": "subscription", "pdt_": "product"}
    for prefix, noun in prefixes.items():
        if value.startswith(prefix):
            return f" (it is Dodo's {noun} id)"
    return ""


def _guess_type(name: str, value: Any) -> str:
    lowered = name.lower()
    text = as_text(value).strip()
    if isinstance(value, bool):
        return "string"
    if DAY.match(text):
        return "date"
    if INSTANT.match(text):
        return "datetime"
    if INTEGER.match(text) and any(word in lowered for word in _DATE_WORDS):
        return "datetime"
    if isinstance(value, int | float) or DECIMAL.match(text):
        return "number"
    if INTEGER.match(text) and not text.lstrip("-").startswith("0"):
        if any(word in lowered for word in _AMOUNT_WORDS):
            return "number"
    return "string"


def parse_moment(text: str) -> tuple[datetime | None, bool]:
    """(the instant, looks like seconds) for epoch ms, `YYYY-MM-DD` or ISO 8601 text."""
    text = text.strip()
    if INTEGER.match(text):
        number = int(text)
        if 0 < abs(number) < SECONDS_NOT_MS_BELOW and len(text.lstrip("-")) >= 9:
            return None, True
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=number), False
        except OverflowError:
            return None, False
    if DAY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None, False
        return datetime(day.year, day.month, day.day, tzinfo=UTC), False
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, False
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware, False


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
