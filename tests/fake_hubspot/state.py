"""The fake portal's whole state, in memory: tokens, records, associations, properties, and the
bookkeeping of the fake itself (request log, stats, faults, rate limiter)."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from .auth import TokenGrant
from .faults import FaultQueue
from .oauth import OAuthBook
from .pipelines import default_pipelines
from .ratelimit import DEFAULT_INTERVAL_MS, RateLimiter
from .schema import (
    DEFAULT_CURRENCIES,
    DEFAULT_GROUPS,
    DEFAULT_PORTAL_ID,
    OBJECT_TYPES,
    ObjectType,
    PropertyDefinition,
    currency_options,
    default_properties,
)

REQUEST_LOG_SIZE = 10_000
# Real record ids are large; starting past 2**31 catches clients that keep ids in 32-bit ints.
FIRST_OBJECT_ID = 3_000_000_001


@dataclass
class CrmObject:
    id: str
    object_type: ObjectType
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False

    def to_json(self, property_names: Iterable[str] | None = None) -> dict:
        """HubSpot's SimplePublicObject; all stored values unless names are asked for."""
        properties: dict[str, str | None]
        if property_names is None:
            properties = dict(self.properties)
        else:
            properties = {name: self.properties.get(name) for name in property_names}
        return {
            "id": self.id,
            "properties": properties,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }


@dataclass
class RequestRecord:
    method: str
    path: str
    query_string: bytes
    raw_body: bytes
    token: str | None
    correlation_id: str
    at: float = field(default_factory=time.time)
    status: int | None = None
    fault: str | None = None

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True)),
            "body": _decode_body(self.raw_body),
            "status": self.status,
            "token": self.token,
            "correlation_id": self.correlation_id,
            "fault": self.fault,
            "at": self.at,
        }


@dataclass
class Stats:
    requests: int = 0
    rate_limited: int = 0
    dropped: int = 0
    by_status: Counter = field(default_factory=Counter)

    def count_response(self, status: int) -> None:
        self.by_status[status] += 1
        if status == 429:
            self.rate_limited += 1

    def to_json(self) -> dict:
        return {
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "dropped": self.dropped,
            "by_status": {str(status): count for status, count in sorted(self.by_status.items())},
        }


class FakeState:
    """Everything the fake remembers. `reset()` returns to the state it was started with."""

    def __init__(
        self,
        tokens: Iterable[str] = (),
        rate_limit: tuple[int, int] | None = None,
        portal_id: int = DEFAULT_PORTAL_ID,
    ) -> None:
        self.portal_id = portal_id
        self._startup_tokens = tuple(tokens)
        self._startup_rate_limit = rate_limit
        self.reset()

    def reset(self) -> None:
        self.tokens = {token: TokenGrant(token) for token in self._startup_tokens}
        self.currencies = list(DEFAULT_CURRENCIES)
        self.objects: dict[str, dict[str, CrmObject]] = {name: {} for name in OBJECT_TYPES}
        self.contact_ids_by_email: dict[str, str] = {}
        self.associations: dict[tuple[str, str], dict[tuple[str, str], list[int]]] = {}
        self.properties = {name: default_properties(name, self.currencies) for name in OBJECT_TYPES}
        self.groups = {name: dict(groups) for name, groups in DEFAULT_GROUPS.items()}
        self.pipelines = default_pipelines()
        self.requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self.stats = Stats()
        self.faults = FaultQueue()
        max_requests, interval_ms = self._startup_rate_limit or (None, DEFAULT_INTERVAL_MS)
        self.limiter = RateLimiter(max_requests, interval_ms)
        self._next_id = FIRST_OBJECT_ID
        self.oauth = OAuthBook()

    # tokens and portal settings

    def add_token(
        self,
        token: str,
        scopes: Iterable[str] | None,
        oauth: bool = False,
        expires_in_s: float | None = None,
    ) -> TokenGrant:
        expires_at = time.time() + expires_in_s if expires_in_s is not None else None
        scope_set = frozenset(scopes) if scopes is not None else None
        grant = TokenGrant(token, scope_set, oauth, expires_at)
        self.tokens[token] = grant
        return grant

    def remove_token(self, token: str) -> bool:
        return self.tokens.pop(token, None) is not None

    def set_currencies(self, codes: Iterable[str]) -> None:
        self.currencies = [code.upper() for code in codes]
        self.properties["deals"]["deal_currency_code"].options = currency_options(self.currencies)

    # records

    def create_object(self, object_type: ObjectType, properties: dict[str, str]) -> CrmObject:
        object_id = str(self._next_id)
        self._next_id += 1
        now = now_iso()
        stored = {key: value for key, value in properties.items() if value != ""}
        stored.update(
            {
                "hs_object_id": object_id,
                object_type.created_property: now,
                object_type.modified_property: now,
            }
        )
        if object_type.modified_property != "hs_lastmodifieddate":
            stored["hs_lastmodifieddate"] = now
        record = CrmObject(object_id, object_type, stored, now, now)
        self.objects[object_type.name][object_id] = record
        self._index_email(record)
        return record

    def update_object(self, record: CrmObject, properties: dict[str, str]) -> CrmObject:
        self._unindex_email(record)
        for key, value in properties.items():
            if value == "":
                record.properties.pop(key, None)
            else:
                record.properties[key] = value
        now = now_iso()
        record.updated_at = now
        record.properties[record.object_type.modified_property] = now
        record.properties["hs_lastmodifieddate"] = now
        self._index_email(record)
        return record

    def archive_object(self, record: CrmObject) -> None:
        self._unindex_email(record)
        record.archived = True
        del self.objects[record.object_type.name][record.id]
        links = self.associations.pop((record.object_type.name, record.id), {})
        for other in links:
            self.associations.get(other, {}).pop((record.object_type.name, record.id), None)

    def get_object(self, object_type: ObjectType, object_id: str) -> CrmObject | None:
        return self.objects[object_type.name].get(object_id)

    def find_object(self, object_type: ObjectType, value: str, id_property: str | None):
        """The live record whose `id_property` (default: the record id) equals `value`."""
        if id_property in (None, "hs_object_id"):
            return self.get_object(object_type, value)
        if object_type.name == "contacts" and id_property == "email":
            object_id = self.contact_ids_by_email.get(value.lower())
            return self.get_object(object_type, object_id) if object_id else None
        for record in self.objects[object_type.name].values():
            if record.properties.get(id_property) == value:
                return record
        return None

    def contact_id_for_email(self, email: str) -> str | None:
        return self.contact_ids_by_email.get(email.lower())

    # associations

    def associate(self, from_key: tuple[str, str], to_key: tuple[str, str], type_ids) -> None:
        known = self.associations.setdefault(from_key, {}).setdefault(to_key, [])
        for type_id in type_ids:
            if type_id not in known:
                known.append(type_id)

    def dissociate(self, from_key: tuple[str, str], to_key: tuple[str, str]) -> None:
        self.associations.get(from_key, {}).pop(to_key, None)
        self.associations.get(to_key, {}).pop(from_key, None)

    def associations_of(self, from_key: tuple[str, str], to_type: str) -> dict[str, list[int]]:
        links = self.associations.get(from_key, {})
        return {to_id: type_ids for (kind, to_id), type_ids in links.items() if kind == to_type}

    # properties

    def property(self, object_type: ObjectType, name: str) -> PropertyDefinition | None:
        return self.properties[object_type.name].get(name)

    # the control API's view

    def dump_objects(self, object_type: ObjectType) -> list[dict]:
        dumped = []
        for record in self.objects[object_type.name].values():
            body = record.to_json()
            links: dict[str, list[str]] = {}
            for kind, to_id in self.associations.get((object_type.name, record.id), {}):
                links.setdefault(kind, []).append(to_id)
            body["associations"] = links
            dumped.append(body)
        return dumped

    def _index_email(self, record: CrmObject) -> None:
        email = record.properties.get("email")
        if record.object_type.name == "contacts" and email:
            self.contact_ids_by_email[email.lower()] = record.id

    def _unindex_email(self, record: CrmObject) -> None:
        email = record.properties.get("email")
        if record.object_type.name == "contacts" and email:
            self.contact_ids_by_email.pop(email.lower(), None)


def now_iso() -> str:
    """Now in the form HubSpot's timestamps take (Java's Instant: milliseconds, `Z`)."""
    return format_instant(datetime.now(UTC))


def format_instant(moment: datetime) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    milliseconds = moment.microsecond // 1000
    return f"{text}.{milliseconds:03d}Z" if milliseconds else f"{text}Z"


def _decode_body(raw_body: bytes):
    if not raw_body:
        return None
    try:
        return json.loads(raw_body)
    except ValueError:
        return raw_body.decode("utf-8", errors="replace")
