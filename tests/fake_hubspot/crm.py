"""CRM v3 object endpoints: create, read, update, archive, list, search and batch upsert.

Responses are HubSpot's SimplePublicObject (reference section 3.1). A contact is unique by email,
case-insensitively; creating a second one is HubSpot's 409 with the existing id in the message.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .associations import (
    ASSOCIATION_TYPES,
    parse_inline_associations,
    store_links,
    type_name,
)
from .auth import require_scope
from .errors import (
    contact_exists,
    missing_required_fields,
    not_found,
    validation_error,
)
from .gateway import ApiCall, api_call
from .pipelines import check_deal_stage
from .responses import HubSpotJSONResponse
from .schema import DEFAULT_PIPELINE_ID, ObjectType, require_object_type
from .search import search_records
from .state import CrmObject, FakeState, now_iso
from .validation import validate_properties

MAX_BATCH_INPUTS = 100
MAX_LIST_LIMIT = 100


class CrmRoutes:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        base = "/crm/v3/objects/{object_type}"
        return [
            Route(base, self.list_objects, methods=["GET"]),
            Route(base, self.create_object, methods=["POST"]),
            Route(base + "/search", self.search, methods=["POST"]),
            Route(base + "/batch/upsert", self.batch_upsert, methods=["POST"]),
            Route(base + "/{object_id}", self.read_object, methods=["GET"]),
            Route(base + "/{object_id}", self.update_object, methods=["PATCH"]),
            Route(base + "/{object_id}", self.archive_object, methods=["DELETE"]),
        ]

    async def create_object(self, request: Request) -> Response:
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.write_scope)
        body = call.json_object()
        if "properties" not in body:
            raise missing_required_fields(call.raw_body, ["properties"])

        properties = validate_properties(self.state, object_type, body["properties"])
        _require_identity(object_type, properties)
        if object_type.name == "deals":
            check_deal_stage(self.state.pipelines, properties)
        links = parse_inline_associations(
            self.state, object_type, body.get("associations"), call.raw_body
        )
        self._refuse_duplicate_email(object_type, properties)

        if object_type.name == "deals" and not properties.get("pipeline"):
            properties["pipeline"] = DEFAULT_PIPELINE_ID
        record = self.state.create_object(object_type, properties)
        store_links(self.state, record, links)
        return HubSpotJSONResponse(record.to_json(), status_code=201)

    async def read_object(self, request: Request) -> Response:
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.read_scope)
        record = self._lookup(request, object_type)

        body = record.to_json(_requested_properties(request, object_type))
        associations = _requested_list(request, "associations")
        if associations:
            body["associations"] = self._associations_block(record, associations)
        return HubSpotJSONResponse(body)

    async def update_object(self, request: Request) -> Response:
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.write_scope)
        record = self._lookup(request, object_type)
        body = call.json_object()
        if "properties" not in body:
            raise missing_required_fields(call.raw_body, ["properties"])

        properties = validate_properties(
            self.state, object_type, body["properties"], record.properties
        )
        self._refuse_duplicate_email(object_type, properties, record.id)
        if object_type.name == "deals" and {"dealstage", "pipeline"} & set(properties):
            check_deal_stage(self.state.pipelines, {**record.properties, **properties})

        self.state.update_object(record, properties)
        return HubSpotJSONResponse(record.to_json())

    async def archive_object(self, request: Request) -> Response:
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.write_scope)
        record = self._lookup(request, object_type)

        self.state.archive_object(record)
        return Response(status_code=204)

    async def list_objects(self, request: Request) -> Response:
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.read_scope)
        try:
            limit = int(request.query_params.get("limit", 10))
            after = int(request.query_params.get("after", 0))
        except ValueError as error:
            raise validation_error("`limit` and `after` must be numbers") from error
        if not 0 < limit <= MAX_LIST_LIMIT:
            raise validation_error(f"limit must be between 1 and {MAX_LIST_LIMIT}")

        records = list(self.state.objects[object_type.name].values())
        names = _requested_properties(request, object_type)
        body: dict = {
            "results": [record.to_json(names) for record in records[after : after + limit]]
        }
        if after + limit < len(records):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return HubSpotJSONResponse(body)

    async def search(self, request: Request) -> Response:
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.read_scope)

        return HubSpotJSONResponse(search_records(self.state, object_type, call.json_object()))

    async def batch_upsert(self, request: Request) -> Response:
        """Create or update each input by a unique property such as a contact's email."""
        call, object_type = _begin(request)
        require_scope(call.grant, object_type.write_scope)
        inputs = _batch_inputs(call)

        started_at = now_iso()
        plan = [self._plan_upsert(object_type, item) for item in inputs]
        results = []
        for record, properties in plan:
            if record is None:
                created = self.state.create_object(object_type, properties)
                results.append({**created.to_json(), "new": True})
            else:
                self.state.update_object(record, properties)
                results.append({**record.to_json(), "new": False})

        body = {"status": "COMPLETE", "results": results, "startedAt": started_at}
        body["completedAt"] = now_iso()
        return HubSpotJSONResponse(body)

    def _plan_upsert(self, object_type: ObjectType, item: dict):
        id_property = item["idProperty"]
        if not self._is_unique_property(object_type, id_property):
            raise validation_error(
                f"Unable to perform update/upsert by non-unique {object_type.type_id} property"
            )

        record = self.state.find_object(object_type, str(item["id"]), id_property)
        values = {**item["properties"], id_property: item["id"]}
        properties = validate_properties(
            self.state, object_type, values, record.properties if record else None
        )
        if record is None:
            _require_identity(object_type, properties)
        return record, properties

    def _is_unique_property(self, object_type: ObjectType, name: str) -> bool:
        if object_type.name == "contacts" and name == "email":
            return True
        definition = self.state.property(object_type, name)
        return definition is not None and definition.has_unique_value

    def _lookup(self, request: Request, object_type: ObjectType) -> CrmObject:
        object_id = request.path_params["object_id"]
        id_property = request.query_params.get("idProperty")
        record = self.state.find_object(object_type, object_id, id_property)
        if record is None:
            raise not_found()
        return record

    def _refuse_duplicate_email(
        self, object_type: ObjectType, properties: dict[str, str], own_id: str | None = None
    ) -> None:
        email = properties.get("email")
        if object_type.name != "contacts" or not email:
            return
        existing_id = self.state.contact_id_for_email(email)
        if existing_id is not None and existing_id != own_id:
            raise contact_exists(existing_id)

    def _associations_block(self, record: CrmObject, to_type_names: list[str]) -> dict:
        block = {}
        for name in to_type_names:
            to_type = require_object_type(name)
            links = self.state.associations_of((record.object_type.name, record.id), to_type.name)
            results = [
                {"id": to_id, "type": type_name(type_id)}
                for to_id, type_ids in links.items()
                for type_id in type_ids
                if type_id in ASSOCIATION_TYPES
            ]
            if results:
                block[to_type.name] = {"results": results}
        return block


def _begin(request: Request) -> tuple[ApiCall, ObjectType]:
    return api_call(request), require_object_type(request.path_params["object_type"])


def _require_identity(object_type: ObjectType, properties: dict[str, str]) -> None:
    """HubSpot needs an email, first name or last name to create a contact."""
    if not object_type.required_any:
        return
    if not any(properties.get(name) for name in object_type.required_any):
        names = ", ".join(object_type.required_any)
        raise validation_error(
            f"A {object_type.singular} needs at least one of these properties: {names}"
        )


def _requested_list(request: Request, key: str) -> list[str]:
    values = []
    for raw in request.query_params.getlist(key):
        values += [part.strip() for part in raw.split(",") if part.strip()]
    return values


def _requested_properties(request: Request, object_type: ObjectType) -> list[str]:
    """`properties=a,b` plus the ids and dates HubSpot always returns; the defaults otherwise."""
    requested = _requested_list(request, "properties")
    if not requested:
        return list(object_type.default_read)
    return list(dict.fromkeys([*requested, *object_type.always_read]))


def _batch_inputs(call: ApiCall) -> list[dict]:
    body = call.json_object()
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise missing_required_fields(call.raw_body, ["inputs"])
    if len(inputs) > MAX_BATCH_INPUTS:
        raise validation_error(f"Batch input limit exceeded: {len(inputs)} > {MAX_BATCH_INPUTS}")

    missing = []
    for item in inputs:
        if not isinstance(item, dict):
            raise validation_error("Invalid input JSON: each input must be an object")
        missing += [key for key in ("id", "idProperty", "properties") if item.get(key) is None]
        if not isinstance(item.get("properties", {}), dict):
            raise validation_error("Invalid input JSON: `properties` must be an object")
    if missing:
        raise missing_required_fields(call.raw_body, list(dict.fromkeys(missing)))

    seen: set[str] = set()
    duplicates = []
    for item in inputs:
        key = str(item["id"]).lower()
        if key in seen:
            duplicates.append(str(item["id"]))
        seen.add(key)
    if duplicates:
        raise validation_error(f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]")
    return inputs
