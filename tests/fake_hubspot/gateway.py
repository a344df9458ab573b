"""The door every HubSpot API request passes: log it, apply an injected fault, authenticate, rate
limit, then hand it to the routes, stamping HubSpot's headers on whatever they answer.

A pure ASGI middleware, so a dropped connection can be dropped before any response starts and the
throughput benchmark pays for no extra layers.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import TokenGrant, bearer_token
from .errors import (
    HubSpotError,
    expired_authentication,
    invalid_json,
    new_correlation_id,
    status_error,
    unauthorized,
)
from .faults import Fault, drop_connection
from .ratelimit import rate_limit_body
from .responses import HubSpotJSONResponse
from .state import FakeState, RequestRecord, format_instant

CONTROL_PREFIX = "/_fake"
OAUTH_PREFIX = "/oauth/"
CALL_SCOPE_KEY = "fake_hubspot.call"
_ANONYMOUS = TokenGrant("")
_UNPARSED = object()


@dataclass
class ApiCall:
    """What the gateway learnt about a request, for the route that answers it."""

    correlation_id: str
    raw_body: bytes
    grant: TokenGrant = _ANONYMOUS
    _parsed: object = _UNPARSED

    def json(self):
        """The body as JSON (parsed once), or HubSpot's 400 for a body that is not JSON."""
        if self._parsed is _UNPARSED:
            if not self.raw_body.strip():
                raise HubSpotError(
                    400,
                    "VALIDATION_ERROR",
                    "Invalid input JSON on line 1, column 1: No content to map due to end-of-input",
                )
            try:
                self._parsed = json.loads(self.raw_body)
            except json.JSONDecodeError as error:
                raise invalid_json(error) from error
            except UnicodeDecodeError as error:
                raise HubSpotError(
                    400, "VALIDATION_ERROR", "Invalid input JSON: not UTF-8"
                ) from error
        return self._parsed

    def json_object(self) -> dict:
        body = self.json()
        if not isinstance(body, dict):
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                "Invalid input JSON on line 1, column 1: expected an object",
            )
        return body


def api_call(request: Request) -> ApiCall:
    return request.scope[CALL_SCOPE_KEY]


def is_api_path(path: str) -> bool:
    return not (path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"))


def is_oauth_path(path: str) -> bool:
    return path.startswith(OAUTH_PREFIX)


def is_search_path(path: str) -> bool:
    """CRM search has its own limit and answers without rate-limit headers (reference 1.3)."""
    return path.startswith("/crm/") and path.rstrip("/").endswith("/search")


class ApiGateway:
    def __init__(self, app: ASGIApp, state: FakeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        raw_body = await _read_body(receive)
        call, record = self._record_request(scope, raw_body)
        stamped = _StampedSend(send, call.correlation_id, record, self.state)

        fault = self.state.faults.take(scope["method"], scope["path"])
        if fault is not None:
            record.fault = fault.kind
            if await self._apply_fault(scope, receive, stamped, fault, call, record.token):
                return

        if is_oauth_path(scope["path"]):
            # The authorize page and the token endpoints take no bearer token and have no
            # API rate limit; the client's credentials travel in the form (reference section 4).
            scope[CALL_SCOPE_KEY] = call
            await self.app(scope, _replay(raw_body, receive), stamped)
            return

        grant, error = self._authenticate(record.token)
        if error is not None:
            await _answer_error(scope, receive, stamped, error, call.correlation_id)
            return

        call.grant = grant
        admission = self.state.limiter.admit(grant, is_search=is_search_path(scope["path"]))
        stamped.headers = admission.headers
        if admission.policy is not None:
            body = rate_limit_body(
                admission.policy, call.correlation_id, self.state.portal_id, grant
            )
            await HubSpotJSONResponse(body, status_code=429)(scope, receive, stamped)
            return

        scope[CALL_SCOPE_KEY] = call
        await self.app(scope, _replay(raw_body, receive), stamped)

    def _record_request(self, scope: Scope, raw_body: bytes) -> tuple[ApiCall, RequestRecord]:
        call = ApiCall(new_correlation_id(), raw_body)
        record = RequestRecord(
            method=scope["method"],
            path=scope["path"],
            query_string=scope["query_string"],
            raw_body=raw_body,
            token=bearer_token(scope["headers"]),
            correlation_id=call.correlation_id,
        )
        self.state.requests.append(record)
        self.state.stats.requests += 1
        return call, record

    async def _apply_fault(
        self,
        scope: Scope,
        receive: Receive,
        send: _StampedSend,
        fault: Fault,
        call: ApiCall,
        token: str | None,
    ) -> bool:
        """Act out a fault; True when it answered (or dropped) the request itself."""
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            return False
        if fault.kind == "drop":
            self.state.stats.dropped += 1
            await drop_connection(receive)
            return True

        limiter = self.state.limiter
        grant = self.state.tokens.get(token) if token is not None else None
        if fault.kind == "rate_limit":
            send.headers = limiter.refusal_headers(grant or _ANONYMOUS, fault.policy)
            send.headers += fault.retry_after_header()
            body = rate_limit_body(fault.policy, call.correlation_id, self.state.portal_id, grant)
            await HubSpotJSONResponse(body, status_code=429)(scope, receive, send)
            return True

        if grant is not None and not is_search_path(scope["path"]):
            send.headers = limiter.current_headers(grant)
        send.headers += fault.retry_after_header()
        error = status_error(fault.status, fault.message, fault.category)
        await _answer_error(scope, receive, send, error, call.correlation_id)
        return True

    def _authenticate(self, token: str | None) -> tuple[TokenGrant, HubSpotError | None]:
        """The token's grant, or the 401 HubSpot gives for a missing, unknown or expired one."""
        grant = self.state.tokens.get(token) if token is not None else None
        if grant is None:
            return _ANONYMOUS, unauthorized()

        expired_for_s = grant.expired_for_s(time.time())
        if expired_for_s is not None:
            expired_at = format_instant(datetime.fromtimestamp(grant.expires_at or 0, UTC))
            return grant, expired_authentication(expired_for_s, expired_at)
        return grant, None


class _StampedSend:
    """Adds the correlation id and rate-limit headers to the response, and records its status."""

    def __init__(self, send: Send, correlation_id: str, record: RequestRecord, state: FakeState):
        self._send = send
        self._correlation_id = correlation_id.encode()
        self._record = record
        self._state = state
        self.headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            self._record.status = status
            self._state.stats.count_response(status)
            headers = list(message.get("headers", ()))
            headers.append((b"x-hubspot-correlation-id", self._correlation_id))
            headers.extend(self.headers)
            message = {**message, "headers": headers}
        await self._send(message)


async def _answer_error(
    scope: Scope, receive: Receive, send: Send, error: HubSpotError, correlation_id: str
) -> None:
    response = HubSpotJSONResponse(
        error.body(correlation_id), status_code=error.status_code, headers=error.headers
    )
    await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(raw_body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the routes the body already read, then defers to the server."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": raw_body, "more_body": False}
        return await receive()

    return replay
