"""The HubSpot account's schema, read with the integration's token and cached in Redis; and the
one write preflight offers: creating a custom property, on the owner's explicit request.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from ..storage import Storage
from .crm import FIELD_TYPE_FOR, PROPERTY_GROUPS, resolve_object, scope, singular
from .values import Finding, guess_property

SCHEMA_CACHE_S = 3600
READ_TIMEOUT_S = 10.0
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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
        noun = f"{singular(object_name)} {what}"
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
            scopes = required_scopes(body) or [scope(object_name, "read")]
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
        scopes = required_scopes(answer)
        if scopes:
            message += f" (required scopes: {', '.join(scopes)})"
        raise PropertyRefused(response.status_code, message, answer.get("category"))

    schema.storage.forget_schema(schema.account, f"properties:{object_name}")
    return answer


def _property_body(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    object_name = resolve_object(str(spec.get("object_type") or ""))
    if object_name is None:
        raise PropertyRequestInvalid("object_type", "object_type must be a CRM object, e.g. deals")
    name = spec.get("name")
    if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
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


def required_scopes(body: dict[str, Any]) -> list[str]:
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
