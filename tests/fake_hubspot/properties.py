"""The properties API: read definitions, create custom properties and groups (reference 3.5)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import require_scope
from .errors import HubSpotError, missing_required_fields, not_found, validation_error
from .gateway import ApiCall, api_call
from .responses import HubSpotJSONResponse
from .schema import (
    FIELD_TYPES_BY_TYPE,
    PROPERTY_TYPES,
    ObjectType,
    PropertyDefinition,
    PropertyOption,
    require_object_type,
)
from .state import FakeState, now_iso

REQUIRED_FIELDS = ("name", "label", "type", "fieldType", "groupName")
_INTERNAL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PropertyRoutes:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        base = "/crm/v3/properties/{object_type}"
        return [
            Route(base, self.list_properties, methods=["GET"]),
            Route(base, self.create_property, methods=["POST"]),
            Route(base + "/groups", self.list_groups, methods=["GET"]),
            Route(base + "/groups", self.create_group, methods=["POST"]),
            Route(base + "/{property_name}", self.read_property, methods=["GET"]),
        ]

    async def list_properties(self, request: Request) -> Response:
        object_type = self._readable(request)

        definitions = self.state.properties[object_type.name].values()
        return HubSpotJSONResponse(
            {"results": [definition.to_json() for definition in definitions]}
        )

    async def read_property(self, request: Request) -> Response:
        object_type = self._readable(request)
        name = request.path_params["property_name"]

        definition = self.state.property(object_type, name)
        if definition is None:
            raise not_found(f"Unable to find property {name} for object type {object_type.type_id}")
        return HubSpotJSONResponse(definition.to_json())

    async def create_property(self, request: Request) -> Response:
        call, object_type = self._writable(request)
        body = call.json_object()
        missing = [field for field in REQUIRED_FIELDS if body.get(field) in (None, "")]
        if missing:
            raise missing_required_fields(call.raw_body, missing)

        definition = self._definition_from(object_type, body)
        if definition.name in self.state.properties[object_type.name]:
            raise HubSpotError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property named '{definition.name}' already exists.",
            )
        self.state.properties[object_type.name][definition.name] = definition
        return HubSpotJSONResponse(definition.to_json(), status_code=201)

    async def list_groups(self, request: Request) -> Response:
        object_type = self._readable(request)

        groups = self.state.groups[object_type.name]
        results = [
            {"name": name, "label": label, "displayOrder": order, "archived": False}
            for order, (name, label) in enumerate(groups.items())
        ]
        return HubSpotJSONResponse({"results": results})

    async def create_group(self, request: Request) -> Response:
        call, object_type = self._writable(request)
        body = call.json_object()
        missing = [field for field in ("name", "label") if not body.get(field)]
        if missing:
            raise missing_required_fields(call.raw_body, missing)

        groups = self.state.groups[object_type.name]
        name = str(body["name"])
        if name in groups:
            raise HubSpotError(
                409, "OBJECT_ALREADY_EXISTS", f"Property group named '{name}' already exists."
            )
        groups[name] = str(body["label"])
        group = {
            "name": name,
            "label": groups[name],
            "displayOrder": body.get("displayOrder", -1),
            "archived": False,
        }
        return HubSpotJSONResponse(group, status_code=201)

    def _readable(self, request: Request) -> ObjectType:
        object_type = require_object_type(request.path_params["object_type"])
        schema_read = f"crm.schemas.{object_type.scope_schema}.read"
        require_scope(api_call(request).grant, schema_read, object_type.read_scope)
        return object_type

    def _writable(self, request: Request) -> tuple[ApiCall, ObjectType]:
        call = api_call(request)
        object_type = require_object_type(request.path_params["object_type"])
        require_scope(call.grant, f"crm.schemas.{object_type.scope_schema}.write")
        return call, object_type

    def _definition_from(self, object_type: ObjectType, body: dict) -> PropertyDefinition:
        name, type_, field_type = str(body["name"]), str(body["type"]), str(body["fieldType"])
        group_name = str(body["groupName"])
        if not _INTERNAL_NAME.match(name) or name.startswith("hs_"):
            raise validation_error(
                f"Property name {name} is invalid: use lowercase letters, digits and underscores, "
                "starting with a letter and not with hs_"
            )
        if type_ not in PROPERTY_TYPES:
            raise validation_error(
                f"Property type {type_} is invalid; valid types are {', '.join(PROPERTY_TYPES)}"
            )
        if field_type not in FIELD_TYPES_BY_TYPE[type_]:
            allowed = ", ".join(sorted(FIELD_TYPES_BY_TYPE[type_]))
            raise validation_error(
                f"Field type {field_type} is not valid for property type {type_}; "
                f"use one of {allowed}"
            )
        if group_name not in self.state.groups[object_type.name]:
            raise validation_error(f"Property group {group_name} does not exist")

        now = now_iso()
        return PropertyDefinition(
            name=name,
            label=str(body["label"]),
            type=type_,
            field_type=field_type,
            group_name=group_name,
            description=str(body.get("description") or ""),
            options=_options(type_, body.get("options")),
            hubspot_defined=False,
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hidden=bool(body.get("hidden", False)),
            form_field=bool(body.get("formField", False)),
            display_order=int(body.get("displayOrder", -1)),
            created_at=now,
            updated_at=now,
        )


def _options(type_: str, raw) -> list[PropertyOption]:
    if type_ != "enumeration":
        return []
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(option, dict) for option in raw):
        raise validation_error("Invalid input JSON: `options` must be a list of objects")

    options = []
    for order, option in enumerate(raw):
        if option.get("label") in (None, "") or option.get("value") in (None, ""):
            raise validation_error("Each option needs a label and a value")
        options.append(
            PropertyOption(
                label=str(option["label"]),
                value=str(option["value"]),
                display_order=int(option.get("displayOrder", order)),
                hidden=bool(option.get("hidden", False)),
                description=str(option.get("description") or ""),
            )
        )
    return options
