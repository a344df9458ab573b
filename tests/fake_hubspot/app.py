"""The fake HubSpot as one Starlette app: the API routes behind the gateway, the control API
beside them."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from .associations import AssociationRoutes
from .control import ControlError, ControlRoutes, control_error
from .crm import CrmRoutes
from .errors import HubSpotError, new_correlation_id, not_found, status_error
from .gateway import CALL_SCOPE_KEY, ApiGateway, is_api_path
from .oauth import OAuthRoutes
from .portal import PortalRoutes
from .properties import PropertyRoutes
from .responses import HubSpotJSONResponse
from .state import FakeState


def create_app(state: FakeState) -> Starlette:
    routes = [
        *ControlRoutes(state).routes(),
        *CrmRoutes(state).routes(),
        *AssociationRoutes(state).routes(),
        *PropertyRoutes(state).routes(),
        *PortalRoutes(state).routes(),
        *OAuthRoutes(state).routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ApiGateway, state=state)],
        exception_handlers={
            HubSpotError: _hubspot_error,
            HTTPException: _http_error,
            ControlError: control_error,
        },
    )
    app.router.redirect_slashes = False  # HubSpot does not redirect; a stray slash is a 404
    app.state.fake = state
    return app


async def _hubspot_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, HubSpotError):
        raise error
    return HubSpotJSONResponse(
        error.body(_correlation_id(request)), status_code=error.status_code, headers=error.headers
    )


async def _http_error(request: Request, error: Exception) -> Response:
    """Unknown paths and methods, answered in HubSpot's error shape on API paths."""
    if not isinstance(error, HTTPException):
        raise error
    if not is_api_path(request.url.path):
        return HubSpotJSONResponse({"error": error.detail}, status_code=error.status_code)
    hubspot_error = not_found() if error.status_code == 404 else status_error(error.status_code)
    if error.status_code == 405:
        hubspot_error.message = f"Method {request.method} is not allowed on {request.url.path}"
        hubspot_error.category = "VALIDATION_ERROR"
    return await _hubspot_error(request, hubspot_error)


def _correlation_id(request: Request) -> str:
    call = request.scope.get(CALL_SCOPE_KEY)
    return call.correlation_id if call is not None else new_correlation_id()
