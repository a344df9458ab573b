"""HubSpot's error bodies, built one way for every route.

Shapes and wording follow the captured responses quoted in /work/shared/reference/hubspot-api.md,
sections 2.2 and 2.3. The correlation id is filled in by the gateway, so the header and the body
carry the same uuid4.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

AUTH_NOT_FOUND_MESSAGE = (
    "Authentication credentials not found. This API supports both API Key and OAuth 2.0 "
    "authentication and you can find more details at "
    "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
MISSING_SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about "
    "required scopes here: https://developers.hubspot.com/scopes."
)
SCOPES_LINK = "https://developers.hubspot.com/scopes"

# Categories HubSpot uses for plain status faults; 5xx and 423 wording is not captured anywhere
# public, so these are plausible rather than verbatim.
CATEGORY_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    423: "LOCKED",
    429: "RATE_LIMITS",
    477: "MIGRATION_IN_PROGRESS",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
MESSAGE_BY_STATUS = {
    423: "The requested resource is locked; wait at least 2 seconds before retrying.",
    477: "A migration is in progress for this account; retry after the Retry-After interval.",
    500: "internal error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class HubSpotError(Exception):
    """An error answered in HubSpot's `Error` schema: status, message, correlationId, category."""

    def __init__(
        self,
        status_code: int,
        category: str,
        message: str,
        *,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.category = category
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, correlation_id: str) -> dict:
        body = {"status": "error", "message": self.message, "correlationId": correlation_id}
        body.update(self.extra)
        body["category"] = self.category
        return body


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def compact_json(value) -> str:
    """JSON as HubSpot's Java side writes it: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def unauthorized() -> HubSpotError:
    return HubSpotError(
        401,
        "INVALID_AUTHENTICATION",
        AUTH_NOT_FOUND_MESSAGE,
        headers={"x-hubspot-auth-failure": "401 Unauthorized"},
    )


def expired_authentication(expired_for_s: float, expired_at: str) -> HubSpotError:
    """HubSpot's 401 for an access token past its lifetime (airbyte#74726, hubspot-api-php#363)."""
    return HubSpotError(
        401,
        "EXPIRED_AUTHENTICATION",
        f"The OAuth token used to make this call expired {_elapsed(expired_for_s)} ago.",
        extra={"context": {"expire time": [expired_at]}},
        headers={"x-hubspot-auth-failure": "401 Unauthorized"},
    )


def missing_scopes(required_any_of: Iterable[str]) -> HubSpotError:
    errors = [
        {
            "message": "One or more of the following scopes are required.",
            "context": {"requiredScopes": list(required_any_of)},
        }
    ]
    return HubSpotError(
        403,
        "MISSING_SCOPES",
        MISSING_SCOPES_MESSAGE,
        extra={"errors": errors, "links": {"scopes": SCOPES_LINK}},
    )


def not_found(message: str = "resource not found") -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", message)


def contact_exists(existing_id: str) -> HubSpotError:
    return HubSpotError(409, "CONFLICT", f"Contact already exists. Existing ID: {existing_id}")


def validation_error(message: str, context: dict | None = None) -> HubSpotError:
    extra = {"context": context} if context else None
    return HubSpotError(400, "VALIDATION_ERROR", message, extra=extra)


def invalid_property_values(details: list[dict]) -> HubSpotError:
    """One 400 naming every bad property, the details JSON-encoded inside `message`."""
    return validation_error(f"Property values were not valid: {compact_json(details)}")


def missing_required_fields(raw_body: bytes, fields: list[str]) -> HubSpotError:
    line, column = _end_position(raw_body)
    return validation_error(
        f"Invalid input JSON on line {line}, column {column}. "
        f"Some required fields were not set: [{', '.join(fields)}]"
    )


def invalid_json(error: json.JSONDecodeError) -> HubSpotError:
    return validation_error(
        f"Invalid input JSON on line {error.lineno}, column {error.colno}: {error.msg}"
    )


def status_error(status_code: int, message: str | None = None, category: str | None = None):
    return HubSpotError(
        status_code,
        category or CATEGORY_BY_STATUS.get(status_code, "ERROR"),
        message or MESSAGE_BY_STATUS.get(status_code, "An error occurred"),
    )


def _elapsed(seconds: float) -> str:
    """`0 second(s)`, `19884 day(s)`: the units HubSpot counts an expiry in."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}(s)"
    return f"{int(seconds)} second(s)"


def _end_position(raw_body: bytes) -> tuple[int, int]:
    """Line and column just past the body, where a JSON reader notices what is missing."""
    text = raw_body.decode("utf-8", errors="replace").rstrip()
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1
