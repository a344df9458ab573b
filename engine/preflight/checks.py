"""The checks themselves: walk the request a handler made, ask the account's schema, collect
findings. Each check mirrors a way HubSpot refuses a write (see the package docstring).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from .crm import (
    ASSOCIATION_TYPES,
    HUBSPOT_API_HOST,
    PROPERTY_GROUPS,
    resolve_object,
    schema_write_scope,
    scope,
    singular,
)
from .schema import AccountSchema, SchemaReadFailed
from .values import (
    NUMBER,
    Finding,
    as_text,
    dodo_hint,
    email_problem,
    guess_property,
    options_fix,
    parse_moment,
)

PROPERTIES_PATH = "/api/integrations/{integration_id}/properties"
_OBJECT_PATH = re.compile(r"^/crm/(?:v3/objects|objects/\d{4}-\d{2})/([^/]+)(?:/(.*))?$")
_V4_ASSOCIATION_PATH = re.compile(
    r"^/crm/v4/objects/([^/]+)/([^/]+)/associations/(?:default/)?([^/]+)/([^/]+)$"
)
_RECORD_ID = re.compile(r"^\d+$")


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
        object_name = resolve_object(match.group(1))
        if object_name is None:
            return
        rest = (match.group(2) or "").strip("/")
        query = dict(urllib.parse.parse_qsl(url.query))
        reading = method == "GET" or rest == "search"
        self._need(scope(object_name, "read" if reading else "write"), "the request")
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
        for needed, reason in self.needed_scopes.items():
            if needed in granted:
                continue
            self.add(
                "scopes",
                f"the connection lacks {needed}, which {reason} needs; HubSpot would answer 403 "
                "MISSING_SCOPES",
                f"Reconnect HubSpot granting {needed}.",
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
        fix = f"Use the {singular(object_name)}'s HubSpot record id (a number)"
        if object_name == "contacts":
            fix += (
                ", or address it by email: .../contacts/{url_quote(email)}?idProperty=email"
                if field == "url"
                else ', or name the contact by email: {"email": customer["email"]}'
            )
        self.add(
            field,
            f"{value!r} is not a HubSpot record id{dodo_hint(value)}",
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
        noun = singular(object_name)
        guess = guess_property(object_name, name, value)
        problem = f"your HubSpot account has no {noun} property {name!r}; HubSpot answers "
        problem += "400 PROPERTY_DOESNT_EXIST"
        if object_name not in PROPERTY_GROUPS:
            self.add(field, problem, f"Use an existing {noun} property, or remove {name}.")
            return
        path = PROPERTIES_PATH.format(integration_id=self.integration_id)
        schema_scope = schema_write_scope(object_name)
        fix = (
            f"Create it as a {guess['type']} property: POST {path} "
            f"{json.dumps({k: guess[k] for k in ('object_type', 'name', 'type')})} "
            f"(needs {schema_scope}), or rename it to an existing {noun} property."
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
        text = as_text(value)
        type_ = definition["type"]
        if object_name == "deals" and name in ("dealstage", "pipeline"):
            await self._deal_stage(field, name, text, values)
        elif type_ == "enumeration":
            self._option(field, name, text, definition)
        elif type_ == "number" and not NUMBER.match(text.strip()):
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
                options_fix(value, options, name),
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
                    options_fix(text, pipeline_ids, "pipeline"),
                )
            return

        wanted = as_text(values.get("pipeline") or "default")
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
            fix = options_fix(text, [tuple(stage) for stage in pipeline["stages"]], "dealstage")
        self.add(field, problem, fix)

    def _moment(self, field: str, name: str, text: str, type_: str) -> None:
        moment, in_seconds = parse_moment(text)
        helper = "hubspot_date" if type_ == "date" else "hubspot_datetime"
        if in_seconds:
            self.add(
                field,
                f"{text} looks like seconds since 1970; HubSpot reads numbers as milliseconds, "
                + (
                    "so it is not a midnight (INVALID_DATE)"
                    if type_ == "date"
                    else "so the date would land in January 1970"
                ),
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
            noun = singular(to_object)
            self.add(
                f"{field}.to.id",
                f"your HubSpot account has no {noun} {record_id}; HubSpot answers 'One or "
                "more associations are invalid'",
                f"Associate with an existing {noun}"
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
                f"{singular(to_object)}",
                f"Give the {singular(to_object)}'s HubSpot record id.",
            )
            return
        self._need(
            scope("contacts", "read"), "finding the contact by email (an association target)"
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
                from_, to = (singular(name) for name in pair)
                self.add(
                    f"{spec_field}.associationTypeId",
                    f"type {type_id} is {from_} → {to}, but this request creates a "
                    f"{singular(object_name)}; HubSpot answers 'One or more "
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
        from_object = resolve_object(from_raw)
        to_object = resolve_object(to_raw)
        if from_object is None or to_object is None:
            return
        self._need(scope(from_object, "read" if method == "GET" else "write"), "the request")
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
        f"{type_id} ({singular(pair[0])} → {singular(pair[1])})"
        for type_id, pair in ASSOCIATION_TYPES.items()
        if pair[0] == object_name and (to_object is None or pair[1] == to_object)
    ]
    if not right:
        return "Use a HUBSPOT_DEFINED type id whose direction starts at this object."
    return f"Use associationTypeId {' or '.join(right)}: direction matters."
