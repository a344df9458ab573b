"""HubSpot's OAuth 2.0 as the fake plays it (reference section 4): the consent page, the token
endpoint with both grants, token info, and refresh-token deletion.

| call | does |
| --- | --- |
| `GET /oauth/authorize` | the consent page: the scopes asked for and a "Connect app" button |
| `POST /oauth/authorize` | the button: back to `redirect_uri` with `?code=&state=` |
| `POST /oauth/v1/token` | form-encoded `authorization_code` or `refresh_token` grant |
| `GET /oauth/v1/access-tokens/{token}` | access-token info: hub, scopes, seconds left |
| `GET`, `DELETE /oauth/v1/refresh-tokens/{token}` | refresh-token info; delete it (not the app) |
| `GET`, `POST /_fake/oauth` | control: client id and secret, token lifetime, portal scopes; |
|  | the answer counts codes exchanged, lists every refresh and token |
| `POST /_fake/oauth/revoke` | control: an uninstall: refresh tokens revoked, access tokens |
|  | dropped (`{"access_tokens": false}` keeps those) |
| `POST /_fake/oauth/expire` | control: every OAuth access token expires now, before the time |
|  | its client was told (401 EXPIRED_AUTHENTICATION from then on) |

Granted scopes: every `scope` the app asks for (the portal must offer them all, or the page says
so), the `optional_scope`s the portal offers, and `oauth`, which HubSpot adds to every token.
Token-endpoint errors carry RFC 6749's `error` and `error_description` beside HubSpot's legacy
`status` and `message` ([OAUTH1]); the `BAD_*` status words other than `BAD_REFRESH_TOKEN` are
plausible rather than captured.
"""

from __future__ import annotations

import dataclasses
import html
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .errors import new_correlation_id, not_found
from .responses import HubSpotJSONResponse

if TYPE_CHECKING:
    from .state import FakeState

FAKE_CLIENT_ID = "fake-client-id"
FAKE_CLIENT_SECRET = "fake-client-secret"
FAKE_APP_ID = 2_000_001
FAKE_USER = "owner@example.com"
FAKE_USER_ID = 7_000_001
DEFAULT_ACCESS_TOKEN_LIFETIME_S = 1800  # HubSpot: 30 minutes
CODE_LIFETIME_S = 600
OAUTH_SCOPE = "oauth"
TOKEN_PATH = "/oauth/v1/token"


class OAuthTokenError(Exception):
    """A refused token-endpoint call, answered in HubSpot's OAuth error shape."""

    def __init__(self, status: str, error: str, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.status_code = status_code

    def response(self) -> Response:
        body = {
            "status": self.status,
            "message": self.message,
            "correlationId": new_correlation_id(),
            "error": self.error,
            "error_description": self.message,
        }
        return HubSpotJSONResponse(body, status_code=self.status_code)


@dataclass
class _Code:
    redirect_uri: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class _RefreshToken:
    scopes: frozenset[str]
    latest_access_token: str = ""
    revoked: bool = False


@dataclass
class OAuthBook:
    """The app's settings and every code and token the fake has handed out."""

    client_id: str = FAKE_CLIENT_ID
    client_secret: str = FAKE_CLIENT_SECRET
    access_token_lifetime_s: float = DEFAULT_ACCESS_TOKEN_LIFETIME_S
    portal_scopes: frozenset[str] | None = None  # None: the portal offers every scope
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh_tokens: dict[str, _RefreshToken] = field(default_factory=dict)
    codes_exchanged: int = 0
    refreshes: list[dict] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "client_id": self.client_id,
            "access_token_lifetime_s": self.access_token_lifetime_s,
            "portal_scopes": sorted(self.portal_scopes) if self.portal_scopes is not None else None,
            "codes_exchanged": self.codes_exchanged,
            "refreshes": list(self.refreshes),
            "refresh_tokens": sorted(self.refresh_tokens),
            "access_tokens": list(self.access_tokens),
        }


class OAuthRoutes:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/authorize", self.consent_page, methods=["GET"]),
            Route("/oauth/authorize", self.approve, methods=["POST"]),
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route("/oauth/v1/access-tokens/{token}", self.access_token_info, methods=["GET"]),
            Route("/oauth/v1/refresh-tokens/{token}", self.refresh_token_info, methods=["GET"]),
            Route(
                "/oauth/v1/refresh-tokens/{token}", self.delete_refresh_token, methods=["DELETE"]
            ),
            Route("/_fake/oauth", self.control, methods=["GET", "POST"]),
            Route("/_fake/oauth/revoke", self.revoke_all, methods=["POST"]),
            Route("/_fake/oauth/expire", self.expire_access_tokens, methods=["POST"]),
        ]

    @property
    def book(self) -> OAuthBook:
        return self.state.oauth

    # -- the consent page ------------------------------------------------------------------------

    async def consent_page(self, request: Request) -> Response:
        problem = self._authorize_problem(request)
        if problem:
            return HTMLResponse(_page("Something went wrong", problem), status_code=400)
        granted = self._granted_scopes(request)
        items = "".join(f"<li>{html.escape(scope)}</li>" for scope in sorted(granted))
        body = (
            f"<p>The app would like access to portal {self.state.portal_id}:</p><ul>{items}</ul>"
            '<form method="post"><button name="decision" value="approve">Connect app</button>'
            '<button name="decision" value="deny">Cancel</button></form>'
        )
        return HTMLResponse(_page("Connect app", body))

    async def approve(self, request: Request) -> Response:
        problem = self._authorize_problem(request)
        if problem:
            return HTMLResponse(_page("Something went wrong", problem), status_code=400)
        params = request.query_params
        form = await request.form()
        back = {"state": params["state"]} if "state" in params else {}
        if form.get("decision") != "approve":
            back = {"error": "access_denied", **back}
            return RedirectResponse(_with_query(params["redirect_uri"], back), status_code=302)

        code = str(uuid.uuid4())
        self.book.codes[code] = _Code(
            params["redirect_uri"], self._granted_scopes(request), time.time() + CODE_LIFETIME_S
        )
        return RedirectResponse(
            _with_query(params["redirect_uri"], {"code": code, **back}), status_code=302
        )

    def _authorize_problem(self, request: Request) -> str | None:
        params = request.query_params
        if params.get("client_id") != self.book.client_id:
            return "The app's client_id is not valid."
        redirect = urlsplit(params.get("redirect_uri", ""))
        if redirect.scheme not in ("http", "https") or not redirect.netloc:
            return "The redirect_uri is missing or is not an absolute http(s) URL."
        required = set(params.get("scope", "").split())
        if not required:
            return "The scope parameter is missing."
        offered = self.book.portal_scopes
        if offered is not None and not required <= offered | {OAUTH_SCOPE}:
            return "Insufficient scopes were provided: " + ", ".join(
                sorted(required - offered - {OAUTH_SCOPE})
            )
        return None

    def _granted_scopes(self, request: Request) -> frozenset[str]:
        params = request.query_params
        required = set(params.get("scope", "").split())
        optional = set(params.get("optional_scope", "").split())
        offered = self.book.portal_scopes
        if offered is not None:
            optional &= offered
        return frozenset(required | optional | {OAUTH_SCOPE})

    # -- the token endpoint ----------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        try:
            self._check_client(form)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self._exchange_code(form)
            if grant_type == "refresh_token":
                return self._refresh(form)
            raise OAuthTokenError(
                "BAD_GRANT_TYPE", "unsupported_grant_type", f"unknown grant_type {grant_type!r}"
            )
        except OAuthTokenError as error:
            return error.response()

    def _check_client(self, form: dict[str, str]) -> None:
        if form.get("client_id") != self.book.client_id:
            raise OAuthTokenError("BAD_CLIENT_ID", "invalid_client", "missing or invalid client_id")
        if form.get("client_secret") != self.book.client_secret:
            raise OAuthTokenError(
                "BAD_CLIENT_SECRET", "invalid_client", "missing or invalid client_secret"
            )

    def _exchange_code(self, form: dict[str, str]) -> Response:
        code = self.book.codes.pop(form.get("code", ""), None)
        if code is None or code.expires_at < time.time():
            raise OAuthTokenError("BAD_AUTH_CODE", "invalid_grant", "missing or unknown auth code")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthTokenError(
                "BAD_REDIRECT_URI",
                "invalid_grant",
                "redirect_uri does not match the authorize call",
            )

        refresh_token = f"na1-{uuid.uuid4()}"
        grant = _RefreshToken(code.scopes)
        self.book.refresh_tokens[refresh_token] = grant
        self.book.codes_exchanged += 1
        return self._token_response(refresh_token, grant)

    def _refresh(self, form: dict[str, str]) -> Response:
        refresh_token = form.get("refresh_token", "")
        grant = self.book.refresh_tokens.get(refresh_token)
        if grant is None or grant.revoked:
            raise OAuthTokenError(
                "BAD_REFRESH_TOKEN", "invalid_grant", "refresh token is invalid, expired or revoked"
            )

        previous = self.state.tokens.get(grant.latest_access_token)
        remaining_s = None
        if previous is not None and previous.expires_at is not None:
            remaining_s = round(previous.expires_at - time.time(), 3)
        self.book.refreshes.append({"at": time.time(), "previous_remaining_s": remaining_s})
        return self._token_response(refresh_token, grant)

    def _token_response(self, refresh_token: str, grant: _RefreshToken) -> Response:
        access_token = "CN" + secrets.token_urlsafe(48)
        lifetime_s = self.book.access_token_lifetime_s
        self.state.add_token(access_token, grant.scopes, oauth=True, expires_in_s=lifetime_s)
        grant.latest_access_token = access_token
        self.book.access_tokens.append(access_token)
        body = {
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "access_token": access_token,
            "expires_in": int(lifetime_s) if float(lifetime_s).is_integer() else lifetime_s,
        }
        return HubSpotJSONResponse(body, headers={"Cache-Control": "no-store"})

    # -- token info and deletion -----------------------------------------------------------------

    async def access_token_info(self, request: Request) -> Response:
        token = request.path_params["token"]
        grant = self.state.tokens.get(token)
        if grant is None or not grant.oauth or grant.expired_for_s(time.time()) is not None:
            raise not_found("Token not found")
        body = {
            "token": token,
            "user": FAKE_USER,
            "hub_domain": self._hub_domain(),
            "scopes": sorted(grant.scopes or ()),
            "hub_id": self.state.portal_id,
            "app_id": FAKE_APP_ID,
            "expires_in": int((grant.expires_at or time.time()) - time.time()),
            "user_id": FAKE_USER_ID,
            "token_type": "access",
        }
        return HubSpotJSONResponse(body)

    async def refresh_token_info(self, request: Request) -> Response:
        token = request.path_params["token"]
        grant = self.book.refresh_tokens.get(token)
        if grant is None or grant.revoked:
            raise not_found("Token not found")
        body = {
            "token": token,
            "user": FAKE_USER,
            "hub_domain": self._hub_domain(),
            "scopes": sorted(grant.scopes),
            "hub_id": self.state.portal_id,
            "client_id": self.book.client_id,
            "user_id": FAKE_USER_ID,
            "token_type": "refresh",
        }
        return HubSpotJSONResponse(body)

    async def delete_refresh_token(self, request: Request) -> Response:
        grant = self.book.refresh_tokens.get(request.path_params["token"])
        if grant is None or grant.revoked:
            raise not_found("Token not found")
        grant.revoked = True
        return Response(status_code=204)

    def _hub_domain(self) -> str:
        return f"portal-{self.state.portal_id}.example.com"

    # -- control ---------------------------------------------------------------------------------

    async def control(self, request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            book = self.book
            book.client_id = str(body.get("client_id", book.client_id))
            book.client_secret = str(body.get("client_secret", book.client_secret))
            lifetime = body.get("access_token_lifetime_s", book.access_token_lifetime_s)
            if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
                return JSONResponse({"error": "access_token_lifetime_s must be > 0"}, 400)
            book.access_token_lifetime_s = float(lifetime)
            if "portal_scopes" in body:
                scopes = body["portal_scopes"]
                book.portal_scopes = frozenset(scopes) if scopes is not None else None
        return JSONResponse(self.book.to_json())

    async def revoke_all(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        for grant in self.book.refresh_tokens.values():
            grant.revoked = True
        if body.get("access_tokens", True):
            for token in [token for token, grant in self.state.tokens.items() if grant.oauth]:
                self.state.remove_token(token)
        return JSONResponse(self.book.to_json())

    async def expire_access_tokens(self, request: Request) -> Response:
        now = time.time()
        expired = [token for token, grant in self.state.tokens.items() if grant.oauth]
        for token in expired:
            self.state.tokens[token] = dataclasses.replace(
                self.state.tokens[token], expires_at=now - 1
            )
        return JSONResponse({"expired": len(expired)})


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def _page(title: str, body: str) -> str:
    return f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}"
