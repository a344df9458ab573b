"""One error shape for the whole API: `{"error": {"code", "message", ...details}}`."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .jsontext import JSONRejected, read_json

Endpoint = Callable[[Request], Awaitable[Response]]
# An API body carries a handler (64 KiB at most) and maybe a test event (1 MiB at most).
MAX_BODY_BYTES = 2 * 1024 * 1024


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        super().__init__(message)


def error_response(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **details}}, status)


def api(endpoint: Endpoint) -> Endpoint:
    """Require the API token (or a console session), and turn APIError into the error shape.

    The console's pages call the API with their session cookie; the CSRF middleware has
    checked the token of every such unsafe request before it gets here.
    """

    async def wrapper(request: Request) -> Response:
        expected = request.app.state.settings.api_token
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        signed_in = not given and "session" in request.scope and bool(request.session.get("user"))
        is_bearer = scheme.lower() == "bearer"
        if not signed_in and not (
            is_bearer and hmac.compare_digest(token.encode(), expected.encode())
        ):
            return error_response(
                401, "unauthorized", "send Authorization: Bearer $PAYBRIDGE_API_TOKEN"
            )
        try:
            return await endpoint(request)
        except APIError as error:
            return error_response(error.status, error.code, error.message, **error.details)

    wrapper.__name__ = endpoint.__name__
    return wrapper


async def json_body(request: Request) -> dict[str, Any]:
    raw = await read_limited(request, MAX_BODY_BYTES)
    if raw is None:
        message = f"API request bodies are limited to {MAX_BODY_BYTES} bytes"
        raise APIError(413, "too_large", message)
    try:
        body = read_json(raw or b"{}")
    except JSONRejected as error:
        raise APIError(400, "invalid_json", f"the request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise APIError(400, "invalid_json", "the request body must be a JSON object")
    return body


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
