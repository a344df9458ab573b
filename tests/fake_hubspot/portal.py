"""Portal-wide reads: account details, daily API usage, and the deal pipelines."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import require_scope
from .errors import not_found, validation_error
from .gateway import api_call
from .pipelines import Pipeline
from .ratelimit import DAILY_LIMIT
from .responses import HubSpotJSONResponse
from .schema import require_object_type
from .state import FakeState, now_iso


class PortalRoutes:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        pipelines = "/crm/v3/pipelines/{object_type}"
        return [
            Route("/account-info/v3/details", self.account_details, methods=["GET"]),
            Route(
                "/account-info/v3/api-usage/daily/private-apps", self.daily_usage, methods=["GET"]
            ),
            Route(pipelines, self.list_pipelines, methods=["GET"]),
            Route(pipelines + "/{pipeline_id}", self.read_pipeline, methods=["GET"]),
            Route(pipelines + "/{pipeline_id}/stages", self.list_stages, methods=["GET"]),
        ]

    async def account_details(self, request: Request) -> Response:
        currencies = self.state.currencies
        return HubSpotJSONResponse(
            {
                "portalId": self.state.portal_id,
                "accountType": "STANDARD",
                "timeZone": "US/Eastern",
                "companyCurrency": currencies[0] if currencies else "USD",
                "additionalCurrencies": currencies[1:],
                "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18_000_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        )

    async def daily_usage(self, request: Request) -> Response:
        usage = self.state.limiter.to_json()
        item = {
            "name": "private-apps-api-calls-daily",
            "usageLimit": DAILY_LIMIT,
            "currentUsage": usage["daily_used"],
            "collectedAt": now_iso(),
            "fetchStatus": "SUCCESS",
        }
        return HubSpotJSONResponse({"results": [item]})

    async def list_pipelines(self, request: Request) -> Response:
        self._require_deals(request)
        pipelines = self.state.pipelines.values()
        return HubSpotJSONResponse({"results": [p.to_json(i) for i, p in enumerate(pipelines)]})

    async def read_pipeline(self, request: Request) -> Response:
        order, pipeline = self._pipeline(request)
        return HubSpotJSONResponse(pipeline.to_json(order))

    async def list_stages(self, request: Request) -> Response:
        order, pipeline = self._pipeline(request)
        return HubSpotJSONResponse({"results": pipeline.to_json(order)["stages"]})

    def _pipeline(self, request: Request) -> tuple[int, Pipeline]:
        self._require_deals(request)
        for order, pipeline in enumerate(self.state.pipelines.values()):
            if pipeline.id == request.path_params["pipeline_id"]:
                return order, pipeline
        raise not_found()

    def _require_deals(self, request: Request) -> None:
        object_type = require_object_type(request.path_params["object_type"])
        if object_type.name != "deals":
            raise validation_error(f"Pipelines are not supported for {object_type.name}")
        require_scope(api_call(request).grant, object_type.read_scope)
