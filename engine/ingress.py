"""`POST /webhooks/{integration_id}`: Dodo's signed events in, stored and enqueued, fast.

Signatures follow Standard Webhooks and are checked by the `standardwebhooks` library over
the raw body. That library raises ValueError or binascii.Error, not only its own error, on a
malformed header (../shared/reference/dodo-webhooks.md 3.3), so every failure to verify is a
401. Nothing is stored for a rejected request.

Ingress is the one path every event takes, so it is kept short: it is routed before the
console's middleware (sessions, CSRF, page headers: none applies to Dodo's requests), reads the
signing secret through a cache of a few seconds, and stores events with one Redis round trip
per batch of the events that arrive together (each event still deduplicated, stored and
enqueued atomically).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import redis
from standardwebhooks.webhooks import Webhook
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .jsontext import JSONRejected, read_json
from .responses import error_response, read_limited
from .storage import Gone, NotFound, PreparedEvent, Storage

logger = logging.getLogger("paybridge.ingress")

# A signing secret changed through the API is used by every web process within this time; an
# event signed with the new secret meanwhile is checked again against a fresh read.
SECRET_CACHE_S = 5.0
SECRET_CACHE_ENTRIES = 10_000
PATH_PREFIX = "/webhooks/"
_PATH = re.compile(r"/webhooks/([^/]+)")
USAGE = "events are POSTed to /webhooks/{integration_id}"
# At most this many events share one Redis round trip.
MAX_BATCH = 64


class IngressFirst:
    """ASGI middleware: requests under /webhooks/ go straight to ingress, all else on inward."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        matched = _PATH.fullmatch(scope["path"])
        response: Response
        if matched is None:
            response = error_response(404, "not_found", USAGE)
        elif scope["method"] != "POST":
            response = error_response(405, "method_not_allowed", USAGE)
        else:
            scope["path_params"] = {"integration_id": matched[1]}
            response = await receive_webhook(Request(scope, receive))
        await response(scope, receive, send)


async def receive_webhook(request: Request) -> Response:
    state = request.app.state
    limit = state.settings.max_event_bytes
    integration_id = request.path_params["integration_id"]

    body = await read_limited(request, limit)
    if body is None:
        return error_response(413, "too_large", f"events are limited to {limit} bytes")

    try:
        return await _verify_and_store(state, integration_id, body, dict(request.headers))
    except redis.RedisError as error:
        return error_response(503, "storage_unavailable", f"storage is unavailable: {error}")


async def _verify_and_store(
    state: Any, integration_id: str, body: bytes, headers: dict[str, str]
) -> Response:
    try:
        await _verify(state.signing_secrets, integration_id, body, headers)
    except NotFound:
        return error_response(404, "not_found", f"no integration {integration_id!r}")
    except redis.RedisError:
        raise  # a 503 from the caller: storage is down, not the signature wrong
    except Exception as error:  # noqa: BLE001 - every verification failure is a 401
        logger.info("rejected webhook for %s: %s", integration_id, type(error).__name__)
        return error_response(401, "bad_signature", f"signature check failed: {error}")

    try:
        event = read_json(body)
    except JSONRejected as error:
        return error_response(400, "malformed", f"the event body is not JSON: {error}")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return error_response(400, "malformed", "the event must be a JSON object with a type")

    prepared = state.storage.prepare_event(integration_id, headers["webhook-id"], body, event)
    outcome = await state.event_writer.write(prepared)
    if isinstance(outcome, Gone):
        return error_response(404, "not_found", f"no integration {integration_id!r}")
    delivery_id, created = outcome
    return JSONResponse(
        {"delivery_id": delivery_id, "duplicate": not created}, 202 if created else 200
    )


async def _verify(
    secrets: SigningSecrets, integration_id: str, body: bytes, headers: dict[str, str]
) -> None:
    verifier, cached = await secrets.get(integration_id)
    try:
        verifier.verify(body, headers, json_parse=False)
    except Exception:
        if not cached:
            raise
        # The secret may have been replaced since it was cached: check once more, afresh.
        verifier, _ = await secrets.get(integration_id, fresh=True)
        verifier.verify(body, headers, json_parse=False)


class EventWriter:
    """Stores events in batches: while one batch is being written, events that arrive wait for
    the next, so that under load one Redis round trip carries many events, and an event that
    arrives alone is written at once."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._waiting: list[tuple[PreparedEvent, asyncio.Future[Any]]] = []
        self._writing = False

    async def write(self, prepared: PreparedEvent) -> tuple[str, bool] | Gone:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((prepared, future))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                await self._write_batch(batch)
        finally:
            self._writing = False

    async def _write_batch(self, batch: list[tuple[PreparedEvent, asyncio.Future[Any]]]) -> None:
        events = [prepared for prepared, _ in batch]
        try:
            outcomes = await run_in_threadpool(self.storage.accept_events, events)
        except Exception as error:  # noqa: BLE001 - each request waiting on it answers with it
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)


class SigningSecrets:
    """Integrations' signature checkers, from the signing secrets in storage, kept for
    SECRET_CACHE_S."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._cached: dict[str, tuple[Webhook, float]] = {}

    async def get(self, integration_id: str, fresh: bool = False) -> tuple[Webhook, bool]:
        """(checker, whether it came from the cache); NotFound for an unknown integration."""
        now = time.monotonic()
        entry = None if fresh else self._cached.get(integration_id)
        if entry is not None and entry[1] > now:
            return entry[0], True
        secret = await run_in_threadpool(self.storage.signing_secret, integration_id)
        verifier = Webhook(secret)
        if len(self._cached) >= SECRET_CACHE_ENTRIES:
            self._cached.clear()
        self._cached[integration_id] = (verifier, now + SECRET_CACHE_S)
        return verifier, False
