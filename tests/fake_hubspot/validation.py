"""Property values checked against their definitions, the way HubSpot's object write does.

Every bad property of a request is reported in one 400 whose `message` embeds the details as JSON
(/work/shared/reference/hubspot-api.md, section 2.2). Values may arrive as strings, numbers or
booleans; they are stored as strings.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from publicsuffixlist import PublicSuffixList

from .errors import compact_json, invalid_property_values, validation_error
from .schema import ObjectType, PropertyDefinition
from .state import FakeState, format_instant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_EPOCH_MS = re.compile(r"^-?\d+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
# HubSpot's captured INVALID_EMAIL is for `…@wales.nhs.ik`: a well-formed address under a top-level
# domain that does not exist (reference 2.2). Known TLDs come from the Public Suffix List.
_SUFFIXES = PublicSuffixList(accept_unknown=False)


def validate_properties(
    state: FakeState, object_type: ObjectType, values, current: dict[str, str] | None = None
) -> dict[str, str]:
    """Normalised values to store, or HubSpotError 400 listing every invalid property.

    `current` holds the record's stored values on update, for multi-checkbox appends (`;A;B`).
    """
    if not isinstance(values, dict):
        raise validation_error("Invalid input JSON: `properties` must be an object")

    normalized: dict[str, str] = {}
    problems: list[dict] = []
    for name, raw in values.items():
        definition = state.property(object_type, name)
        if definition is None:
            problems.append(
                _problem(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST")
            )
            continue
        if definition.read_only_value:
            message = f"{name} is a read only property; its value cannot be set."
            problems.append(_problem(name, message, "READ_ONLY_VALUE"))
            continue

        text = as_text(name, raw)
        if text == "":
            normalized[name] = ""
            continue
        value, problem = _check_value(state, object_type, definition, text)
        if problem is not None:
            problems.append(problem)
        elif definition.field_type == "checkbox" and text.startswith(";") and current:
            normalized[name] = _append_choices(current.get(name, ""), value)
        else:
            normalized[name] = value

    if problems:
        raise invalid_property_values(problems)
    return normalized


def as_text(name: str, raw) -> str:
    """A JSON property value as the string HubSpot stores."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, str):
        return raw
    raise validation_error(
        f"Invalid input JSON: the value of property {name} must be a string, number or boolean, "
        f"not {compact_json(raw)}"
    )


def parse_moment(text: str) -> datetime | None:
    """Epoch milliseconds, `YYYY-MM-DD` or ISO 8601 as an aware UTC datetime."""
    text = text.strip()
    if _EPOCH_MS.match(text):
        try:
            return EPOCH + timedelta(milliseconds=int(text))
        except OverflowError:
            return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_value(
    state: FakeState, object_type: ObjectType, definition: PropertyDefinition, text: str
) -> tuple[str, dict | None]:
    name = definition.name
    if definition.type == "number":
        if _NUMBER.match(text.strip()) and math.isfinite(float(text)):
            return text.strip(), None
        return text, _problem(name, f"{text} was not a valid number.", "INVALID_INTEGER")

    if definition.type == "bool":
        if text.lower() in ("true", "false"):
            return text.lower(), None
        return text, _problem(name, f"{text} was not a valid boolean", "INVALID_BOOLEAN")

    if definition.type == "date":
        return _check_date(name, text)

    if definition.type == "datetime":
        moment = parse_moment(text)
        if moment is None:
            return text, _problem(name, f"{text} was not a valid datetime", "INVALID_DATE")
        return format_instant(moment), None

    if definition.type == "enumeration":
        return _check_options(state, definition, text)

    if object_type.name == "contacts" and name == "email":
        email = text.strip()
        if (
            not _EMAIL.match(email)
            or _SUFFIXES.publicsuffix(email.rpartition("@")[2].lower()) is None
        ):
            return text, _problem(name, f"Email address {text} is invalid", "INVALID_EMAIL")
        return email.lower(), None

    return text, None


def _check_date(name: str, text: str) -> tuple[str, dict | None]:
    """`date` properties hold a day: midnight UTC, as `YYYY-MM-DD` or epoch milliseconds."""
    moment = parse_moment(text)
    if moment is None:
        return text, _problem(name, f"{text} was not a valid date", "INVALID_DATE")

    time_of_day = moment - moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if time_of_day:
        clock = f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
        return text, _problem(name, f"{text} is at {clock} UTC, not midnight!", "INVALID_DATE")
    return moment.strftime("%Y-%m-%d"), None


def _check_options(
    state: FakeState, definition: PropertyDefinition, text: str
) -> tuple[str, dict | None]:
    allowed = definition.option_values()
    if definition.field_type == "checkbox":
        chosen = [part for part in text.split(";") if part]
    else:
        chosen = [text]

    for value in chosen:
        if value in allowed:
            continue
        if definition.name == "deal_currency_code":
            message = (
                f'"{value}" is not a part of the current effective currency codes for portal '
                f"{state.portal_id}"
            )
        else:
            message = f"{value} was not one of the allowed options: [{_render_options(definition)}]"
        return text, _problem(definition.name, message, "INVALID_OPTION")
    return ";".join(chosen), None


def _append_choices(stored: str, added: str) -> str:
    """A leading `;` adds choices to a multi-checkbox instead of replacing them."""
    choices = [part for part in stored.split(";") if part]
    choices += [part for part in added.split(";") if part and part not in choices]
    return ";".join(choices)


def _render_options(definition: PropertyDefinition) -> str:
    """The option labels, as a captured HubSpot message lists them: `[Lead, Customer]`."""
    return ", ".join(option.label for option in definition.options)


def _problem(name: str, message: str, error: str) -> dict:
    return {"isValid": False, "message": message, "error": error, "name": name}
