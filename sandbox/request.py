"""Check the request a handler asked for before anything is sent."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

from .limits import ALLOWED_METHODS, FRAMING_HEADERS, RESERVED_HEADERS

MAX_URL_CHARS = 8 * 1024
MAX_HEADER_CHARS = 8 * 1024
MAX_HEADERS = 50
# A header name is an RFC 9110 token (section 5.1): "Authorization " or "Host:" would pass a
# plain comparison with the reserved names, then be refused by the HTTP client at send time.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values may hold tabs but no other control character (RFC 9110 section 5.5); and the
# HTTP client sends header values as ASCII, so anything else is refused here, not at send time.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
# urlsplit drops tabs and newlines before parsing, so the host it sees need not be the host
# an HTTP client would see; a URL with any space or control character is refused outright.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")


class RequestRejected(ValueError):
    """The handler's request breaks a rule; `field` names the webhook field at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"webhook.{field}: {message}")


def check_request(request: dict[str, Any], allowed_hosts: Iterable[str]) -> dict[str, Any]:
    """Return the request with its method upper-cased, or raise RequestRejected."""
    check_request_size(request)
    method = request.get("method")
    if not isinstance(method, str) or method.upper() not in ALLOWED_METHODS:
        allowed = ", ".join(ALLOWED_METHODS)
        raise RequestRejected("method", f"{method!r} is not allowed; use one of {allowed}")

    _check_url(request.get("url"), allowed_hosts)
    _check_headers(request.get("headers"))
    return {**request, "method": method.upper()}


def check_request_size(request: dict[str, Any]) -> None:
    """The size rules alone; the sandbox process applies them before it answers its parent."""
    method, url, headers = request.get("method"), request.get("url"), request.get("headers")
    if isinstance(method, str) and len(method) > max(map(len, ALLOWED_METHODS)):
        raise RequestRejected("method", f"{method[:20]!r}… is not an HTTP method")
    if isinstance(url, str) and len(url) > MAX_URL_CHARS:
        raise RequestRejected("url", f"is {len(url)} characters long; the limit is {MAX_URL_CHARS}")
    if isinstance(headers, dict) and len(headers) > MAX_HEADERS:
        raise RequestRejected("headers", f"has {len(headers)} headers; the limit is {MAX_HEADERS}")
    for name, value in headers.items() if isinstance(headers, dict) else ():
        if len(str(name)) + len(str(value)) > MAX_HEADER_CHARS:
            raise RequestRejected(
                "headers", f"{str(name)[:40]!r} is longer than {MAX_HEADER_CHARS} characters"
            )


def _check_url(url: Any, allowed_hosts: Iterable[str]) -> None:
    if not isinstance(url, str):
        raise RequestRejected("url", f"must be text, not {type(url).__name__}")
    if _URL_FORBIDDEN.search(url):
        raise RequestRejected("url", f"{url!r} has a space, backslash or control character")
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
    segments = urllib.parse.unquote(parts.path).split("/")
    if "." in segments or ".." in segments:
        raise RequestRejected("url", f"{url!r} has a '.' or '..' segment in its path")


def _check_headers(headers: Any) -> None:
    if headers is None:
        return
    if not isinstance(headers, dict):
        raise RequestRejected("headers", f"must be a dict, not {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise RequestRejected("headers", f"{name!r}: names and values must be text")
        if not _HEADER_NAME.fullmatch(name):
            raise RequestRejected("headers", f"{name!r} is not a valid header name")
        if name.lower() in RESERVED_HEADERS or name.lower() in FRAMING_HEADERS:
            raise RequestRejected("headers", f"{name!r} is set by paybridge and cannot be set")
        if not _HEADER_VALUE.fullmatch(value):
            raise RequestRejected(
                "headers",
                f"{name!r} has a control or non-ASCII character in its value {value[:40]!r}",
            )
