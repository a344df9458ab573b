"""What a HubSpot answer means for a delivery, with HubSpot's own words kept.

Facts from ../shared/reference/hubspot-api.md: error bodies carry `category`, `message`,
`errors[].context`; validation errors hide per-property JSON inside `message`; 429 bodies name
their `policyName`; `Retry-After` is honoured when present but not relied on.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from typing import Any

import httpx

DELIVERED = "delivered"
RETRY = "retry"  # try again on the retry schedule
WAIT = "wait"  # try again after a wait HubSpot asked for; not counted as a failure
PARK = "park"  # hold every delivery of the integration until its connection is fixed
RECONNECT = "reconnect"  # the token was refused: hold every integration of the HubSpot account
FAIL = "fail"  # final: retrying cannot help

LOCKED_WAIT_S = 2.0  # HubSpot: "locks last 2 s"
SECONDLY_WAIT_S = 1.0
TEN_SECONDLY_WAIT_S = 10.0
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


@dataclasses.dataclass
class Outcome:
    kind: str
    reason: str | None = None
    wait_s: float | None = None
    status_code: int | None = None
    policy: str | None = None
    scopes: list[str] | None = None  # the scopes a 403 MISSING_SCOPES asked for


def classify(response: httpx.Response) -> Outcome:
    status = response.status_code
    body = parse_body(response)
    if 200 <= status < 300:
        return Outcome(DELIVERED, status_code=status)
    if status == 429:
        return _rate_limited(response, body)
    if status == 401:
        reason = (
            f"HubSpot rejected the token ({_category(body)}: {_message(body)}); reconnect HubSpot"
        )
        return Outcome(RECONNECT, reason, status_code=status)
    if status == 403 and _category(body) == "MISSING_SCOPES":
        scopes = missing_scopes(body)
        named = ", ".join(scopes) or "unknown"
        reason = f"HubSpot says the connection lacks scopes: {named}; reconnect granting them"
        return Outcome(PARK, reason, status_code=status, scopes=scopes)
    if status == 423:
        return Outcome(RETRY, f"HubSpot 423 Locked: {_message(body)}", LOCKED_WAIT_S, status)
    if status >= 500:
        return Outcome(RETRY, f"HubSpot {status}: {_message(body)}", status_code=status)
    return Outcome(FAIL, f"HubSpot {status}: {describe_error(body)}", status_code=status)


def network_error(error: Exception) -> Outcome:
    if isinstance(error, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        # The request itself could not be put on the wire: sending it again changes nothing.
        return Outcome(FAIL, f"the request could not be sent: {type(error).__name__}: {error}")
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "network error"
    return Outcome(RETRY, f"HubSpot request {kind}: {type(error).__name__}: {error}")


def parse_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def existing_id(body: Any) -> str | None:
    """The contact id HubSpot names in a 409 "Contact already exists. Existing ID: N"."""
    match = _EXISTING_ID.search(_message(body))
    return match.group(1) if match else None


def missing_scopes(body: Any) -> list[str]:
    scopes: list[str] = []
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        context = error.get("context") or {}
        for key in ("requiredScopes", "requiredGranularScopes"):
            scopes.extend(scope for scope in context.get(key, []) if scope not in scopes)
    return scopes


def describe_error(body: Any) -> str:
    """HubSpot's message, with the properties it names pulled out of its embedded JSON."""
    message = _message(body)
    properties = _property_errors(message)
    if properties:
        return "; ".join(
            f"property {item.get('name')!r}: {item.get('message')} ({item.get('error')})"
            for item in properties
        )
    if isinstance(body, dict) and isinstance(body.get("context"), dict):
        invalid = body["context"].get("INVALID_OBJECT_IDS")
        if invalid:
            return f"{message}: {', '.join(invalid)}"
    return message


def _property_errors(message: str) -> list[dict[str, Any]]:
    start = message.find("[")
    if "were not valid" not in message or start < 0:
        return []
    try:
        items = json.loads(message[start:])
    except ValueError:
        return []
    return [item for item in items if isinstance(item, dict)]


def _rate_limited(response: httpx.Response, body: Any) -> Outcome:
    policy = body.get("policyName") if isinstance(body, dict) else None
    message = _message(body)
    retry_after = _retry_after_s(response.headers.get("Retry-After"))
    if policy == "DAILY":
        wait = retry_after or _until_next_utc_midnight_s()
        reason = f"HubSpot daily limit reached ({message}); waiting until it resets"
    elif policy == "SECONDLY" or "secondly limit" in message:
        wait = retry_after or SECONDLY_WAIT_S
        reason = f"HubSpot secondly limit: {message}"
    else:
        interval_ms = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        wait = retry_after or (float(interval_ms) / 1000 if _is_number(interval_ms) else 0)
        wait = wait or TEN_SECONDLY_WAIT_S
        reason = f"HubSpot rate limit {policy or ''}: {message}".replace("  ", " ")
    return Outcome(WAIT, reason, wait, 429, policy)


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    if _is_number(value):
        return max(0.0, float(value))
    return None


def _until_next_utc_midnight_s() -> float:
    now = datetime.datetime.now(datetime.UTC)
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


def _is_number(value: str | None) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _category(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("category") or body.get("errorType") or "")
    return ""


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or body)
    return str(body)[:500]
