"""The handler contract (DESIGN.md): the webhook's fields, by attribute and by item."""

from __future__ import annotations

import json

from sandbox import SandboxPool

from .support import CONTACTS_URL, handler, run


def test_fields_can_be_read_and_set_as_items(pool: SandboxPool) -> None:
    source = handler(
        """
        webhook["url"] = "https://api.hubapi.com/crm/v3/objects/contacts"
        webhook["method"] = "PATCH"
        webhook["headers"] = {"X-Source": "dodo"}
        email = webhook["payload"]["data"]["customer"]["email"]
        webhook["payload"] = {"properties": {"email": email, "type": webhook["event_type"]}}
        """
    )

    result = run(pool, source)

    assert result["error"] is None, result
    request = result["request"]
    assert (request["method"], request["url"]) == ("PATCH", CONTACTS_URL)
    assert request["headers"] == {"X-Source": "dodo"}
    assert request["body"]["properties"]["type"] == "payment.succeeded"


def test_event_type_has_a_camel_case_alias_and_cannot_be_changed(pool: SandboxPool) -> None:
    source = handler(
        """
        print(webhook.eventType, webhook["eventType"])
        try:
            webhook.event_type = "refund.succeeded"
        except AttributeError:
            print("read-only")
        webhook["cancel"] = True
        """
    )

    result = run(pool, source)

    assert result["skipped"] is True, result
    assert result["logs"].split() == ["payment.succeeded", "payment.succeeded", "read-only"]


def test_lone_surrogates_from_a_handler_are_shown_as_replacement_characters(
    pool: SandboxPool,
) -> None:
    source = handler(
        """
        print("log \\ud800 end")
        raise ValueError("boom \\udfff")
        """
    )

    result = run(pool, source)

    assert result["logs"] == "log \ufffd end\n"
    assert result["error"]["message"] == "boom \ufffd"
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # shown and stored as UTF-8


def test_a_request_with_a_lone_surrogate_is_an_error_naming_the_payload(pool: SandboxPool) -> None:
    source = handler(
        """
        webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
        webhook.payload = {"properties": {"firstname": "X\\ud800Y", "ok": "\\U0001F600"}}
        """
    )

    result = run(pool, source)

    assert result["request"] is None
    assert "webhook.payload holds a lone UTF-16 surrogate" in result["error"]["message"]
