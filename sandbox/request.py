"""Check the request a handler asked for before anything is sent."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any

from .limits import ALLOWED_METHODS, RESERVED_HEADERS

MAX_HEADER_CHARS = 8 * 1024


class RequestRejected(ValueError):
    """The handler's request breaks a rule; `field` names the webhook field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"webhook.{field}: {message}")


def check_request(request: dict[str, Any], allowed_hosts: Iterable[str]) -> dict[str, Any]:
    """Return the request with its method upper-cased, or raise RequestRejected."""
    method = request.get("method")
    if not isinstance(method, str) or method.upper() not in ALLOWED_METHODS:
        allowed = ", ".join(ALLOWED_METHODS)
        raise RequestRejected("method", f"{method!r} is not allowed; use one of {allowed}")

    _check_url(request.get("url"), allowed_hosts)
    _check_headers(request.get("headers"))
    return {**request, "method": method.upper()}


def _check_url(url: Any, allowed_hosts: Iterable[str]) -> None:
    if not isinstance(url, str):
        raise RequestRejected("url", f"must be text, not {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RequestRejected("url", f"{url!r} is not a valid URL ({error})") from None
    if parts.scheme != "https":
        raise RequestRejected("url", f"{url!r} must start with https://")
    if parts.username is not None or parts.password is not None:
        raise RequestRejected("url", "must not carry a user name or password")
    host = (parts.hostname or "").lower()
    allowed = sorted({name.lower() for name in allowed_hosts})
    if host not in allowed or port not in (None, 443):
        raise RequestRejected(
            "url", f"host {host!r} is not allowed; requests may go to {', '.join(allowed)}"
        )


def _check_headers(headers: Any) -> None:
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise RequestRejected("headers", f"must be a dict, not {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise RequestRejected("headers", f"{name!r}: names and values must be text")
        if name.lower() in RESERVED_HEADERS:
            raise RequestRejected("headers", f"{name!r} is set by paybridge and cannot be set")
        if any(ch in name + value for ch in "\r\n\0") or len(name + value) > MAX_HEADER_CHARS:
            raise RequestRejected("headers", f"{name!r} has an invalid value")
