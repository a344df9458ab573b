"""The `webhook` object a handler receives, changes and returns."""

from __future__ import annotations

from typing import Any

READ_ONLY = ("event_type", "eventType")
WRITABLE = ("payload", "url", "method", "headers", "cancel")
FIELDS = READ_ONLY + WRITABLE


class Webhook:
    """One Dodo event on its way to HubSpot: attribute and item access both work.

    `webhook.url` and `webhook["url"]` are the same field. Only the fields of the handler
    contract exist; setting any other, or `event_type`, is an error that names the field.
    """

    __slots__ = ("_fields",)

    def __init__(self, event_type: str, payload: Any) -> None:
        fields = {"event_type": event_type, "payload": payload, "url": "", "method": "POST"}
        fields.update({"headers": {}, "cancel": False})
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, name: str) -> Any:
        if name == "eventType":
            name = "event_type"
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(_unknown(name)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in READ_ONLY:
            raise AttributeError(f"webhook.{name} is read-only")
        if name not in WRITABLE:
            raise AttributeError(_unknown(name))
        self._fields[name] = value

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"webhook.{name} cannot be deleted")

    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str):
            raise KeyError(name)
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise KeyError(name)
        self.__setattr__(name, value)

    def __contains__(self, name: object) -> bool:
        return name in FIELDS

    def __repr__(self) -> str:
        return f"<webhook {self._fields['event_type']}>"


def fields_of(webhook: Webhook) -> dict[str, Any]:
    """The current values, for the sandbox's own use after the handler returns."""
    return dict(object.__getattribute__(webhook, "_fields"))


def _unknown(name: str) -> str:
    return f"webhook has no field {name!r}; its fields are {', '.join(FIELDS)}"


def clear_fields(webhook: Webhook) -> None:
    """Drop every value the handler left on the webhook, once the run is read."""
    object.__getattribute__(webhook, "_fields").clear()
