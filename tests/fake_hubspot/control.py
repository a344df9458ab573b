"""The fake's own control API under `/_fake/`: no auth, never logged, never faulted.

| call | does |
| --- | --- |
| `GET /_fake/health` | `{"status": "ok", "portalId": …}` once serving |
| `POST /_fake/reset` | back to the state at start (CLI tokens and rate limit kept) |
| `POST /_fake/tokens` | `{"token", "scopes": [..] or null, "oauth", "expires_in_s"}` |
| `DELETE /_fake/tokens/{token}` | stop accepting a token (an uninstalled app) |
| `GET /_fake/contacts`, `/_fake/deals`, `/_fake/objects/{type}` | live records, with associations |
| `GET /_fake/requests` | API requests received, newest last (at most 10,000) |
| `GET/POST/DELETE /_fake/faults` | list, add (`{"kind", "count", "path_prefix", …}`), clear |
| `GET/POST /_fake/rate-limit` | `{"max": 100 or null, "interval_ms": 10000, "search_per_second"}` |
| `GET /_fake/stats` | `{requests, rate_limited, dropped, by_status}` |
| `POST /_fake/currencies` | `{"codes": ["USD", …]}` the portal's enabled currencies |
| `POST /_fake/pipelines` | `{"id", "label", "stages": [{"id", "label"}]}` adds a deal pipeline |
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Fault, FaultSpecError
from .pipelines import pipeline_from_json, sync_options
from .ratelimit import DEFAULT_INTERVAL_MS
from .schema import OBJECT_TYPES, resolve_object_type
from .state import FakeState


class ControlError(ValueError):
    """A control call the fake cannot honour."""


class ControlRoutes:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/_fake/health", self.health, methods=["GET"]),
            Route("/_fake/reset", self.reset, methods=["POST"]),
            Route("/_fake/tokens", self.add_token, methods=["POST"]),
            Route("/_fake/tokens/{token}", self.remove_token, methods=["DELETE"]),
            Route("/_fake/contacts", self.contacts, methods=["GET"]),
            Route("/_fake/deals", self.deals, methods=["GET"]),
            Route("/_fake/objects/{object_type}", self.objects, methods=["GET"]),
            Route("/_fake/requests", self.requests, methods=["GET"]),
            Route("/_fake/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_fake/rate-limit", self.rate_limit, methods=["GET", "POST"]),
            Route("/_fake/stats", self.stats, methods=["GET"]),
            Route("/_fake/currencies", self.currencies, methods=["GET", "POST"]),
            Route("/_fake/pipelines", self.add_pipeline, methods=["POST"]),
        ]

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "portalId": self.state.portal_id})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"status": "reset"})

    async def add_token(self, request: Request) -> Response:
        body = await _json_object(request)
        token = body.get("token")
        scopes = body.get("scopes")
        if not isinstance(token, str) or not token:
            raise ControlError("token must be a non-empty string")
        if scopes is not None and not (
            isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)
        ):
            raise ControlError("scopes must be a list of strings or null")

        expires_in_s = body.get("expires_in_s")
        if expires_in_s is not None and (
            isinstance(expires_in_s, bool) or not isinstance(expires_in_s, int | float)
        ):
            raise ControlError("expires_in_s must be a number of seconds or null")

        oauth = bool(body.get("oauth", False))
        grant = self.state.add_token(token, scopes, oauth, expires_in_s)
        return JSONResponse(grant.to_json(), status_code=201)

    async def remove_token(self, request: Request) -> Response:
        if not self.state.remove_token(request.path_params["token"]):
            raise ControlError("no such token")
        return Response(status_code=204)

    async def contacts(self, request: Request) -> Response:
        return JSONResponse(self.state.dump_objects(OBJECT_TYPES["contacts"]))

    async def deals(self, request: Request) -> Response:
        return JSONResponse(self.state.dump_objects(OBJECT_TYPES["deals"]))

    async def objects(self, request: Request) -> Response:
        object_type = resolve_object_type(request.path_params["object_type"])
        if object_type is None:
            raise ControlError(f"unknown object type {request.path_params['object_type']!r}")
        return JSONResponse(self.state.dump_objects(object_type))

    async def requests(self, request: Request) -> Response:
        return JSONResponse([record.to_json() for record in self.state.requests])

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.faults.clear()
        elif request.method == "POST":
            try:
                fault = Fault.from_json(await _json_object(request))
            except FaultSpecError as error:
                raise ControlError(str(error)) from error
            self.state.faults.add(fault)
            return JSONResponse(fault.to_json(), status_code=201)
        return JSONResponse(self.state.faults.to_json())

    async def rate_limit(self, request: Request) -> Response:
        limiter = self.state.limiter
        if request.method == "POST":
            body = await _json_object(request)
            max_requests = _optional_positive(body, "max")
            interval_ms = _optional_positive(body, "interval_ms") or DEFAULT_INTERVAL_MS
            search_per_second = _optional_positive(body, "search_per_second")
            limiter.configure(max_requests, interval_ms, search_per_second)
        return JSONResponse(limiter.to_json())

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.state.stats.to_json())

    async def currencies(self, request: Request) -> Response:
        if request.method == "POST":
            codes = (await _json_object(request)).get("codes")
            if (
                not isinstance(codes, list)
                or not codes
                or not all(isinstance(c, str) for c in codes)
            ):
                raise ControlError("codes must be a non-empty list of currency codes")
            self.state.set_currencies(codes)
        return JSONResponse({"codes": self.state.currencies})

    async def add_pipeline(self, request: Request) -> Response:
        body = await _json_object(request)
        stages = body.get("stages")
        if not isinstance(body.get("id"), str) or not body["id"]:
            raise ControlError("id must be a non-empty string")
        if not isinstance(stages, list) or not stages:
            raise ControlError("stages must be a non-empty list of {id, label}")
        if not all(isinstance(stage, dict) and stage.get("id") for stage in stages):
            raise ControlError("each stage needs an id")
        if body["id"] in self.state.pipelines:
            raise ControlError(f"pipeline {body['id']!r} exists")

        pipeline = pipeline_from_json(body)
        self.state.pipelines[pipeline.id] = pipeline
        sync_options(self.state.pipelines, self.state.properties["deals"])
        return JSONResponse(pipeline.to_json(len(self.state.pipelines) - 1), status_code=201)


async def control_error(request: Request, error: Exception) -> Response:
    return JSONResponse({"error": str(error)}, status_code=400)


async def _json_object(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise ControlError(f"body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _optional_positive(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ControlError(f"{key} must be a positive integer or null")
    return value
