"""Browser-facing protections: session cookie, CSRF tokens, security headers.

CSRF uses asgi-csrf (double-submit cookie, signed): every unsafe request that carries cookies
must bring the token, as the `csrftoken` form field or the `x-csrftoken` header. Requests with
`Authorization: Bearer` (API clients) and Dodo's webhook posts carry no session and are not
checked.
"""

from __future__ import annotations

from typing import Any

from asgi_csrf import asgi_csrf
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..settings import Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def headers_middleware() -> Middleware:
    """Security headers on every answer; put it outermost."""
    return Middleware(SecurityHeaders)


def csrf_middleware(settings: Settings) -> Middleware:
    """The CSRF check; put it inside the session middleware."""
    return Middleware(
        asgi_csrf,
        signing_secret=settings.secret_key,
        cookie_secure=settings.public_url.startswith("https://"),
        skip_if_scope=_is_webhook,
    )


def csrf_token(scope: Any) -> str:
    return str(scope["csrftoken"]())


def _is_webhook(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/webhooks/")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
