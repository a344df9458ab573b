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
Only reads reach HubSpot from here (DESIGN.md, "Parts").
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.parse
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from publicsuffixlist import PublicSuffixList

from .storage import Storage

HUBSPOT_API_HOST = "api.hubapi.com"
SCHEMA_CACHE_S = 3600
READ_TIMEOUT_S = 10.0
MAX_LISTED_OPTIONS = 12
# A numeric date below this many milliseconds (about 1970-04-26) is almost surely in seconds.
SECONDS_NOT_MS_BELOW = 10_000_000_000
PROPERTIES_PATH = "/api/integrations/{integration_id}/properties"

# CRM objects a handler may write, and the object whose scopes guard them. Engagements (notes,
# tasks, calls, emails, meetings) are guarded by the contacts scopes.
OBJECT_ALIASES = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "tickets": "tickets",
    "ticket": "tickets",
    "0-5": "tickets",
    "line_items": "line_items",
    "line_item": "line_items",
    "0-8": "line_items",
    "notes": "notes",
    "note": "notes",
    "0-46": "notes",
    "tasks": "tasks",
    "task": "tasks",
    "0-27": "tasks",
    "calls": "calls",
    "0-48": "calls",
    "emails": "emails",
    "0-49": "emails",
    "meetings": "meetings",
    "0-47": "meetings",
}
SCOPE_OBJECT = {
    "contacts": "contacts",
    "companies": "companies",
    "deals": "deals",
    "tickets": "tickets",
    "line_items": "line_items",
    "notes": "contacts",
    "tasks": "contacts",
    "calls": "contacts",
    "emails": "contacts",
    "meetings": "contacts",
}
SINGULAR = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    "line_items": "line item",
    "notes": "note",
    "tasks": "task",
    "calls": "call",
    "emails": "email",
    "meetings": "meeting",
}
# The group a new custom property goes into, per object (reference 3.5: "Deals use group
# dealinformation").
PROPERTY_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "tickets": "ticketinformation",
}
FIELD_TYPE_FOR = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "bool": "booleancheckbox",
    "enumeration": "select",
    "phone_number": "phonenumber",
}
# HUBSPOT_DEFINED association type ids: id → (from object, to object). Direction matters
# (reference 3.4; hubspot-api-nodejs#646).
ASSOCIATION_TYPES: dict[int, tuple[str, str]] = {
    1: ("contacts", "companies"),
    2: ("companies", "contacts"),
    3: ("deals", "contacts"),
    4: ("contacts", "deals"),
    5: ("deals", "companies"),
    6: ("companies", "deals"),
    15: ("contacts", "tickets"),
    16: ("tickets", "contacts"),
    19: ("deals", "line_items"),
    20: ("line_items", "deals"),
    189: ("companies", "notes"),
    190: ("notes", "companies"),
    191: ("companies", "tasks"),
    192: ("tasks", "companies"),
    201: ("contacts", "notes"),
    202: ("notes", "contacts"),
    203: ("contacts", "tasks"),
    204: ("tasks", "contacts"),
    213: ("deals", "notes"),
    214: ("notes", "deals"),
    215: ("deals", "tasks"),
    216: ("tasks", "deals"),
    279: ("contacts", "companies"),
    280: ("companies", "contacts"),
    341: ("deals", "companies"),
    342: ("companies", "deals"),
}
_OBJECT_PATH = re.compile(r"^/crm/(?:v3/objects|objects/\d{4}-\d{2})/([^/]+)(?:/(.*))?$")
_V4_ASSOCIATION_PATH = re.compile(
    r"^/crm/v4/objects/([^/]+)/([^/]+)/associations/(?:default/)?([^/]+)/([^/]+)$"
)
_RECORD_ID = re.compile(r"^\d+$")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
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


class SchemaReadFailed(Exception):  # noqa: N818 - carries the finding that explains it
    """HubSpot would not tell us part of the account's schema; `finding` says why."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding
        super().__init__(finding.problem)


class AccountSchema:
    """The account's property definitions and deal pipelines, read through a Redis cache.

    Cached parts are plain JSON under `pb:schema:{account}:{part}` (see engine/storage.py):
    `properties:{object}` → `{fetched_at, properties: {name: {type, field_type, label, options,
    read_only}}}` and `pipelines:deals` → `{fetched_at, pipelines: [{id, label, stages}]}`.
    """

    def __init__(
        self,
        storage: Storage,
        client: httpx.AsyncClient,
        api_base: str,
        token: str,
        account: str,
        refresh: bool = False,
    ) -> None:
        self.storage = storage
        self.client = client
        self.api_base = api_base.rstrip("/")
        self.token = token
        self.account = account
        self.refresh = refresh
        self._read: dict[str, Any] = {}

    async def properties(self, object_name: str) -> dict[str, dict[str, Any]]:
        part = await self._part(f"properties:{object_name}", self._read_properties, object_name)
        return dict(part["properties"])

    async def pipelines(self) -> list[dict[str, Any]]:
        part = await self._part("pipelines:deals", self._read_pipelines, "deals")
        return list(part["pipelines"])

    async def record_exists(self, object_name: str, record_id: str) -> bool | None:
        """True or False when HubSpot says; None when it could not be asked."""
        try:
            response = await self.get(f"/crm/v3/objects/{object_name}/{record_id}")
        except httpx.HTTPError:
            return None
        if response.status_code == 404:
            return False
        return True if response.status_code == 200 else None

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(
            self.api_base + path, headers={"Authorization": f"Bearer {self.token}"}
        )

    async def _part(self, part: str, read: Any, object_name: str) -> dict[str, Any]:
        if part in self._read:
            return dict(self._read[part])
        cached = None if self.refresh else self.storage.get_schema(self.account, part)
        if cached is None:
            cached = {"fetched_at": time.time(), **await read(object_name)}
            self.storage.save_schema(self.account, part, cached, SCHEMA_CACHE_S)
        self._read[part] = cached
        return dict(cached)

    async def _read_properties(self, object_name: str) -> dict[str, Any]:
        body = await self._read_json(f"/crm/v3/properties/{object_name}", object_name, "properties")
        properties = {}
        for item in body.get("results") or []:
            metadata = item.get("modificationMetadata") or {}
            properties[str(item.get("name"))] = {
                "type": item.get("type"),
                "field_type": item.get("fieldType"),
                "label": item.get("label"),
                "options": [
                    [str(option.get("value")), str(option.get("label"))]
                    for option in item.get("options") or []
                    if not option.get("hidden")
                ],
                "read_only": bool(metadata.get("readOnlyValue") or item.get("calculated")),
            }
        return {"properties": properties}

    async def _read_pipelines(self, object_name: str) -> dict[str, Any]:
        body = await self._read_json(f"/crm/v3/pipelines/{object_name}", object_name, "pipelines")
        pipelines = [
            {
                "id": str(pipeline.get("id")),
                "label": str(pipeline.get("label")),
                "stages": [
                    [str(stage.get("id")), str(stage.get("label"))]
                    for stage in pipeline.get("stages") or []
                    if not stage.get("archived")
                ],
            }
            for pipeline in body.get("results") or []
            if not pipeline.get("archived")
        ]
        return {"pipelines": pipelines}

    async def _read_json(self, path: str, object_name: str, what: str) -> dict[str, Any]:
        noun = f"{SINGULAR.get(object_name, object_name)} {what}"
        try:
            response = await self.get(path)
        except httpx.HTTPError as error:
            raise SchemaReadFailed(
                Finding(
                    "hubspot",
                    f"paybridge could not reach HubSpot to read your {noun}: {error}",
                    "Run the test again; the checks that need them were skipped.",
                )
            ) from None
        body = _json_of(response)
        if response.status_code == 200:
            return body
        message = str(body.get("message") or response.text[:300])
        if response.status_code == 403 and body.get("category") == "MISSING_SCOPES":
            scopes = _required_scopes(body) or [_scope(object_name, "read")]
            raise SchemaReadFailed(
                Finding(
                    "scopes",
                    f"HubSpot would not let paybridge read your {noun}: the connection lacks "
                    f"{', '.join(scopes)}",
                    f"Grant {', '.join(scopes)} to the HubSpot app and save its token again.",
                )
            )
        if response.status_code == 401:
            raise SchemaReadFailed(
                Finding(
                    "hubspot_token",
                    f"HubSpot rejected the integration's token: {message}",
                    "Save a new token (PATCH /api/integrations/{id} with hubspot_token).",
                )
            )
        raise SchemaReadFailed(
            Finding(
                "hubspot",
                f"HubSpot answered {response.status_code} when paybridge read your {noun}: "
                f"{message}",
                "Run the test again with refresh; the checks that need them were skipped.",
            )
        )


async def check_request(
    request: dict[str, Any],
    schema: AccountSchema,
    granted_scopes: set[str] | None,
    integration_id: str,
) -> list[dict[str, Any]]:
    """Findings for the request a handler produced; empty when HubSpot should accept it.

    `granted_scopes` None means the connection's scopes are unknown (a private app token):
    scopes are then checked only through the reads HubSpot refuses.
    """
    url = urllib.parse.urlsplit(str(request.get("url") or ""))
    if (url.hostname or "").lower() != HUBSPOT_API_HOST:
        return []

    check = _Check(schema, integration_id)
    await check.run(str(request.get("method") or "POST").upper(), url, request.get("body"))
    if granted_scopes is not None:
        check.scopes(granted_scopes)
    return [finding.to_json() for finding in check.findings]


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


class PropertyRequestInvalid(ValueError):
    """The owner's property request is incomplete or wrong; `field` names the bad part."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class PropertyRefused(Exception):  # noqa: N818 - HubSpot's answer, carried to the API edge
    """HubSpot did not create the property; `status` and the message are HubSpot's."""

    def __init__(self, status: int, message: str, category: str | None = None) -> None:
        self.status = status
        self.category = category
        super().__init__(message)


async def create_property(schema: AccountSchema, spec: dict[str, Any]) -> dict[str, Any]:
    """Create a custom property in the account, as its owner asked (POST /crm/v3/properties).

    The one HubSpot write preflight offers, made only on the owner's explicit request. The
    cached definitions of that object are dropped, so the next preflight sees the property.
    """
    object_name, body = _property_body(spec)
    try:
        response = await schema.client.post(
            f"{schema.api_base}/crm/v3/properties/{object_name}",
            headers={"Authorization": f"Bearer {schema.token}"},
            json=body,
        )
    except httpx.HTTPError as error:
        raise PropertyRefused(502, f"could not reach HubSpot: {error}") from None
    answer = _json_of(response)
    if response.status_code != 201:
        message = str(answer.get("message") or response.text[:300])
        scopes = _required_scopes(answer)
        if scopes:
            message += f" (required scopes: {', '.join(scopes)})"
        raise PropertyRefused(response.status_code, message, answer.get("category"))

    schema.storage.forget_schema(schema.account, f"properties:{object_name}")
    return answer


def _property_body(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    object_name = OBJECT_ALIASES.get(str(spec.get("object_type") or "").lower())
    if object_name is None:
        raise PropertyRequestInvalid("object_type", "object_type must be a CRM object, e.g. deals")
    name = spec.get("name")
    if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise PropertyRequestInvalid(
            "name", "name must be lowercase letters, digits and underscores, starting with a letter"
        )
    type_ = spec.get("type")
    if type_ not in FIELD_TYPE_FOR:
        raise PropertyRequestInvalid("type", f"type must be one of {', '.join(FIELD_TYPE_FOR)}")
    options = spec.get("options")
    if type_ == "enumeration" and not (
        isinstance(options, list) and options and all(isinstance(o, str) for o in options)
    ):
        raise PropertyRequestInvalid(
            "options", "an enumeration needs options: the list of values it may take"
        )
    group = spec.get("group_name") or PROPERTY_GROUPS.get(object_name)
    if not isinstance(group, str):
        raise PropertyRequestInvalid("group_name", f"give the property group for {object_name}")

    body: dict[str, Any] = {
        "name": name,
        "label": str(spec.get("label") or guess_property(object_name, name, "")["label"]),
        "type": type_,
        "fieldType": str(spec.get("field_type") or FIELD_TYPE_FOR[type_]),
        "groupName": group,
    }
    if type_ == "enumeration":
        body["options"] = [
            {"label": option, "value": option, "displayOrder": order, "hidden": False}
            for order, option in enumerate(options or [])
        ]
    if spec.get("description"):
        body["description"] = str(spec["description"])
    return object_name, body


class _Check:
    """One preflight run: walks the request, asks the schema, collects findings."""

    def __init__(self, schema: AccountSchema, integration_id: str) -> None:
        self.schema = schema
        self.integration_id = integration_id
        self.findings: list[Finding] = []
        self.needed_scopes: dict[str, str] = {}
        self._skipped: set[str] = set()

    def add(self, field: str, problem: str, fix: str, action: dict[str, Any] | None = None) -> None:
        self.findings.append(Finding(field, problem, fix, action))

    async def run(self, method: str, url: urllib.parse.SplitResult, body: Any) -> None:
        association = _V4_ASSOCIATION_PATH.match(url.path)
        if association:
            await self._v4_association(method, *association.groups())
            return
        match = _OBJECT_PATH.match(url.path)
        if not match:
            return
        object_name = OBJECT_ALIASES.get(match.group(1).lower())
        if object_name is None:
            return
        rest = (match.group(2) or "").strip("/")
        query = dict(urllib.parse.parse_qsl(url.query))
        reading = method == "GET" or rest == "search"
        self._need(_scope(object_name, "read" if reading else "write"), "the request")
        if reading or method == "DELETE":
            if rest and rest != "search":
                self._record_in_url(object_name, rest, query)
            return

        if rest.startswith("batch/"):
            await self._batch(object_name, rest.removeprefix("batch/"), body)
            return
        if rest:
            self._record_in_url(object_name, rest, query)
        if not isinstance(body, dict):
            return
        creating = not rest and method == "POST"
        await self._record_body(object_name, "", body, creating)

    def scopes(self, granted: set[str]) -> None:
        for scope, reason in self.needed_scopes.items():
            if scope in granted:
                continue
            self.add(
                "scopes",
                f"the connection lacks {scope}, which {reason} needs; HubSpot would answer 403 "
                "MISSING_SCOPES",
                f"Reconnect HubSpot granting {scope}.",
            )

    # -- the parts of a request -----------------------------------------------------------------

    async def _batch(self, object_name: str, operation: str, body: Any) -> None:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        for index, item in enumerate(inputs if isinstance(inputs, list) else []):
            if not isinstance(item, dict):
                continue
            prefix = f"inputs[{index}]."
            if operation == "update" and item.get("id") is not None:
                self._record_id(object_name, f"{prefix}id", str(item["id"]))
            if operation == "upsert" and item.get("idProperty") == "email":
                self._email(f"{prefix}id", str(item.get("id") or ""))
            await self._record_body(object_name, prefix, item, operation == "create")

    async def _record_body(
        self, object_name: str, prefix: str, body: dict[str, Any], creating: bool
    ) -> None:
        properties = body.get("properties")
        if isinstance(properties, dict):
            await self._properties(object_name, prefix, properties)
            if creating and object_name == "contacts":
                self._contact_identity(prefix, properties)
        associations = body.get("associations")
        if isinstance(associations, list):
            for index, association in enumerate(associations):
                field = f"{prefix}associations[{index}]"
                await self._association(object_name, field, association)

    def _record_in_url(self, object_name: str, record: str, query: dict[str, str]) -> None:
        record = urllib.parse.unquote(record.split("/")[0])
        id_property = query.get("idProperty")
        if id_property == "email":
            self._email("url", record)
        elif id_property is None:
            self._record_id(object_name, "url", record)

    def _record_id(self, object_name: str, field: str, value: str) -> None:
        if _RECORD_ID.match(value):
            return
        singular = SINGULAR.get(object_name, "record")
        fix = f"Use the {singular}'s HubSpot record id (a number)"
        if object_name == "contacts":
            fix += (
                ", or address it by email: .../contacts/{url_quote(email)}?idProperty=email"
                if field == "url"
                else ', or name the contact by email: {"email": customer["email"]}'
            )
        self.add(
            field,
            f"{value!r} is not a HubSpot record id{_dodo_hint(value)}",
            fix + ".",
        )

    def _contact_identity(self, prefix: str, properties: dict[str, Any]) -> None:
        if any(properties.get(name) for name in ("email", "firstname", "lastname")):
            return
        self.add(
            f"{prefix}properties",
            "a contact needs at least one of email, firstname, lastname; HubSpot refuses it",
            "Set properties.email from the customer's email.",
        )

    async def _properties(self, object_name: str, prefix: str, values: dict[str, Any]) -> None:
        definitions = await self._definitions(object_name)
        if definitions is None:
            return
        for name, value in values.items():
            field = f"{prefix}properties.{name}"
            definition = definitions.get(name)
            if definition is None:
                self._missing_property(object_name, field, name, value)
            elif definition["read_only"]:
                self.add(
                    field,
                    f"{name} is read-only: HubSpot sets it itself and refuses writes to it",
                    f"Remove {name} from properties.",
                )
            elif value is not None and value != "":
                await self._value(object_name, field, name, value, definition, values)

    def _missing_property(self, object_name: str, field: str, name: str, value: Any) -> None:
        singular = SINGULAR.get(object_name, object_name)
        guess = guess_property(object_name, name, value)
        problem = f"your HubSpot account has no {singular} property {name!r}; HubSpot answers "
        problem += "400 PROPERTY_DOESNT_EXIST"
        if object_name not in PROPERTY_GROUPS:
            self.add(field, problem, f"Use an existing {singular} property, or remove {name}.")
            return
        path = PROPERTIES_PATH.format(integration_id=self.integration_id)
        schema_scope = f"crm.schemas.{SCOPE_OBJECT[object_name]}.write"
        fix = (
            f"Create it as a {guess['type']} property: POST {path} "
            f"{json.dumps({k: guess[k] for k in ('object_type', 'name', 'type')})} "
            f"(needs {schema_scope}), or rename it to an existing {singular} property."
        )
        if guess["type"] == "string":
            fix += " For a dropdown, give type enumeration with your options."
        action = {"method": "POST", "path": path, "body": guess}
        self.add(field, problem, fix, action)

    async def _value(
        self,
        object_name: str,
        field: str,
        name: str,
        value: Any,
        definition: dict[str, Any],
        values: dict[str, Any],
    ) -> None:
        text = _as_text(value)
        type_ = definition["type"]
        if object_name == "deals" and name in ("dealstage", "pipeline"):
            await self._deal_stage(field, name, text, values)
        elif type_ == "enumeration":
            self._option(field, name, text, definition)
        elif type_ == "number" and not _NUMBER.match(text.strip()):
            self.add(
                field,
                f"{name} is a number property; {text!r} is not a number (INVALID_INTEGER)",
                'Send a plain decimal string such as "49.99"; for Dodo\'s minor units use '
                "minor_to_decimal(amount, currency).",
            )
        elif type_ == "bool" and text.lower() not in ("true", "false"):
            self.add(
                field,
                f"{name} is a yes/no property; {text!r} is not true or false",
                'Send "true" or "false".',
            )
        elif type_ in ("date", "datetime"):
            self._moment(field, name, text, type_)
        elif name == "email" and object_name == "contacts":
            self._email(field, text)

    def _option(self, field: str, name: str, text: str, definition: dict[str, Any]) -> None:
        options = definition["options"]
        allowed = [value for value, _ in options]
        if definition["field_type"] == "checkbox":
            chosen = [part for part in text.split(";") if part]
        else:
            chosen = [text]
        for value in chosen:
            if value in allowed:
                continue
            self.add(
                field,
                f"{value!r} is not one of {name}'s options (INVALID_OPTION)",
                _options_fix(value, options, name),
            )
            return

    async def _deal_stage(self, field: str, name: str, text: str, values: dict[str, Any]) -> None:
        pipelines = await self._pipelines()
        if pipelines is None:
            return
        pipeline_ids = [(p["id"], p["label"]) for p in pipelines]
        if name == "pipeline":
            if text not in [pid for pid, _ in pipeline_ids]:
                self.add(
                    field,
                    f"{text!r} is not a deal pipeline of your HubSpot account",
                    _options_fix(text, pipeline_ids, "pipeline"),
                )
            return

        wanted = _as_text(values.get("pipeline") or "default")
        pipeline = next((p for p in pipelines if p["id"] == wanted), None)
        if pipeline is None:
            return  # the pipeline finding says it
        stage_ids = [stage_id for stage_id, _ in pipeline["stages"]]
        if text in stage_ids:
            return
        elsewhere = [p["id"] for p in pipelines if text in [s for s, _ in p["stages"]]]
        problem = f"{text!r} is not a stage of the deal pipeline {pipeline['label']!r} ({wanted})"
        if elsewhere:
            fix = f'It is a stage of pipeline {elsewhere[0]!r}: set "pipeline": {elsewhere[0]!r}.'
        else:
            fix = _options_fix(text, [tuple(stage) for stage in pipeline["stages"]], "dealstage")
        self.add(field, problem, fix)

    def _moment(self, field: str, name: str, text: str, type_: str) -> None:
        moment, in_seconds = _parse_moment(text)
        helper = "hubspot_date" if type_ == "date" else "hubspot_datetime"
        if in_seconds:
            self.add(
                field,
                f"{text} looks like seconds since 1970; HubSpot reads numbers as milliseconds "
                "(INVALID_DATE)",
                f"Use {helper}(timestamp), or multiply by 1000.",
            )
            return
        if moment is None:
            self.add(
                field,
                f"{name} is a {type_} property; {text!r} is not a date HubSpot reads "
                "(INVALID_DATE)",
                f"Use {helper}(timestamp) on Dodo's ISO 8601 timestamp.",
            )
            return
        if type_ == "date" and moment != moment.replace(hour=0, minute=0, second=0, microsecond=0):
            day = moment.strftime("%Y-%m-%d")
            self.add(
                field,
                f"{name} is a date property and HubSpot accepts only midnight UTC; {text} is at "
                f"{moment:%H:%M:%S} UTC (INVALID_DATE)",
                f'Send the day only: hubspot_date(timestamp) gives "{day}".',
            )

    def _email(self, field: str, email: str) -> None:
        problem = email_problem(email)
        if problem is None:
            return
        self.add(
            field,
            f"HubSpot will reject the email {email!r}: it {problem} (INVALID_EMAIL)",
            "Skip the event when the customer's email is not valid (set webhook.cancel = True), "
            "or correct the email in Dodo.",
        )

    async def _association(self, object_name: str, field: str, association: Any) -> None:
        if not isinstance(association, dict):
            self.add(field, "an association must be an object with to and types", _ASSOC_FIX)
            return
        to_object = self._association_types(object_name, field, association.get("types"))
        target = association.get("to")
        if not isinstance(target, dict) or ("id" not in target and "email" not in target):
            self.add(
                f"{field}.to",
                'the association has no target: HubSpot needs "to": {"id": …}',
                'Set "to": {"id": record id}, or for a contact "to": {"email": …}.',
            )
            return
        if "email" in target and "id" not in target:
            await self._email_target(field, to_object, str(target["email"]))
            return

        record_id = str(target["id"])
        if to_object is None or not _RECORD_ID.match(record_id):
            self._record_id(to_object or "", f"{field}.to.id", record_id)
            return
        exists = await self.schema.record_exists(to_object, record_id)
        if exists is False:
            singular = SINGULAR.get(to_object, to_object)
            self.add(
                f"{field}.to.id",
                f"your HubSpot account has no {singular} {record_id}; HubSpot answers 'One or "
                "more associations are invalid'",
                f"Associate with an existing {singular}"
                + (
                    ', or name the contact by email: {"email": …}.'
                    if to_object == "contacts"
                    else "."
                ),
            )

    async def _email_target(self, field: str, to_object: str | None, email: str) -> None:
        if to_object not in (None, "contacts"):
            self.add(
                f"{field}.to",
                f"only contacts can be named by email; this association points to a "
                f"{SINGULAR.get(to_object, to_object)}",
                f"Give the {SINGULAR.get(to_object, to_object)}'s HubSpot record id.",
            )
            return
        self._need(
            _scope("contacts", "read"), "finding the contact by email (an association target)"
        )
        self._email(f"{field}.to.email", email)

    def _association_types(self, object_name: str, field: str, types: Any) -> str | None:
        """Check the type specs; return the object they point to, if HubSpot defines them."""
        if not isinstance(types, list) or not types:
            self.add(f"{field}.types", "the association has no types", _ASSOC_FIX)
            return None
        to_object = None
        for index, spec in enumerate(types):
            spec_field = f"{field}.types[{index}]"
            if not isinstance(spec, dict) or any(
                spec.get(key) is None for key in ("associationCategory", "associationTypeId")
            ):
                self.add(
                    spec_field,
                    "Some required fields were not set: [associationCategory, associationTypeId]",
                    _ASSOC_FIX,
                )
                continue
            if spec["associationCategory"] != "HUBSPOT_DEFINED":
                continue
            try:
                type_id = int(spec["associationTypeId"])
            except (TypeError, ValueError):
                type_id = -1
            pair = ASSOCIATION_TYPES.get(type_id)
            if pair is None:
                self.add(
                    f"{spec_field}.associationTypeId",
                    f"{spec['associationTypeId']!r} is not an association type HubSpot defines",
                    _direction_fix(object_name),
                )
            elif pair[0] != object_name:
                from_, to = (SINGULAR[name] for name in pair)
                self.add(
                    f"{spec_field}.associationTypeId",
                    f"type {type_id} is {from_} → {to}, but this request creates a "
                    f"{SINGULAR.get(object_name, object_name)}; HubSpot answers 'One or more "
                    "associations are invalid'",
                    # type 4 (contact → deal) on a deal most likely meant deal → contact
                    _direction_fix(object_name, pair[0] if pair[1] == object_name else pair[1]),
                )
            else:
                to_object = pair[1]
        return to_object

    async def _v4_association(
        self, method: str, from_raw: str, from_id: str, to_raw: str, to_id: str
    ) -> None:
        from_object = OBJECT_ALIASES.get(from_raw.lower())
        to_object = OBJECT_ALIASES.get(to_raw.lower())
        if from_object is None or to_object is None:
            return
        self._need(_scope(from_object, "read" if method == "GET" else "write"), "the request")
        for object_name, record_id in ((from_object, from_id), (to_object, to_id)):
            self._record_id(object_name, "url", urllib.parse.unquote(record_id))

    # -- schema access --------------------------------------------------------------------------

    async def _definitions(self, object_name: str) -> dict[str, dict[str, Any]] | None:
        return await self._schema_part(object_name, self.schema.properties)

    async def _pipelines(self) -> list[dict[str, Any]] | None:
        return await self._schema_part("pipelines", lambda _: self.schema.pipelines())

    async def _schema_part(self, key: str, read: Any) -> Any:
        if key in self._skipped:
            return None
        try:
            return await read(key)
        except SchemaReadFailed as failure:
            self._skipped.add(key)
            self.findings.append(failure.finding)
            return None

    def _need(self, scope: str, reason: str) -> None:
        self.needed_scopes.setdefault(scope, reason)


_ASSOC_FIX = (
    'Give each association "to": {"id": …} and "types": [{"associationCategory": '
    '"HUBSPOT_DEFINED", "associationTypeId": N}].'
)


def _direction_fix(object_name: str, to_object: str | None = None) -> str:
    right = [
        f"{type_id} ({SINGULAR[pair[0]]} → {SINGULAR[pair[1]]})"
        for type_id, pair in ASSOCIATION_TYPES.items()
        if pair[0] == object_name and (to_object is None or pair[1] == to_object)
    ]
    if not right:
        return "Use a HUBSPOT_DEFINED type id whose direction starts at this object."
    return f"Use associationTypeId {' or '.join(right)}: direction matters."


def _options_fix(value: str, options: list[Any], name: str) -> str:
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


def _dodo_hint(value: str) -> str:
    prefixes = {"cus_": "customer", "pay_": "payment", "sub_": "subscription", "pdt_": "product"}
    for prefix, noun in prefixes.items():
        if value.startswith(prefix):
            return f" (it is Dodo's {noun} id)"
    return ""


def _guess_type(name: str, value: Any) -> str:
    lowered = name.lower()
    text = _as_text(value).strip()
    if isinstance(value, bool):
        return "string"
    if _DAY.match(text):
        return "date"
    if _INSTANT.match(text):
        return "datetime"
    if _INTEGER.match(text) and any(word in lowered for word in _DATE_WORDS):
        return "datetime"
    if isinstance(value, int | float) or _DECIMAL.match(text):
        return "number"
    if _INTEGER.match(text) and not text.lstrip("-").startswith("0"):
        if any(word in lowered for word in _AMOUNT_WORDS):
            return "number"
    return "string"


def _parse_moment(text: str) -> tuple[datetime | None, bool]:
    """(the instant, looks like seconds) for epoch ms, `YYYY-MM-DD` or ISO 8601 text."""
    text = text.strip()
    if _INTEGER.match(text):
        number = int(text)
        if 0 < abs(number) < SECONDS_NOT_MS_BELOW and len(text.lstrip("-")) >= 9:
            return None, True
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=number), False
        except OverflowError:
            return None, False
    if _DAY.match(text):
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


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scope(object_name: str, access: str) -> str:
    return f"crm.objects.{SCOPE_OBJECT.get(object_name, object_name)}.{access}"


def _required_scopes(body: dict[str, Any]) -> list[str]:
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            scopes += [str(s) for s in context.get("requiredScopes") or []]
    return list(dict.fromkeys(scopes))


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
