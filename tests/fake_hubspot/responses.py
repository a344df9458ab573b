"""HubSpot's JSON responses carry `application/json;charset=utf-8` (header dump in
hubspot-api-nodejs#545); Starlette's plain `application/json` would hide a client that compares the
content type exactly."""

from __future__ import annotations

from starlette.responses import JSONResponse


class HubSpotJSONResponse(JSONResponse):
    media_type = "application/json;charset=utf-8"
