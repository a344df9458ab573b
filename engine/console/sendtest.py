"""The console's "Send test": run the handler on the test event and send its request to HubSpot.

This is the one write to HubSpot a request handler may make (DESIGN.md, "Parts"): the owner
asks for it explicitly. It goes to HubSpot's API host only, with the token typed in the form or
the integration's stored one, and nothing is recorded as a delivery.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

import transforms
from sandbox import check_handler, compile_error

from ..connections import token_for_request
from ..responses import APIError
from ..settings import HUBSPOT_API_BASE, HUBSPOT_API_HOST
from ..storage import NotFound

SEND_TIMEOUT_S = 10.0
RESPONSE_LIMIT_BYTES = 4096


async def send_test(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("code")
    if not isinstance(code, str):
        raise APIError(422, "invalid", "code must be the handler's source text", field="code")
    event = _event(body)
    token = await run_in_threadpool(_token, request, body)

    settings = request.app.state.settings
    problems = check_handler(code, request.app.state.pool_limits)
    if problems:
        return {"sent": False, "result": {"error": compile_error(problems)}, "response": None}
    pool = await run_in_threadpool(request.app.state.sandbox)
    result = await run_in_threadpool(pool.run, code, event, allowed_hosts=settings.allowed_hosts)
    outgoing = result.get("request")
    if result.get("error") or result.get("skipped") or not outgoing:
        return {"sent": False, "result": _public(result), "response": None}

    url = outgoing["url"]
    if (urlsplit(url).hostname or "").lower() != HUBSPOT_API_HOST:
        raise APIError(422, "invalid", f"Send test only sends to {HUBSPOT_API_HOST}", field="url")
    target = settings.hubspot_api_base + url[len(HUBSPOT_API_BASE) :]
    headers = {**(outgoing.get("headers") or {}), "Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_S) as client:
            response = await client.request(
                outgoing["method"], target, json=outgoing.get("body"), headers=headers
            )
    except httpx.HTTPError as error:
        return {"sent": True, "result": _public(result), "response": {"error": str(error)}}
    return {
        "sent": True,
        "result": _public(result),
        "response": {"status": response.status_code, "body": _body(response)},
    }


def _event(body: dict[str, Any]) -> dict[str, Any]:
    event = body.get("event")
    if isinstance(event, dict):
        return event
    try:
        return dict(transforms.sample(str(body.get("event_type") or "payment.succeeded")))
    except KeyError as error:
        raise APIError(422, "invalid", str(error.args[0]), field="event_type") from None


def _token(request: Request, body: dict[str, Any]) -> str:
    token = body.get("hubspot_token")
    if isinstance(token, str) and token.strip():
        return token.strip()
    integration_id = body.get("integration_id")
    if isinstance(integration_id, str):
        storage = request.app.state.storage
        try:
            integration = storage.get_integration(integration_id)
        except NotFound:
            integration = None
        stored = token_for_request(storage, integration) if integration else None
        if stored:
            return stored
    raise APIError(
        422, "invalid", "give a HubSpot private app token to send a test", field="hubspot_token"
    )


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result.get(key) for key in ("request", "skipped", "reason", "logs", "error")}


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text[:RESPONSE_LIMIT_BYTES]
