"""The checks on the request a handler returns: each violation names its field."""

from __future__ import annotations

import pytest

from sandbox import RequestRejected, check_request

HOSTS = ("api.hubapi.com",)
GOOD_URL = "https://api.hubapi.com/crm/v3/objects/contacts"


def request(**changes):
    return {"method": "POST", "url": GOOD_URL, "headers": {}, "body": {}, **changes}


@pytest.mark.parametrize(
    "url",
    [
        GOOD_URL,
        "https://API.HUBAPI.COM/crm/v3/objects/contacts",
        "https://api.hubapi.com:443/crm/v3/objects/contacts/jane@example.com?idProperty=email",
    ],
)
def test_urls_on_the_allowed_host_pass(url: str) -> None:
    assert check_request(request(url=url), HOSTS)["url"] == url


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://api.hubapi.com/crm", "must start with https://"),
        ("https://evil.example.com/crm", "host 'evil.example.com' is not allowed"),
        ("https://api.hubapi.com@evil.example.com/", "user name or password"),
        ("https://api.hubapi.com.evil.example.com/", "is not allowed"),
        ("https://api.hubapi.com./crm", "is not allowed"),
        ("https://127.0.0.1/crm", "is not allowed"),
        ("https://[::1]/crm", "is not allowed"),
        ("https://api.hubapi.com:8443/crm", "is not allowed"),
        ("https://api.hubapi.com\\@evil.example.com/", "backslash"),
        ("https://api.hubapi.com\t.evil.example.com/", "control character"),
        ("https://api.hubapi.com/crm/../../_fake/reset", "'..' segment"),
        ("https://api.hubapi.com/crm/%2e%2e/x", "'..' segment"),
        ("https://api.hubapi.com/./crm", "'.' or '..' segment"),
        ("https://api.hubapi.com/" + "x" * 9000, "characters long"),
        (42, "must be text"),
    ],
)
def test_urls_elsewhere_are_refused_naming_the_url(url, words: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        check_request(request(url=url), HOSTS)
    assert caught.value.field == "url"
    assert words in str(caught.value)


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "OPTIONS", "POSTX", 1, None])
def test_other_methods_are_refused(method) -> None:
    with pytest.raises(RequestRejected) as caught:
        check_request(request(method=method), HOSTS)
    assert caught.value.field == "method"


def test_method_case_does_not_matter() -> None:
    assert check_request(request(method="patch"), HOSTS)["method"] == "PATCH"


@pytest.mark.parametrize(
    "headers, words",
    [
        ({"Authorization": "Bearer mine"}, "set by paybridge"),
        ({"AUTHORIZATION": "Bearer mine"}, "set by paybridge"),
        ({"Host": "evil.example.com"}, "set by paybridge"),
        ({"Content-Length": "1"}, "set by paybridge"),
        ({"Transfer-Encoding": "chunked"}, "set by paybridge"),
        ({"Connection": "Upgrade"}, "set by paybridge"),
        ({"Upgrade": "websocket"}, "set by paybridge"),
        ({"Expect": "100-continue"}, "set by paybridge"),
        ({"Proxy-Authorization": "Basic x"}, "set by paybridge"),
        ({"Authorization ": "Bearer mine"}, "not a valid header name"),
        ({"X-Evil\r\nHost": "x"}, "not a valid header name"),
        ({"X-Note": "a\r\nAuthorization: Bearer mine"}, "control or non-ASCII"),
        ({"X-Name": "café"}, "control or non-ASCII"),
        ({"X-Name": "a\x85b"}, "control or non-ASCII"),
        ({"X-Count": 3}, "must be text"),
        ({f"X-{n}": "v" for n in range(51)}, "the limit is 50"),
        ("X-Name: x", "must be a dict"),
    ],
)
def test_bad_headers_are_refused_naming_the_headers(headers, words: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        check_request(request(headers=headers), HOSTS)
    assert caught.value.field == "headers"
    assert words in str(caught.value)


def test_ordinary_extra_headers_pass() -> None:
    headers = {"X-Request-Source": "paybridge test", "Content-Type": "application/json"}
    assert check_request(request(headers=headers), HOSTS)["headers"] == headers
