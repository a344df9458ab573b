"""Preflight: check a handler's request against the HubSpot account it will go to, before it goes.

Each check mirrors a way HubSpot refuses a write (/work/shared/reference/hubspot-api.md):
properties that do not exist (`PROPERTY_DOESNT_EXIST`) or are read-only, values outside an
enumeration's options (`INVALID_OPTION`; deal stages and pipelines come from
`/crm/v3/pipelines/deals`), emails HubSpot rejects (`INVALID_EMAIL`), `date` values that are not
midnight UTC and timestamps in seconds (`INVALID_DATE`), association targets that are not
HubSpot record ids or point the wrong way ("One or more associations are invalid"), and scopes
the connection lacks (`MISSING_SCOPES`). A finding is `{field, problem, fix}`; a property that
is missing also carries `action`, the paybridge API call that creates it.

The account's schema (property definitions per object, deal pipelines) is read from HubSpot with
the integration's token and cached in Redis for `SCHEMA_CACHE_S`; `refresh` reads it again.
Only reads reach HubSpot from here (DESIGN.md, "Parts"), and one write on the owner's explicit
request: `create_property`.

| module | holds |
| --- | --- |
| `checks` | `check_request`: the walk over a request and every check |
| `schema` | `AccountSchema` (reads and the Redis cache), `create_property` |
| `values` | emails, dates, numbers and options as HubSpot reads them; `Finding` |
| `crm` | object types, their scopes, association type ids |
"""

from .checks import check_request
from .crm import PROPERTY_GROUPS
from .schema import (
    READ_TIMEOUT_S,
    SCHEMA_CACHE_S,
    AccountSchema,
    PropertyRefused,
    PropertyRequestInvalid,
    SchemaReadFailed,
    create_property,
)
from .values import Finding, email_problem, guess_property

__all__ = [
    "PROPERTY_GROUPS",
    "READ_TIMEOUT_S",
    "SCHEMA_CACHE_S",
    "AccountSchema",
    "Finding",
    "PropertyRefused",
    "PropertyRequestInvalid",
    "SchemaReadFailed",
    "check_request",
    "create_property",
    "email_problem",
    "guess_property",
]
