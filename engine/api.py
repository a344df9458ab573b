"""The JSON API (DESIGN.md, "HTTP surface"). Every call needs the API token."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import transforms
from sandbox import check_handler, compile_error

from . import oauth, preflight
from .connections import public_view, scopes_for_integration, token_for_request
from .hubspot_account import HubSpotUnreachable, TokenRejected, check_private_app_token
from .responses import APIError, api, json_body
from .settings import SettingsError, parse_rate_limit
from .storage import ON_CONFLICT, ON_MISSING, STATUSES, NoSuchVersion, NotFound

MAX_PAGE = 200
# HubSpot's refusal of a property create → (paybridge status, error code)
_HUBSPOT_REFUSALS = {
    400: (422, "hubspot_rejected"),
    401: (422, "token_rejected"),
    403: (403, "missing_scopes"),
    409: (409, "already_exists"),
}
DEFAULT_TEST_EVENT_TYPE = "payment.succeeded"


@api
async def create_integration(request: Request) -> Response:
    body = await json_body(request)
    name = _text_field(body, "name")
    code, template_id = _code_of(body)
    _check_code(request, code)
    event_types = _event_types(body.get("event_types"))
    on_conflict = _on_conflict(body.get("on_conflict", "update"))
    on_missing = _on_missing(body.get("on_missing", "create"))
    rate_limit = _rate_limit(body.get("rate_limit"))
    token = body.get("hubspot_token")
    account = await _check_token(request, token) if token is not None else None
    signing_secret = _signing_secret(body.get("signing_secret"))

    storage = request.app.state.storage
    record = storage.create_integration(
        name=name,
        code=code,
        event_types=event_types,
        hubspot_token=token,
        hubspot_account=account,
        on_conflict=on_conflict,
        on_missing=on_missing,
        rate_limit=rate_limit,
        template=template_id,
        signing_secret=signing_secret,
    )
    return JSONResponse(_integration_view(request, record), 201)


@api
async def list_integrations(request: Request) -> Response:
    records = request.app.state.storage.list_integrations()
    return JSONResponse({"integrations": [_integration_view(request, r) for r in records]})


@api
async def read_integration(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    view = _integration_view(request, record)
    view["code"] = storage.get_version(record["id"])["code"]
    view["versions"] = [
        {"version": v["version"], "created_at": v["created_at"]}
        for v in storage.list_versions(record["id"])
    ]
    return JSONResponse(view)


@api
async def update_integration(request: Request) -> Response:
    record = _integration(request)
    body = await json_body(request)
    record = await change_integration(request, record, body)
    return JSONResponse(_integration_view(request, record))


async def change_integration(
    request: Request, record: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    """Apply a PATCH body to an integration; the console's forms use this too."""
    storage = request.app.state.storage
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _text_field(body, "name")
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise APIError(422, "invalid", "enabled must be true or false", field="enabled")
        changes["enabled"] = body["enabled"]
    if "event_types" in body:
        changes["event_types"] = _event_types(body["event_types"])
    if "on_conflict" in body:
        changes["on_conflict"] = _on_conflict(body["on_conflict"])
    if "on_missing" in body:
        changes["on_missing"] = _on_missing(body["on_missing"])
    if "rate_limit" in body:
        changes["rate_limit"] = _rate_limit(body["rate_limit"])
    code = None
    if "code" in body or "template" in body:
        code, template_id = _code_of(body)
        _check_code(request, code)
        changes["template"] = template_id
    token = body.get("hubspot_token")
    account = await _check_token(request, token) if token is not None else None

    signing_secret = _signing_secret(body.get("signing_secret"))

    if code is not None:
        storage.add_version(record["id"], code)
    if signing_secret is not None:
        storage.set_secrets(record["id"], signing_secret=signing_secret)
    record = storage.update_integration(record["id"], **changes)
    if token is not None:
        connect = storage.connect_private_app
        record = await run_in_threadpool(connect, record["id"], account, token)
    return record


@api
async def delete_integration(request: Request) -> Response:
    record = _integration(request)
    request.app.state.storage.delete_integration(record["id"])
    return Response(status_code=204)


@api
async def test_transform(request: Request) -> Response:
    body = await json_body(request)
    code = body.get("code")
    if not isinstance(code, str):
        raise APIError(422, "invalid", "code must be the handler's source text", field="code")
    event = _test_event(request, body)
    integration = _test_integration(request, body.get("integration_id"))

    problems = check_handler(code, request.app.state.pool_limits)
    if problems:
        error = compile_error(problems)
        return JSONResponse(_test_view({"error": error, "problems": problems}))

    pool = await run_in_threadpool(request.app.state.sandbox)
    allowed_hosts = request.app.state.settings.allowed_hosts
    result = await run_in_threadpool(pool.run, code, event, allowed_hosts=allowed_hosts)
    view = _test_view(result)
    if integration is not None and result.get("request") and not result.get("skipped"):
        refresh = body.get("refresh") is True
        async with _account_schema(request, integration, refresh) as schema:
            if schema is not None:
                scopes = _granted_scopes(request, integration)
                view["findings"] = await preflight.check_request(
                    result["request"], schema, scopes, integration["id"]
                )
    return JSONResponse(view)


@api
async def create_property(request: Request) -> Response:
    """The owner creates a custom HubSpot property that preflight found missing."""
    integration = _integration(request)
    body = await json_body(request)
    async with _account_schema(request, integration) as schema:
        if schema is None:
            raise APIError(
                422, "not_connected", "the integration has no HubSpot connection", field="hubspot"
            )
        try:
            created = await preflight.create_property(schema, body)
        except preflight.PropertyRequestInvalid as error:
            raise APIError(422, "invalid", str(error), field=error.field) from None
        except preflight.PropertyRefused as error:
            status, code = _HUBSPOT_REFUSALS.get(error.status, (502, "hubspot_refused"))
            raise APIError(status, code, f"HubSpot {error.status}: {error}") from None
    return JSONResponse({"property": created}, 201)


@api
async def refresh_schema(request: Request) -> Response:
    """Read the account's schema from HubSpot again (after changing properties there)."""
    integration = _integration(request)
    body = await json_body(request)
    objects = body.get("objects", ["contacts", "deals"])
    if not isinstance(objects, list) or not all(o in preflight.PROPERTY_GROUPS for o in objects):
        message = f"objects must be a list of {', '.join(preflight.PROPERTY_GROUPS)}"
        raise APIError(422, "invalid", message, field="objects")
    async with _account_schema(request, integration, refresh=True) as schema:
        if schema is None:
            raise APIError(
                422, "not_connected", "the integration has no HubSpot connection", field="hubspot"
            )
        request.app.state.storage.forget_schema(schema.account)
        view, findings = await _read_schema(schema, objects)
    return JSONResponse({"objects": view, "findings": findings})


@api
async def list_deliveries(request: Request) -> Response:
    record = _integration(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise APIError(
            422, "invalid", f"status must be one of {', '.join(STATUSES)}", field="status"
        )
    event_type = request.query_params.get("event_type") or None
    offset = _int_param(request, "offset", 0)
    limit = min(_int_param(request, "limit", 50), MAX_PAGE)
    storage = request.app.state.storage
    deliveries = storage.list_deliveries(record["id"], status, offset, limit, event_type)
    total = storage.count_deliveries(record["id"], status, event_type)
    return JSONResponse({"deliveries": deliveries, "total": total, "offset": offset})


@api
async def read_delivery(request: Request) -> Response:
    storage = request.app.state.storage
    delivery_id = request.path_params["delivery_id"]
    try:
        delivery = storage.get_delivery(delivery_id)
    except NotFound as error:
        raise APIError(404, "not_found", str(error)) from None
    delivery["attempt_log"] = storage.get_attempts(delivery_id)
    try:
        delivery["event"] = storage.get_event(delivery_id)
    except NotFound:
        delivery["event"] = None
    return JSONResponse(delivery)


@api
async def replay_delivery(request: Request) -> Response:
    storage = request.app.state.storage
    body = await json_body(request)
    try:
        delivery = storage.replay(request.path_params["delivery_id"], _version(body))
    except NoSuchVersion as error:
        raise APIError(422, "invalid", str(error), field="version") from None
    except NotFound as error:
        raise APIError(404, "not_found", str(error)) from None
    return JSONResponse(delivery, 202)


@api
async def replay_integration(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    body = await json_body(request)
    status = body.get("status", "failed")
    if status not in ("failed", "transform_error", "skipped", "delivered"):
        raise APIError(
            422, "invalid", "status must be failed, transform_error, skipped or delivered"
        )
    version = _version(body)
    if version is not None:
        try:
            storage.get_version(record["id"], version)
        except NoSuchVersion as error:
            raise APIError(422, "invalid", str(error), field="version") from None
    replayed = 0
    for delivery_id in storage.delivery_ids(record["id"], status):
        try:
            storage.replay(delivery_id, version)
        except NotFound:
            continue
        replayed += 1
    return JSONResponse({"replayed": replayed}, 202)


@api
async def list_samples(request: Request) -> Response:
    return JSONResponse({"samples": transforms.samples()})


@api
async def list_templates(request: Request) -> Response:
    return JSONResponse({"templates": transforms.templates()})


# -- helpers ------------------------------------------------------------------------------------


def _integration(request: Request) -> dict[str, Any]:
    integration_id = request.path_params["integration_id"]
    try:
        return dict(request.app.state.storage.get_integration(integration_id))
    except NotFound as error:
        raise APIError(404, "not_found", str(error)) from None


def _integration_view(request: Request, record: dict[str, Any]) -> dict[str, Any]:
    settings = request.app.state.settings
    storage = request.app.state.storage
    secrets = storage.get_secrets(record["id"])
    connect_url = None
    if oauth.is_configured(settings):
        connect_url = f"{settings.public_url}/connect/hubspot?integration_id={record['id']}"
    return {
        **record,
        "webhook_url": f"{settings.public_url}/webhooks/{record['id']}",
        "signing_secret": secrets["signing_secret"],
        "connection": public_view(storage.connections.of_integration(record)),
        "connect_url": connect_url,
    }


def _text_field(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise APIError(422, "invalid", f"{field} is required and must be text", field=field)
    return value.strip()


def _code_of(body: dict[str, Any]) -> tuple[str, str | None]:
    language = body.get("language", "python")
    if language != "python":
        raise APIError(422, "invalid", "language must be python", field="language")
    if isinstance(body.get("code"), str):
        return body["code"], None
    template_id = body.get("template")
    if not isinstance(template_id, str):
        raise APIError(422, "invalid", "give code, or a template id", field="code")
    try:
        return transforms.template(template_id)["code"], template_id
    except KeyError as error:
        raise APIError(422, "invalid", str(error.args[0]), field="template") from None


def _check_code(request: Request, code: str) -> None:
    problems = check_handler(code, request.app.state.pool_limits)
    if problems:
        first = problems[0]
        message = f"line {first['line']}: {first['message']}"
        raise APIError(422, "invalid_code", message, field="code", problems=problems)


def _event_types(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise APIError(
            422, "invalid", "event_types must be a list of Dodo event types", field="event_types"
        )
    unknown = [v for v in value if v not in transforms.EVENT_TYPES]
    if unknown:
        raise APIError(
            422, "invalid", f"unknown event types: {', '.join(unknown)}", field="event_types"
        )
    return list(value)


def _signing_secret(value: Any) -> str | None:
    """Dodo's endpoint secret (`whsec_` + base64), pasted from Dodo's dashboard."""
    if value is None:
        return None
    message = "signing_secret must be the whsec_… secret Dodo shows for the endpoint"
    if not isinstance(value, str) or not value.startswith("whsec_"):
        raise APIError(422, "invalid", message, field="signing_secret")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise APIError(422, "invalid", message, field="signing_secret") from None
    if not key:
        raise APIError(422, "invalid", message, field="signing_secret")
    return value


def _on_conflict(value: Any) -> str:
    if value not in ON_CONFLICT:
        raise APIError(422, "invalid", "on_conflict must be update or fail", field="on_conflict")
    return str(value)


def _on_missing(value: Any) -> str:
    if value not in ON_MISSING:
        raise APIError(422, "invalid", "on_missing must be create or fail", field="on_missing")
    return str(value)


def _rate_limit(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parse_rate_limit(str(value), "rate_limit")
    except SettingsError as error:
        raise APIError(422, "invalid", str(error), field="rate_limit") from None
    return str(value)


async def _check_token(request: Request, token: Any) -> str:
    if not isinstance(token, str) or not token.strip():
        raise APIError(422, "invalid", "hubspot_token must be text", field="hubspot_token")
    try:
        account = await check_private_app_token(request.app.state.settings.hubspot_api_base, token)
    except TokenRejected as error:
        raise APIError(422, "token_rejected", str(error), field="hubspot_token") from None
    except HubSpotUnreachable as error:
        raise APIError(502, "hubspot_unreachable", str(error), field="hubspot_token") from None
    if account is None:
        # The token is kept as a connection of its own, under an id derived from it.
        return "token-" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return account


def _test_event(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    event = body.get("event")
    if event is not None:
        if not isinstance(event, dict):
            raise APIError(422, "invalid", "event must be a JSON object", field="event")
        return event
    event_type = body.get("event_type") or DEFAULT_TEST_EVENT_TYPE
    try:
        return transforms.sample(event_type)
    except KeyError:
        raise APIError(
            422, "invalid", f"no sample for {event_type!r}", field="event_type"
        ) from None


def _test_integration(request: Request, integration_id: Any) -> dict[str, Any] | None:
    if integration_id is None:
        return None
    if not isinstance(integration_id, str):
        raise APIError(422, "invalid", "integration_id must be text", field="integration_id")
    try:
        return dict(request.app.state.storage.get_integration(integration_id))
    except NotFound as error:
        raise APIError(422, "invalid", str(error), field="integration_id") from None


@contextlib.asynccontextmanager
async def _account_schema(
    request: Request, integration: dict[str, Any], refresh: bool = False
) -> AsyncIterator[preflight.AccountSchema | None]:
    """The integration's HubSpot account schema, or None when no token is connected."""
    storage = request.app.state.storage
    token = await run_in_threadpool(token_for_request, storage, integration)
    if not token:
        yield None
        return
    hubspot = integration.get("hubspot") or {}
    account = hubspot.get("account") or f"integration-{integration['id']}"
    async with httpx.AsyncClient(timeout=preflight.READ_TIMEOUT_S) as client:
        yield preflight.AccountSchema(
            request.app.state.storage,
            client,
            request.app.state.settings.hubspot_api_base,
            token,
            str(account),
            refresh,
        )


def _granted_scopes(request: Request, integration: dict[str, Any]) -> set[str] | None:
    """The scopes HubSpot granted the connection; None while unknown (private app tokens)."""
    return scopes_for_integration(request.app.state.storage, integration["id"])


async def _read_schema(
    schema: preflight.AccountSchema, objects: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    view: dict[str, Any] = {}
    findings = []
    for object_name in objects:
        try:
            view[object_name] = {"properties": len(await schema.properties(object_name))}
            if object_name == "deals":
                view[object_name]["pipelines"] = [
                    {"id": p["id"], "label": p["label"], "stages": [s[0] for s in p["stages"]]}
                    for p in await schema.pipelines()
                ]
        except preflight.SchemaReadFailed as failure:
            findings.append(failure.finding.to_json())
    return view, findings


def _test_view(result: dict[str, Any]) -> dict[str, Any]:
    view = {
        "request": result.get("request"),
        "skipped": bool(result.get("skipped")),
        "reason": result.get("reason"),
        "logs": result.get("logs", ""),
        "error": result.get("error"),
        "findings": [],
        "duration_ms": result.get("duration_ms"),
    }
    if "problems" in result:
        view["problems"] = result["problems"]
    return view


def _version(body: dict[str, Any]) -> int | None:
    version = body.get("version")
    if version is None:
        return None
    if not isinstance(version, int) or version < 1:
        raise APIError(422, "invalid", "version must be a positive whole number", field="version")
    return version


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise APIError(422, "invalid", f"{name} must be a whole number", field=name)
    return int(value)


routes = [
    Route("/api/integrations", create_integration, methods=["POST"]),
    Route("/api/integrations", list_integrations, methods=["GET"]),
    Route("/api/integrations/{integration_id}", read_integration, methods=["GET"]),
    Route("/api/integrations/{integration_id}", update_integration, methods=["PATCH"]),
    Route("/api/integrations/{integration_id}", delete_integration, methods=["DELETE"]),
    Route("/api/integrations/{integration_id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/integrations/{integration_id}/replay", replay_integration, methods=["POST"]),
    Route("/api/integrations/{integration_id}/properties", create_property, methods=["POST"]),
    Route("/api/integrations/{integration_id}/schema/refresh", refresh_schema, methods=["POST"]),
    Route("/api/transforms/test", test_transform, methods=["POST"]),
    Route("/api/deliveries/{delivery_id}", read_delivery, methods=["GET"]),
    Route("/api/deliveries/{delivery_id}/replay", replay_delivery, methods=["POST"]),
    Route("/api/samples", list_samples, methods=["GET"]),
    Route("/api/templates", list_templates, methods=["GET"]),
]
