"""Sending a handler's request to HubSpot: destination, credentials, contact references, conflicts.

- A request addressed to https://api.hubapi.com goes to PAYBRIDGE_HUBSPOT_API_BASE.
- The account's token is attached only when the handler addressed HubSpot's API host. It comes
  from the integration's connection (engine/connections.py), refreshed there when it is about to
  expire; a 401 to it is answered by one refresh and one retry (reference 6.8).
- `{"email": ...}` as an association target is resolved to the contact's HubSpot id.
- A contact create that meets 409 "Contact already exists" updates that contact instead, when
  the integration's `on_conflict` is `update` (../shared/reference/hubspot-api.md, 6.1).
- A contact update by email (`.../contacts/{email}?idProperty=email`) that meets 404 creates the
  contact instead, when the integration's `on_missing` is `create` (reference 2.3, 404).
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import redis

from engine.storage import Credentials

from . import outcomes

HUBSPOT_API_HOST = "api.hubapi.com"
HUBSPOT_API_ORIGIN = "https://api.hubapi.com"
CONTACTS_PATH = "/crm/v3/objects/contacts"
CONTACT_CACHE_S = 300
RESPONSE_BODY_LIMIT_BYTES = 4096


class Throttled(Exception):  # noqa: N818 - a signal to reschedule, not a failure
    """The rate limiter has no slot for this request now; try again after `wait_s`."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(f"rate limited for {wait_s:.2f} s")


@dataclasses.dataclass
class Exchange:
    """One HTTP request paybridge made and what came back (no credentials in it)."""

    method: str
    url: str
    body: Any
    status: int | None = None
    response_body: str | None = None
    error: str | None = None
    duration_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "request": {"method": self.method, "url": self.url, "body": self.body},
            "response": None
            if self.status is None
            else {"status": self.status, "body": self.response_body},
            "error": self.error,
            "duration_ms": round(self.duration_ms, 3),
        }


class HubSpotSender:
    def __init__(
        self,
        http: httpx.Client,
        cache: redis.Redis,
        api_base: str,
        acquire: Callable[[], float],
        credentials: Credentials | None,
        account: str,
    ) -> None:
        self.http = http
        self.cache = cache
        self.api_base = api_base.rstrip("/")
        self.acquire = acquire
        self.credentials = credentials
        self.account = account
        self.exchanges: list[Exchange] = []
        self._renewed = False

    def send(
        self, request: dict[str, Any], on_conflict: str, on_missing: str = "create"
    ) -> outcomes.Outcome:
        """Deliver the request; return what it came to. Raises Throttled before any send."""
        body = request.get("body")
        unresolved = self._resolve_contacts(body)
        if unresolved:
            return unresolved

        outcome, response = self._exchange(request["method"], request["url"], body, request)
        if (
            response is not None
            and response.status_code == 409
            and on_conflict == "update"
            and _is_contact_create(request)
        ):
            contact_id = outcomes.existing_id(outcomes.parse_body(response))
            if contact_id:
                update = {"properties": (body or {}).get("properties", {})}
                url = f"{HUBSPOT_API_ORIGIN}{CONTACTS_PATH}/{contact_id}"
                outcome, _ = self._exchange("PATCH", url, update, request)
        email = _email_of_contact_update(request)
        if (
            response is not None
            and response.status_code == 404
            and on_missing == "create"
            and email
        ):
            properties = {**((body or {}).get("properties") or {}), "email": email}
            url = f"{HUBSPOT_API_ORIGIN}{CONTACTS_PATH}"
            outcome, _ = self._exchange("POST", url, {"properties": properties}, request)
        return outcome

    def _exchange(
        self, method: str, url: str, body: Any, request: dict[str, Any]
    ) -> tuple[outcomes.Outcome, httpx.Response | None]:
        wait_s = self.acquire()
        if wait_s > 0:
            raise Throttled(wait_s)

        target, headers, token = self._destination(url, request.get("headers") or {})
        exchange = Exchange(method, url, body)
        self.exchanges.append(exchange)
        started = time.perf_counter()
        try:
            response = self.http.request(
                method,
                target,
                headers=headers,
                content=None if method in ("GET", "DELETE") else _json_bytes(body),
            )
        except httpx.HTTPError as error:
            exchange.duration_ms = (time.perf_counter() - started) * 1000
            outcome = outcomes.network_error(error)
            exchange.error = outcome.reason
            return outcome, None
        exchange.duration_ms = (time.perf_counter() - started) * 1000
        exchange.status = response.status_code
        exchange.response_body = _truncate(response.text)
        if response.status_code == 401 and token is not None and self._renew(token):
            return self._exchange(method, url, body, request)
        return outcomes.classify(response), response

    def _renew(self, rejected: str) -> bool:
        """After a 401: one refresh of an OAuth token per attempt; True to send again."""
        if self._renewed or self.credentials is None:
            return False
        self._renewed = True
        return self.credentials.renew(rejected) is not None

    def _destination(
        self, url: str, extra: dict[str, str]
    ) -> tuple[str, dict[str, str], str | None]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **extra}
        parts = urllib.parse.urlsplit(url)
        if (parts.hostname or "").lower() != HUBSPOT_API_HOST:
            return url, headers, None
        token = self.credentials.token() if self.credentials is not None else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.api_base + path, headers, token

    def _resolve_contacts(self, body: Any) -> outcomes.Outcome | None:
        """Replace `{"email": ...}` association targets with HubSpot contact ids, in place."""
        associations = body.get("associations") if isinstance(body, dict) else None
        for association in associations if isinstance(associations, list) else []:
            target = association.get("to") if isinstance(association, dict) else None
            if not (isinstance(target, dict) and "email" in target and "id" not in target):
                continue
            email = str(target["email"]).strip().lower()
            contact_id = self._contact_id(email)
            if isinstance(contact_id, outcomes.Outcome):
                return contact_id
            association["to"] = {"id": contact_id}
        return None

    def _contact_id(self, email: str) -> str | outcomes.Outcome:
        cache_key = f"pb:contact:{self.account}:{email}"
        cached = self.cache.get(cache_key)
        if cached is not None:
            return cached.decode() if isinstance(cached, bytes) else str(cached)

        quoted = urllib.parse.quote(email, safe="@")
        url = f"{HUBSPOT_API_ORIGIN}{CONTACTS_PATH}/{quoted}?idProperty=email"
        outcome, response = self._exchange("GET", url, None, {})
        if response is None or outcome.kind != outcomes.DELIVERED:
            if response is not None and response.status_code == 404:
                reason = f"no HubSpot contact with email {email!r} yet (association target)"
                return outcomes.Outcome(outcomes.RETRY, reason, status_code=404)
            return outcome
        contact_id = str(outcomes.parse_body(response).get("id"))
        self.cache.set(cache_key, contact_id, ex=CONTACT_CACHE_S)
        return contact_id


def _is_contact_create(request: dict[str, Any]) -> bool:
    parts = urllib.parse.urlsplit(request["url"])
    return request["method"] == "POST" and parts.path.rstrip("/") == CONTACTS_PATH


def _email_of_contact_update(request: dict[str, Any]) -> str | None:
    """The email of a `PATCH .../contacts/{email}?idProperty=email`, else None."""
    parts = urllib.parse.urlsplit(request["url"])
    record = parts.path.rstrip("/").removeprefix(CONTACTS_PATH + "/")
    query = dict(urllib.parse.parse_qsl(parts.query))
    if request["method"] != "PATCH" or record == parts.path.rstrip("/") or "/" in record:
        return None
    if query.get("idProperty") != "email":
        return None
    return urllib.parse.unquote(record)


def _json_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _truncate(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= RESPONSE_BODY_LIMIT_BYTES:
        return text
    kept = data[:RESPONSE_BODY_LIMIT_BYTES].decode("utf-8", "ignore")
    return f"{kept}… [{len(data) - RESPONSE_BODY_LIMIT_BYTES} more bytes]"
