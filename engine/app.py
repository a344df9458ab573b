"""The Starlette app: ingress, JSON API, health and metrics."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sandbox import Limits, SandboxPool

from . import api, console, ingress, oauth
from .metrics import metrics
from .redis_server import connect
from .responses import error_response
from .settings import Settings
from .storage import Storage

WEB_SANDBOX_PROCESSES = 1
STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "paybridge_session"
SESSION_KEY_PURPOSE = b"paybridge session cookies v1"


def create_app(settings: Settings, client: redis.Redis | None = None) -> Starlette:
    """Build the app. `settings.redis_url` must be set (the CLI starts an embedded server)."""
    if client is None:
        if not settings.redis_url:
            raise ValueError("create_app needs a Redis URL")
        client = connect(settings.redis_url)
    storage = Storage.for_settings(settings, client)
    limits = settings.sandbox_limits
    lazy_pool = _LazyPool(limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        lazy_pool.close()

    routes = [
        *api.routes,
        *oauth.routes,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", index, methods=["GET"]),
        *console.routes,
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={redis.RedisError: storage_unavailable},
        middleware=[
            Middleware(ingress.IngressFirst),
            console.headers_middleware(),
            session_middleware(settings),
            console.csrf_middleware(settings),
        ],
    )
    app.state.settings = settings
    app.state.storage = storage
    app.state.signing_secrets = ingress.SigningSecrets(storage)
    app.state.event_writer = ingress.EventWriter(storage)
    app.state.pool_limits = limits
    app.state.sandbox = lazy_pool
    return app


def session_middleware(settings: Settings) -> Middleware:
    """Signed session cookies (the console's login, OAuth's `state`), keyed from the secret key.

    SameSite=Lax: the cookie rides along when HubSpot sends the owner back to the callback.
    """
    key = hmac.new(settings.secret_key.encode(), SESSION_KEY_PURPOSE, hashlib.sha256).hexdigest()
    return Middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )


async def storage_unavailable(request: Request, error: Exception) -> Response:
    """Redis is down or restarting: say so, so that Dodo (and any client) retries later."""
    return error_response(503, "storage_unavailable", f"storage is unavailable: {error}")


async def healthz(request: Request) -> Response:
    try:
        request.app.state.storage.redis.ping()
    except redis.RedisError as error:
        return JSONResponse({"status": "unavailable", "redis": str(error)}, 503)
    return JSONResponse({"status": "ok"})


async def index(request: Request) -> Response:
    """The console for a browser (it asks for HTML); a JSON pointer to the API for others."""
    if "text/html" in request.headers.get("accept", ""):
        return await console.home(request)
    settings = request.app.state.settings
    return JSONResponse(
        {
            "paybridge": "Dodo Payments events into HubSpot",
            "api": f"{settings.public_url}/api/integrations",
            "docs": "README.md, section 'Use the API'",
        }
    )


class _LazyPool:
    """The web app's sandbox pool, started on the first `POST /api/transforms/test`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._pool: SandboxPool | None = None
        self._lock = threading.Lock()

    def __call__(self) -> SandboxPool:
        with self._lock:
            if self._pool is None:
                self._pool = SandboxPool(size=WEB_SANDBOX_PROCESSES, limits=self.limits)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
