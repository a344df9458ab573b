"""Running attacks through a real sandbox pool, and checking that the pool still serves.

Every attack ends the same way: the run result carries an error that names the problem, no
request, and the next ordinary event (the contact_from_payment template on the sample
payment) still runs correctly, on the same pool, inside the time limit.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import transforms
from sandbox import Limits, SandboxPool

# A shorter time limit than the default keeps the suite fast; the rules are the same.
LIMITS = Limits(timeout_ms=500)
ALLOWED_HOSTS = ("api.hubapi.com",)
CONTACTS_URL = "https://api.hubapi.com/crm/v3/objects/contacts"
TIMEOUT_MESSAGE = rf"ran longer than {LIMITS.timeout_ms} ms"


def handler(body: str, prelude: str = "") -> str:
    """A handler whose body is `body` (indented for it), after module-level `prelude`."""
    return (
        textwrap.dedent(prelude)
        + "\ndef handler(webhook):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
        + "\n    return webhook\n"
    )


def run(pool: SandboxPool, source: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    event = event if event is not None else transforms.sample("payment.succeeded")
    return pool.run(source, event, allowed_hosts=ALLOWED_HOSTS)


def assert_blocked(
    pool: SandboxPool, source: str, kind: str, message: str, *, then_normal: bool = True
) -> dict[str, Any]:
    """Run an attack; it must end as an error of type `kind` whose message matches `message`."""
    result = run(pool, source)
    error = result["error"]
    assert error is not None, f"the attack was not stopped: {result}"
    assert error["type"] == kind, error
    assert re.search(message, error["message"]), error
    assert result["request"] is None
    if then_normal:
        assert_normal_event_runs(pool)
    return result


def assert_normal_event_runs(pool: SandboxPool) -> dict[str, Any]:
    event = transforms.sample("payment.succeeded")
    code = transforms.template("contact_from_payment")["code"]
    result = run(pool, code, event)
    assert result["error"] is None, result
    assert result["request"]["url"] == CONTACTS_URL
    properties = result["request"]["body"]["properties"]
    assert properties["email"] == event["data"]["customer"]["email"]
    assert result["duration_ms"] < pool.limits.timeout_ms
    return result
