"""CRM search: filter groups (ORed) of filters (ANDed), one sort, offset paging.

Limits follow the search guide (reference section 3.2): 5 groups, 6 filters a group, 18 in all,
pages of at most 200, no paging past 10,000 results. Unlike HubSpot, new records are searchable at
once: there is no indexing lag.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from .errors import validation_error
from .schema import ObjectType, PropertyDefinition, resolve_object_type
from .state import CrmObject, FakeState
from .validation import as_text, parse_moment

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
MAX_RESULTS = 10_000
QUERY_PROPERTIES = ("email", "firstname", "lastname", "phone", "company", "dealname", "name")

Predicate = Callable[[CrmObject], bool]


def search_records(state: FakeState, object_type: ObjectType, body: dict) -> dict:
    groups = _compile_groups(state, object_type, body.get("filterGroups") or [])
    query = body.get("query")
    limit, after = _page(body)

    matches = [
        record
        for record in state.objects[object_type.name].values()
        if _matches_any(record, groups) and _matches_query(record, query)
    ]
    _sort(state, object_type, matches, body.get("sorts") or [])

    names = list(
        dict.fromkeys(
            [*(body.get("properties") or object_type.default_read), *object_type.always_read]
        )
    )
    page = matches[after : after + limit]
    response: dict = {"total": len(matches), "results": [record.to_json(names) for record in page]}
    if after + limit < len(matches):
        response["paging"] = {"next": {"after": str(after + limit)}}
    return response


def _compile_groups(state: FakeState, object_type: ObjectType, groups) -> list[list[Predicate]]:
    if not isinstance(groups, list):
        raise validation_error("Invalid input JSON: `filterGroups` must be a list")
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Too many filter groups ({len(groups)}); at most {MAX_GROUPS}")
    total = 0
    compiled = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation_error("Invalid input JSON: each filter group needs a `filters` list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a group ({len(filters)}); at most {MAX_FILTERS_PER_GROUP}"
            )
        total += len(filters)
        compiled.append([_compile_filter(state, object_type, spec) for spec in filters])
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters ({total}); at most {MAX_FILTERS} in all")
    return compiled


def _compile_filter(state: FakeState, object_type: ObjectType, spec) -> Predicate:
    if not isinstance(spec, dict) or not spec.get("propertyName"):
        raise validation_error("Invalid input JSON: a filter needs `propertyName` and `operator`")
    name = spec["propertyName"]
    operator = spec.get("operator", "EQ")

    if name.startswith("associations."):
        return _association_filter(state, object_type, name, operator, spec)

    definition = state.property(object_type, name)
    if definition is None:
        raise validation_error(f'Property "{name}" does not exist')
    key = _comparable_key(definition)

    def value_of(record: CrmObject):
        stored = record.properties.get(name)
        return None if stored is None else key(stored)

    if operator == "HAS_PROPERTY":
        return lambda record: record.properties.get(name) not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return lambda record: record.properties.get(name) in (None, "")
    if operator in ("IN", "NOT_IN"):
        wanted = {key(as_text(name, value)) for value in spec.get("values") or []}
        if operator == "IN":
            return lambda record: value_of(record) in wanted
        return lambda record: value_of(record) not in wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = as_text(name, spec.get("value")).lower()
        contains = _token_matcher(pattern)
        if operator == "CONTAINS_TOKEN":
            return lambda record: contains(record.properties.get(name) or "")
        return lambda record: not contains(record.properties.get(name) or "")

    target = key(as_text(name, spec.get("value")))
    if operator == "BETWEEN":
        high = key(as_text(name, spec.get("highValue")))
        return lambda record: _compare(value_of(record), lambda v: target <= v <= high)
    if operator == "NEQ":
        return lambda record: value_of(record) != target
    comparisons = {
        "EQ": lambda v: v == target,
        "LT": lambda v: v < target,
        "LTE": lambda v: v <= target,
        "GT": lambda v: v > target,
        "GTE": lambda v: v >= target,
    }
    if operator not in comparisons:
        raise validation_error(f"Unknown filter operator: {operator}")
    return lambda record: _compare(value_of(record), comparisons[operator])


def _association_filter(state, object_type, name, operator, spec) -> Predicate:
    """`associations.contact EQ 123`: records associated with that record."""
    to_type = resolve_object_type(name.split(".", 1)[1])
    if to_type is None or operator not in ("EQ", "IN"):
        raise validation_error(f"Unsupported association filter: {name} {operator}")
    values = spec.get("values") if operator == "IN" else [spec.get("value")]
    wanted = {(to_type.name, str(value)) for value in values or []}

    def associated(record: CrmObject) -> bool:
        links = state.associations.get((object_type.name, record.id), {})
        return not wanted.isdisjoint(links)

    return associated


def _comparable_key(definition: PropertyDefinition):
    """Numbers compare as numbers, dates as instants, everything else case-insensitively."""
    if definition.type == "number":
        return _as_float
    if definition.type in ("date", "datetime"):
        return _as_epoch_ms
    return str.lower


def _as_float(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _as_epoch_ms(text: str):
    moment = parse_moment(text)
    return moment.timestamp() * 1000 if moment is not None else text


def _compare(value, check) -> bool:
    if value is None:
        return False
    try:
        return check(value)
    except TypeError:
        return False


def _token_matcher(pattern: str) -> Callable[[str], bool]:
    if "*" in pattern:
        return lambda text: any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(text))
    return lambda text: pattern in _tokens(text)


def _tokens(text: str) -> list[str]:
    return [token for token in re.split(r"[^\w@.+-]+", text.lower()) if token] + [text.lower()]


def _matches_any(record: CrmObject, groups: list[list[Predicate]]) -> bool:
    if not groups:
        return True
    return any(all(predicate(record) for predicate in group) for group in groups)


def _matches_query(record: CrmObject, query) -> bool:
    if not query:
        return True
    needle = str(query).lower()
    return any(needle in (record.properties.get(name) or "").lower() for name in QUERY_PROPERTIES)


def _page(body: dict) -> tuple[int, int]:
    try:
        limit = int(body.get("limit") or DEFAULT_LIMIT)
        after = int(body.get("after") or 0)
    except (TypeError, ValueError) as error:
        raise validation_error("`limit` and `after` must be numbers") from error
    if not 0 < limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}")
    if after + limit > MAX_RESULTS:
        raise validation_error(f"Paging past {MAX_RESULTS} results is not supported")
    return limit, after


def _sort(state: FakeState, object_type: ObjectType, records: list[CrmObject], sorts) -> None:
    records.sort(key=lambda record: int(record.id))
    if not sorts:
        return
    sort = sorts[0]
    if isinstance(sort, str):
        name, descending = sort.lstrip("-"), sort.startswith("-")
    else:
        name, descending = sort.get("propertyName"), sort.get("direction") == "DESCENDING"
    definition = state.property(object_type, name)
    if definition is None:
        raise validation_error(f'Property "{name}" does not exist')
    key = _comparable_key(definition)

    present = [record for record in records if record.properties.get(name) is not None]
    absent = [record for record in records if record.properties.get(name) is None]

    def sort_key(record: CrmObject):
        value = key(record.properties[name])
        return (isinstance(value, str), value)

    present.sort(key=sort_key, reverse=descending)
    records[:] = present + absent
