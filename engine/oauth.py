"""HubSpot OAuth with authlib: "Connect HubSpot", its callback, and refreshing access tokens.

The owner is sent to HubSpot's authorize page with the scopes paybridge needs and a `state`
kept in their session (authlib keeps it there; SessionMiddleware signs the cookie). HubSpot
sends them back to `/oauth/hubspot/callback` with a code; authlib exchanges it, and the
token-info endpoint names the account (`hub_id`) and the scopes HubSpot granted. The tokens go
to the account's connection (engine/connections.py), encrypted, and never back to the browser.

Facts from ../shared/reference/hubspot-api.md, section 4: the token endpoint takes the client
id and secret in the form body; access tokens last 30 minutes (`expires_in`); a refresh that
HubSpot refuses answers 400 `invalid_grant` and means the owner must connect again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any
from urllib.parse import quote

import httpx
import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.starlette_client import OAuth
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .connections import (
    KIND_OAUTH,
    ConnectionUnavailable,
    NeedsReconnect,
    TokenSet,
    public_view,
)
from .responses import APIError, api, error_response
from .storage import NotFound

logger = logging.getLogger("paybridge.oauth")

# What the templates and most handlers write; association by email reads contacts.
REQUIRED_SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
)
# Read property definitions for preflight checks; granted when the account offers them.
OPTIONAL_SCOPES = ("crm.schemas.contacts.read", "crm.schemas.deals.read")
TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a path, not a secret
TOKEN_INFO_PATH = "/oauth/v1/access-tokens/{token}"  # noqa: S105
# HubSpot wants the client id and secret in the token request's form body.
CLIENT_AUTH_METHOD = "client_secret_post"
CALLBACK_PATH = "/oauth/hubspot/callback"
CONNECT_SESSION_KEY = "hubspot_connect"
CLIENT_NAME = "hubspot"


class OAuthFailure(Exception):
    """HubSpot's OAuth did not give paybridge working tokens; the message says why."""


class GrantRejected(OAuthFailure, NeedsReconnect):
    """HubSpot refused the code or refresh token (`invalid_grant`): connect again."""


class OAuthUnavailable(OAuthFailure, ConnectionUnavailable):
    """HubSpot's token endpoint could not be asked, or answered something unusable; try later."""


@dataclasses.dataclass(frozen=True)
class OAuthApp:
    """The HubSpot app paybridge connects as (PAYBRIDGE_HUBSPOT_CLIENT_ID and _SECRET)."""

    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    authorize_url: str
    api_base: str
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Any) -> OAuthApp | None:
        """The app, or None when the client id or secret is not set (private app tokens only)."""
        if not (settings.hubspot_client_id and settings.hubspot_client_secret):
            return None
        return cls(
            client_id=settings.hubspot_client_id,
            client_secret=settings.hubspot_client_secret,
            authorize_url=settings.hubspot_authorize_url,
            api_base=settings.hubspot_api_base.rstrip("/"),
            timeout_s=settings.http_timeout_s,
        )

    @property
    def token_url(self) -> str:
        return self.api_base + TOKEN_PATH

    def refresh(self, refresh_token: str) -> TokenSet:
        """Trade the refresh token for a new access token (blocking; workers call this)."""
        client = OAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=CLIENT_AUTH_METHOD,
            timeout=self.timeout_s,
        )
        try:
            with client:
                token = client.refresh_token(self.token_url, refresh_token=refresh_token)
        except OAuthError as error:
            raise _grant_error(error) from None
        except (httpx2.HTTPError, ValueError) as error:
            raise OAuthUnavailable(f"HubSpot's token endpoint failed: {_describe(error)}") from None
        return _token_set(token, refresh_token)


# -- connect and callback ---------------------------------------------------------------------


@api
async def connect(request: Request) -> Response:
    """`GET /connect/hubspot?integration_id=`: off to HubSpot's authorize page. Needs the API
    token or a console session: whoever starts a connect chooses where events go."""
    app = _oauth_app(request)
    if app is None:
        return _not_configured()
    integration_id = request.query_params.get("integration_id") or None
    extra_scopes: list[str] = []
    if integration_id is not None:
        try:
            integration = request.app.state.storage.get_integration(integration_id)
        except NotFound as error:
            return error_response(404, "not_found", str(error))
        extra_scopes = list(integration.get("missing_scopes") or [])

    client = _client(request, app)
    scopes = list(dict.fromkeys([*REQUIRED_SCOPES, *extra_scopes]))
    redirect_uri = request.app.state.settings.public_url + CALLBACK_PATH
    found = await client.create_authorization_url(
        redirect_uri, scope=" ".join(scopes), optional_scope=" ".join(OPTIONAL_SCOPES)
    )
    await client.save_authorize_data(request, redirect_uri=redirect_uri, **found)
    request.session[CONNECT_SESSION_KEY] = {
        "state": found["state"],
        "integration_id": integration_id,
        "return_to": _return_to(request),
    }
    return RedirectResponse(found["url"], status_code=302)


async def callback(request: Request) -> Response:
    """`GET /oauth/hubspot/callback`: exchange the code, learn the account, keep the tokens."""
    app = _oauth_app(request)
    if app is None:
        return _not_configured()
    started = request.session.pop(CONNECT_SESSION_KEY, None)
    if not started or started.get("state") != request.query_params.get("state"):
        message = "this HubSpot answer does not belong to a connect started in this browser"
        return error_response(400, "oauth_state_mismatch", message)
    if request.query_params.get("error"):
        words = request.query_params.get("error_description") or request.query_params["error"]
        return _connect_failed(request, started, OAuthFailure(f"HubSpot said {words!r}"), 400)

    try:
        token = await _client(request, app).authorize_access_token(request)
    except OAuthError as error:
        return _connect_failed(request, started, _grant_error(error))
    except (httpx2.HTTPError, ValueError) as error:
        failure = OAuthUnavailable(f"HubSpot's token endpoint failed: {_describe(error)}")
        return _connect_failed(request, started, failure)
    try:
        tokens = _token_set(token, None)
        info = await _token_info(app, tokens.access_token)
    except OAuthFailure as failure:
        return _connect_failed(request, started, failure)

    storage = request.app.state.storage
    hub_id = str(info["hub_id"])
    scopes = sorted(str(scope) for scope in info.get("scopes", []))
    connection = await run_in_threadpool(
        storage.connections.save,
        hub_id,
        KIND_OAUTH,
        tokens,
        scopes=scopes,
        hub_domain=info.get("hub_domain"),
    )
    integration_id = started.get("integration_id")
    if integration_id:
        try:
            await run_in_threadpool(storage.connections.link, integration_id, hub_id)
        except NotFound as error:
            return error_response(404, "not_found", str(error))
    logger.info("connected HubSpot account %s (%d scopes)", hub_id, len(scopes))
    return _connected(request, started, connection)


# -- the connections API ------------------------------------------------------------------------


@api
async def list_connections(request: Request) -> Response:
    connections = request.app.state.storage.connections
    views = [
        {
            **(public_view(record) or {}),
            "integrations": connections.integration_ids(record["hub_id"]),
        }
        for record in connections.all()
    ]
    return JSONResponse({"connections": views})


@api
async def disconnect_account(request: Request) -> Response:
    """`DELETE /api/connections/{hub_id}`: delete the account's tokens; unlink its integrations."""
    connections = request.app.state.storage.connections
    hub_id = request.path_params["hub_id"]
    if connections.get(hub_id) is None:
        raise APIError(404, "not_found", f"no HubSpot connection for account {hub_id}")
    await run_in_threadpool(connections.delete, hub_id)
    return Response(status_code=204)


@api
async def disconnect_integration(request: Request) -> Response:
    """`DELETE /api/integrations/{id}/hubspot`: this integration stops using its connection."""
    storage = request.app.state.storage
    try:
        record = await run_in_threadpool(
            storage.connections.unlink, request.path_params["integration_id"]
        )
    except NotFound as error:
        raise APIError(404, "not_found", str(error)) from None
    return JSONResponse({"id": record["id"], "hubspot": record["hubspot"]})


def is_configured(settings: Any) -> bool:
    return OAuthApp.from_settings(settings) is not None


def _oauth_app(request: Request) -> OAuthApp | None:
    return OAuthApp.from_settings(request.app.state.settings)


def _client(request: Request, app: OAuthApp) -> Any:
    """authlib's Starlette client for the app, built once per web process."""
    registry = getattr(request.app.state, "hubspot_oauth", None)
    if registry is None:
        registry = OAuth()
        registry.register(
            CLIENT_NAME,
            client_id=app.client_id,
            client_secret=app.client_secret,
            authorize_url=app.authorize_url,
            access_token_url=app.token_url,
            client_kwargs={
                "token_endpoint_auth_method": CLIENT_AUTH_METHOD,
                "timeout": app.timeout_s,
            },
        )
        request.app.state.hubspot_oauth = registry
    return registry.create_client(CLIENT_NAME)


async def _token_info(app: OAuthApp, access_token: str) -> dict[str, Any]:
    """HubSpot's token-info answer: `hub_id`, `scopes`, `hub_domain`, … (reference section 4)."""
    url = app.api_base + TOKEN_INFO_PATH.format(token=quote(access_token, safe=""))
    try:
        async with httpx.AsyncClient(timeout=app.timeout_s) as client:
            response = await client.get(url)
    except httpx.HTTPError as error:
        raise OAuthUnavailable(f"HubSpot's token info failed: {_describe(error)}") from None
    if response.status_code != 200:
        raise OAuthUnavailable(f"HubSpot's token info answered {response.status_code}")
    try:
        info = response.json()
    except ValueError:
        raise OAuthUnavailable("HubSpot's token info answered something that is not JSON") from None
    if not isinstance(info, dict) or info.get("hub_id") is None:
        raise OAuthUnavailable("HubSpot's token info did not name the account (hub_id)")
    return info


def _token_set(token: dict[str, Any], previous_refresh_token: str | None) -> TokenSet:
    access_token = token.get("access_token")
    refresh_token = token.get("refresh_token") or previous_refresh_token
    if not access_token or not refresh_token:
        raise OAuthUnavailable("HubSpot's token endpoint answered without the tokens")
    lifetime_s = float(token.get("expires_in") or 0) or None
    return TokenSet(
        access_token=str(access_token),
        refresh_token=str(refresh_token),
        expires_at=time.time() + lifetime_s if lifetime_s else None,
        lifetime_s=lifetime_s,
    )


def _grant_error(error: OAuthError) -> OAuthFailure:
    description = error.description or error.error
    if error.error == "invalid_grant":
        return GrantRejected(f"HubSpot refused the grant ({error.error}): {description}")
    return OAuthUnavailable(f"HubSpot's token endpoint refused ({error.error}): {description}")


def _describe(error: Exception) -> str:
    """An HTTP error without its URL: a token-info URL carries the token itself."""
    if isinstance(error, httpx.HTTPStatusError | httpx2.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__


def _return_to(request: Request) -> str | None:
    """Where the console wants the owner back; only a path on this site is followed."""
    target = request.query_params.get("return_to")
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def _connected(request: Request, started: dict[str, Any], connection: dict[str, Any]) -> Response:
    view = {"connected": True, "integration_id": started.get("integration_id"), **connection}
    if started.get("return_to"):
        request.session["flash"] = "HubSpot is connected."
        return RedirectResponse(started["return_to"], status_code=303)
    return JSONResponse(view)


def _connect_failed(
    request: Request, started: dict[str, Any], failure: OAuthFailure, status: int = 502
) -> Response:
    logger.warning("HubSpot connect failed: %s", failure)
    if started.get("return_to"):
        request.session["flash"] = f"HubSpot was not connected: {failure}"
        return RedirectResponse(started["return_to"], status_code=303)
    return error_response(status, "oauth_failed", f"HubSpot was not connected: {failure}")


def _not_configured() -> Response:
    message = (
        "OAuth connect needs PAYBRIDGE_HUBSPOT_CLIENT_ID and PAYBRIDGE_HUBSPOT_CLIENT_SECRET; "
        "without them, give a private app token as hubspot_token"
    )
    return error_response(404, "oauth_not_configured", message)


routes = [
    Route("/connect/hubspot", connect, methods=["GET"]),
    Route(CALLBACK_PATH, callback, methods=["GET"]),
    Route("/api/connections", list_connections, methods=["GET"]),
    Route("/api/connections/{hub_id}", disconnect_account, methods=["DELETE"]),
    Route("/api/integrations/{integration_id}/hubspot", disconnect_integration, methods=["DELETE"]),
]
