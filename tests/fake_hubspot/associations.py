"""Associations between records: the HUBSPOT_DEFINED type ids, inline associations on create, and
the v4 association endpoints.

Type ids and their directions come from the associations v4 guide (reference section 3.4). HubSpot
names the wrong object in the error for a wrong-direction type id (hubspot-api-nodejs#646: type 1,
contact→company, used on a deal gave `CONTACT=… is not valid`); the fake does the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import require_scope
from .errors import HubSpotError, missing_required_fields, validation_error
from .gateway import api_call
from .responses import HubSpotJSONResponse
from .schema import OBJECT_TYPES, ObjectType, require_object_type
from .state import CrmObject, FakeState, now_iso

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
CATEGORIES = (HUBSPOT_DEFINED, "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK")

# type id → (from object, to object)
ASSOCIATION_TYPES: dict[int, tuple[str, str]] = {
    1: ("contacts", "companies"),
    2: ("companies", "contacts"),
    3: ("deals", "contacts"),
    4: ("contacts", "deals"),
    5: ("deals", "companies"),
    6: ("companies", "deals"),
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
_PAIRS = [(1, 2), (3, 4), (5, 6), (189, 190), (191, 192), (201, 202), (203, 204), (213, 214)]
_PAIRS += [(215, 216), (279, 280), (341, 342)]
INVERSE_TYPE = {a: b for a, b in _PAIRS} | {b: a for a, b in _PAIRS}
# A "Primary" association also carries the unlabeled one of the same direction.
PRIMARY_TO_UNLABELED = {1: 279, 2: 280, 5: 341, 6: 342}
DEFAULT_TYPE = {
    pair: type_id
    for type_id, pair in ASSOCIATION_TYPES.items()
    if type_id not in PRIMARY_TO_UNLABELED
}


@dataclass(frozen=True)
class Link:
    to_type: ObjectType
    to_id: str
    type_id: int


def parse_inline_associations(
    state: FakeState, object_type: ObjectType, associations, raw_body: bytes
) -> list[Link]:
    """Check a create body's `associations` and return the links to store after the create."""
    if associations is None:
        return []
    if not isinstance(associations, list) or not all(isinstance(a, dict) for a in associations):
        raise validation_error("Invalid input JSON: `associations` must be a list of objects")

    missing = _missing_fields(associations)
    if missing:
        raise missing_required_fields(raw_body, missing)

    links: list[Link] = []
    invalid: list[tuple[str, str]] = []
    for association in associations:
        to_id = str(association["to"]["id"])
        for spec in association["types"]:
            type_id = _type_id(spec)
            from_name, to_name = ASSOCIATION_TYPES[type_id]
            if from_name != object_type.name:
                invalid.append((OBJECT_TYPES[from_name].label, to_id))
            elif state.get_object(OBJECT_TYPES[to_name], to_id) is None:
                invalid.append((OBJECT_TYPES[to_name].label, to_id))
            else:
                links.append(Link(OBJECT_TYPES[to_name], to_id, type_id))

    if invalid:
        raise invalid_associations(invalid)
    return links


def store_links(state: FakeState, record: CrmObject, links: list[Link]) -> None:
    for link in links:
        associate(state, record.object_type, record.id, link.to_type, link.to_id, link.type_id)


def associate(
    state: FakeState,
    from_type: ObjectType,
    from_id: str,
    to_type: ObjectType,
    to_id: str,
    type_id: int,
) -> None:
    """Store an association in both directions, as HubSpot does."""
    forward = [type_id] + (
        [PRIMARY_TO_UNLABELED[type_id]] if type_id in PRIMARY_TO_UNLABELED else []
    )
    backward = [INVERSE_TYPE[t] for t in forward]
    state.associate((from_type.name, from_id), (to_type.name, to_id), forward)
    state.associate((to_type.name, to_id), (from_type.name, from_id), backward)


def invalid_associations(invalid: list[tuple[str, str]]) -> HubSpotError:
    labels = list(dict.fromkeys(label for label, _ in invalid))
    context = {
        "INVALID_OBJECT_IDS": [f"{label}={object_id} is not valid" for label, object_id in invalid],
        "objectId": [object_id for _, object_id in invalid],
        "objectType": labels,
    }
    return validation_error("One or more associations are invalid", context=context)


def type_label(type_id: int) -> str | None:
    return "Primary" if type_id in PRIMARY_TO_UNLABELED else None


def type_name(type_id: int) -> str:
    from_name, to_name = ASSOCIATION_TYPES[type_id]
    return f"{OBJECT_TYPES[from_name].singular}_to_{OBJECT_TYPES[to_name].singular}"


class AssociationRoutes:
    """The v4 association endpoints a handler is likely to call."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        base = "/crm/v4/objects/{object_type}/{object_id}/associations"
        return [
            Route(base + "/{to_type}", self.list_associations, methods=["GET"]),
            Route(base + "/default/{to_type}/{to_id}", self.associate_default, methods=["PUT"]),
            Route(base + "/{to_type}/{to_id}", self.associate_labeled, methods=["PUT"]),
            Route(base + "/{to_type}/{to_id}", self.remove_association, methods=["DELETE"]),
        ]

    async def list_associations(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        require_scope(api_call(request).grant, from_type.read_scope)

        links = self.state.associations_of(
            (from_type.name, request.path_params["object_id"]), to_type.name
        )
        results = [
            {
                "toObjectId": int(to_id),
                "associationTypes": [
                    {"category": HUBSPOT_DEFINED, "typeId": type_id, "label": type_label(type_id)}
                    for type_id in type_ids
                ],
            }
            for to_id, type_ids in links.items()
        ]
        return HubSpotJSONResponse({"results": results})

    async def associate_default(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        require_scope(api_call(request).grant, from_type.write_scope)
        from_id, to_id = request.path_params["object_id"], request.path_params["to_id"]
        type_id = DEFAULT_TYPE.get((from_type.name, to_type.name))
        if type_id is None:
            raise validation_error(
                f"No default association exists from {from_type.singular} to {to_type.singular}"
            )

        self._require_records(from_type, from_id, to_type, to_id)
        started_at = now_iso()
        associate(self.state, from_type, from_id, to_type, to_id, type_id)
        results = [
            _default_result(from_id, to_id, type_id),
            _default_result(to_id, from_id, INVERSE_TYPE[type_id]),
        ]
        body = {"status": "COMPLETE", "results": results, "startedAt": started_at}
        body["completedAt"] = now_iso()
        return HubSpotJSONResponse(body)

    async def associate_labeled(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        call = api_call(request)
        require_scope(call.grant, from_type.write_scope)
        from_id, to_id = request.path_params["object_id"], request.path_params["to_id"]
        specs = call.json()
        if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
            raise validation_error("Invalid input JSON: expected a list of association specs")
        missing = _missing_spec_fields(specs)
        if missing:
            raise missing_required_fields(call.raw_body, missing)

        type_ids = [_type_id(spec) for spec in specs]
        for type_id in type_ids:
            if ASSOCIATION_TYPES[type_id] != (from_type.name, to_type.name):
                raise invalid_associations([(from_type.label, from_id)])
        self._require_records(from_type, from_id, to_type, to_id)
        for type_id in type_ids:
            associate(self.state, from_type, from_id, to_type, to_id, type_id)

        labels = [label for label in map(type_label, type_ids) if label]
        body = {
            "fromObjectTypeId": from_type.type_id,
            "fromObjectId": int(from_id),
            "toObjectTypeId": to_type.type_id,
            "toObjectId": int(to_id),
            "labels": labels,
        }
        return HubSpotJSONResponse(body, status_code=201)

    async def remove_association(self, request: Request) -> Response:
        from_type, to_type = self._types(request)
        require_scope(api_call(request).grant, from_type.write_scope)

        from_key = (from_type.name, request.path_params["object_id"])
        self.state.dissociate(from_key, (to_type.name, request.path_params["to_id"]))
        return Response(status_code=204)

    def _types(self, request: Request) -> tuple[ObjectType, ObjectType]:
        return (
            require_object_type(request.path_params["object_type"]),
            require_object_type(request.path_params["to_type"]),
        )

    def _require_records(self, from_type, from_id, to_type, to_id) -> None:
        invalid = []
        if self.state.get_object(from_type, from_id) is None:
            invalid.append((from_type.label, from_id))
        if self.state.get_object(to_type, to_id) is None:
            invalid.append((to_type.label, to_id))
        if invalid:
            raise invalid_associations(invalid)


def _default_result(from_id: str, to_id: str, type_id: int) -> dict:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": HUBSPOT_DEFINED, "associationTypeId": type_id},
    }


def _missing_fields(associations: list[dict]) -> list[str]:
    missing: list[str] = []
    for association in associations:
        to = association.get("to")
        if not isinstance(to, dict):
            missing.append("to")
        elif to.get("id") in (None, ""):
            missing.append("id")
        types = association.get("types")
        if not isinstance(types, list) or not all(isinstance(spec, dict) for spec in types):
            missing.append("types")
        else:
            missing += _missing_spec_fields(types)
    return list(dict.fromkeys(missing))


def _missing_spec_fields(specs: list[dict]) -> list[str]:
    missing = []
    for spec in specs:
        for field in ("associationCategory", "associationTypeId"):
            if spec.get(field) is None:
                missing.append(field)
    return list(dict.fromkeys(missing))


def _type_id(spec: dict) -> int:
    """A spec's type id, if HubSpot defines it; user labels do not exist in a fresh portal."""
    category = spec["associationCategory"]
    raw_type_id = spec["associationTypeId"]
    try:
        type_id = int(raw_type_id)
    except (TypeError, ValueError) as error:
        raise validation_error(f"associationTypeId {raw_type_id!r} is not a number") from error
    if category not in CATEGORIES:
        raise validation_error(
            f"associationCategory {category!r} is not one of {', '.join(CATEGORIES)}"
        )
    if category != HUBSPOT_DEFINED or type_id not in ASSOCIATION_TYPES:
        raise validation_error(f"Association type {category}={type_id} does not exist in portal")
    return type_id
