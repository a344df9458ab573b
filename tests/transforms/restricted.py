"""A minimal RestrictedPython policy, just enough to run the templates in tests.

The real sandbox (``sandbox/``) is built separately; this stand-in uses only the builtins and
guards the templates are allowed to rely on, so a template that needs more fails here first.
"""

import builtins
import operator
from typing import Any

from RestrictedPython import compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)

from transforms import HELPERS

# What the templates may assume on top of RestrictedPython's safe_builtins.
EXTRA_BUILTINS = (
    "dict",
    "list",
    "min",
    "max",
    "sum",
    "enumerate",
    "any",
    "all",
    "sorted",
    "isinstance",
    "len",
    "str",
    "int",
    "float",
    "round",
)


class StandInWebhook:
    """The fields of paybridge's ``webhook`` object, with attribute access only."""

    _guarded_writes = True  # lets full_write_guard allow `webhook.url = ...`

    def __init__(self, event: dict[str, Any]) -> None:
        self.event_type = event.get("type", "")
        self.payload = event
        self.url = ""
        self.method = "POST"
        self.headers: dict[str, str] = {}
        self.cancel = False


def restricted_handler(code: str, filename: str = "<handler>") -> Any:
    """Compile ``code`` with RestrictedPython and return its ``handler`` function."""
    result = compile_restricted_exec(code, filename=filename)
    if result.errors or result.code is None:
        raise SyntaxError("; ".join(result.errors))

    restricted_builtins = dict(safe_builtins)
    for name in EXTRA_BUILTINS:
        restricted_builtins[name] = getattr(builtins, name)
    namespace: dict[str, Any] = {
        "__builtins__": restricted_builtins,
        "_getattr_": safer_getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_write_": full_write_guard,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        **HELPERS,
    }
    exec(result.code, namespace)
    return namespace["handler"]


def plain_handler(code: str, filename: str = "<handler>") -> Any:
    """Run ``code`` as ordinary Python with the helpers as globals; return ``handler``."""
    namespace: dict[str, Any] = dict(HELPERS)
    exec(compile(code, filename, "exec"), namespace)
    return namespace["handler"]


def run(handler: Any, event: dict[str, Any]) -> StandInWebhook:
    webhook = StandInWebhook(event)
    returned = handler(webhook)
    assert returned is webhook, "a handler must return the webhook it was given"
    return webhook
