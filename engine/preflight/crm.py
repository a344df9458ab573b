"""What preflight knows about HubSpot's CRM: object types, their scopes, association type ids.

Facts from /work/shared/reference/hubspot-api.md, sections 3.1 to 3.5 and 4.
"""

from __future__ import annotations

HUBSPOT_API_HOST = "api.hubapi.com"

# object → (type id, singular, the object whose scopes guard it). Engagements (notes, tasks,
# calls, emails, meetings) are guarded by the contacts scopes.
OBJECTS: dict[str, tuple[str, str, str]] = {
    "contacts": ("0-1", "contact", "contacts"),
    "companies": ("0-2", "company", "companies"),
    "deals": ("0-3", "deal", "deals"),
    "tickets": ("0-5", "ticket", "tickets"),
    "line_items": ("0-8", "line item", "line_items"),
    "tasks": ("0-27", "task", "contacts"),
    "notes": ("0-46", "note", "contacts"),
    "meetings": ("0-47", "meeting", "contacts"),
    "calls": ("0-48", "call", "contacts"),
    "emails": ("0-49", "email", "contacts"),
}
_ALIASES = {
    alias: name
    for name, (type_id, singular, _) in OBJECTS.items()
    for alias in (name, singular.replace(" ", "_"), type_id)
}

# The group a new custom property goes into (reference 3.5: "Deals use group dealinformation").
PROPERTY_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "tickets": "ticketinformation",
}
# Property type → the field type a new property of that type gets (reference 3.5, valid pairs).
FIELD_TYPE_FOR = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "bool": "booleancheckbox",
    "enumeration": "select",
    "phone_number": "phonenumber",
}

# HUBSPOT_DEFINED association type ids, as (id, from, to, inverse id). Direction matters
# (reference 3.4; hubspot-api-nodejs#646).
_ASSOCIATION_PAIRS = [
    (1, "contacts", "companies", 2),
    (3, "deals", "contacts", 4),
    (5, "deals", "companies", 6),
    (15, "contacts", "tickets", 16),
    (19, "deals", "line_items", 20),
    (189, "companies", "notes", 190),
    (191, "companies", "tasks", 192),
    (201, "contacts", "notes", 202),
    (203, "contacts", "tasks", 204),
    (213, "deals", "notes", 214),
    (215, "deals", "tasks", 216),
    (279, "contacts", "companies", 280),
    (341, "deals", "companies", 342),
]
ASSOCIATION_TYPES: dict[int, tuple[str, str]] = {}
for _id, _from, _to, _inverse in _ASSOCIATION_PAIRS:
    ASSOCIATION_TYPES[_id] = (_from, _to)
    ASSOCIATION_TYPES[_inverse] = (_to, _from)


def resolve_object(alias: str) -> str | None:
    """`contacts`, `contact` or `0-1` (any case) → `contacts`; None for other objects."""
    return _ALIASES.get(alias.lower())


def singular(name: str) -> str:
    return OBJECTS[name][1] if name in OBJECTS else "record"


def scope(name: str, access: str) -> str:
    """The scope that reads or writes an object, e.g. `crm.objects.deals.write`."""
    guard = OBJECTS[name][2] if name in OBJECTS else name
    return f"crm.objects.{guard}.{access}"


def schema_write_scope(name: str) -> str:
    guard = OBJECTS[name][2] if name in OBJECTS else name
    return f"crm.schemas.{guard}.write"
