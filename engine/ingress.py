"""`POST /webhooks/{integration_id}`: Dodo's signed events in, stored and enqueued, fast.

Signatures follow Standard Webhooks and are checked by the `standardwebhooks` library over
the raw body. That library raises ValueError or binascii.Error, not only its own error, on a
malformed header (../shared/reference/dodo-webhooks.md 3.3), so every failure to verify is a
401. Nothing is stored for a rejected request.
"""

from __future__ import annotations

import logging

from standardwebhooks.webhooks import Webhook
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .jsontext import JSONRejected, read_json
from .responses import error_response, read_limited
from .storage import NotFound, Storage

logger = logging.getLogger("paybridge.ingress")


async def receive_webhook(request: Request) -> Response:
    storage = request.app.state.storage
    limit = request.app.state.settings.max_event_bytes
    integration_id = request.path_params["integration_id"]

    body = await read_limited(request, limit)
    if body is None:
        return error_response(413, "too_large", f"events are limited to {limit} bytes")

    # Redis calls block: in a worker thread, one event's round trips overlap the next one's.
    headers = dict(request.headers)
    return await run_in_threadpool(_verify_and_store, storage, integration_id, body, headers)


def _verify_and_store(
    storage: Storage, integration_id: str, body: bytes, headers: dict[str, str]
) -> Response:
    try:
        secret = storage.get_secrets(integration_id)["signing_secret"]
    except NotFound:
        return error_response(404, "not_found", f"no integration {integration_id!r}")

    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except Exception as error:  # noqa: BLE001 - every verification failure is a 401
        logger.info("rejected webhook for %s: %s", integration_id, type(error).__name__)
        return error_response(401, "bad_signature", f"signature check failed: {error}")
    try:
        event = read_json(body)
    except JSONRejected as error:
        return error_response(400, "malformed", f"the event body is not JSON: {error}")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return error_response(400, "malformed", "the event must be a JSON object with a type")

    webhook_id = headers["webhook-id"]
    delivery_id, created = storage.accept_event(integration_id, webhook_id, body, event)
    status = 202 if created else 200
    return JSONResponse({"delivery_id": delivery_id, "duplicate": not created}, status)


routes = [Route("/webhooks/{integration_id}", receive_webhook, methods=["POST"])]
