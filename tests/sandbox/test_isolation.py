"""What one run leaves behind, the next one must not meet: one sandbox process, two runs.

Each test runs a handler that tries to leave something in the process, then another
integration's handler on the same process, which must see nothing of it and pay nothing for it.
"""

from __future__ import annotations

import pytest

import transforms
from sandbox import Limits, SandboxPool
from sandbox.compiler import compile_handler
from sandbox.execute import install_timer, run_code

from .support import LIMITS, assert_normal_event_runs, handler, run

# A generator whose `finally` never ends, kept alive by a class that a process-wide cache holds:
# were the cache emptied during the next run, that run would spend its whole time limit here.
LOOPING_GENERATOR = """
def stuck():
    try:
        yield 1
    finally:
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
"""

CACHE_ATTACKS = [
    pytest.param(
        handler(
            """
            import re
            for i in range(512):
                re.compile("flush-%d" % i)
            g = stuck()
            next(g)
            class Key(str):
                keep = g
            re.compile(Key("anchor"))
            for i in range(511):
                re.compile("fill-%d" % i)
            webhook.cancel = True
            """,
            LOOPING_GENERATOR,
        ),
        handler(
            """
            import re
            for i in range(600):
                re.sub("victim-%d" % i, "", "text")
            webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
            """
        ),
        id="re-cache",
    ),
    pytest.param(
        handler(
            """
            import datetime
            g = stuck()
            next(g)
            class Format(str):
                keep = g
            datetime.datetime.strptime("2026", Format("%Y"))
            webhook.cancel = True
            """,
            LOOPING_GENERATOR,
        ),
        handler(
            """
            import datetime
            for n in range(150):
                datetime.datetime.strptime("2026-01-05 at %d" % n, "%Y-%m-%d at " + str(n))
            webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
            """
        ),
        id="strptime-cache",
    ),
]


@pytest.mark.parametrize("attacker, victim", CACHE_ATTACKS)
def test_a_handler_cannot_leave_code_to_run_in_another_integrations_run(
    one_process_pool: SandboxPool, attacker: str, victim: str
) -> None:
    left = run(one_process_pool, attacker)
    assert left["request"] is None

    result = run(one_process_pool, victim)

    assert result["error"] is None, result
    assert result["duration_ms"] < LIMITS.timeout_ms
    assert_normal_event_runs(one_process_pool)


def test_a_class_kept_alive_after_its_run_replaces_the_process() -> None:
    # A cache of the process that paybridge does not know of, played by a helper here.
    kept: list[object] = []
    install_timer()
    code = compile_handler(handler("class Thing:\n    pass\nkeep(Thing)\nwebhook.cancel = True"))
    event = transforms.sample("payment.succeeded")

    result = run_code(code, event, Limits(), {"keep": kept.append}, seed=1)

    assert result["error"] is None, result
    assert result["recycle"] is True
    kept.clear()
    plain = compile_handler(handler("class Thing:\n    pass\nwebhook.cancel = True"))
    assert run_code(plain, event, Limits(), {}, seed=1)["recycle"] is False


def test_module_state_does_not_carry_over(one_process_pool: SandboxPool) -> None:
    poison = handler(
        """
        import json, math, re, datetime, decimal
        for module in (json, math, re, datetime, decimal):
            try:
                module.loads = None
            except TypeError:
                pass
        decimal.Decimal(1) / 3  # in the run's own context (28 digits), whatever it did
        SEEN.append("first")
        webhook.cancel = True
        """,
        "SEEN = []",
    )
    run(one_process_pool, poison)

    probe = handler(
        """
        import json, decimal
        SEEN.append("second")
        webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
        third = str(decimal.Decimal(1) / 3)
        webhook.payload = {"seen": SEEN, "json": json.loads("[1]"), "d": third}
        """,
        "SEEN = []",
    )
    result = run(one_process_pool, probe)

    assert result["error"] is None, result
    assert result["request"]["body"] == {"seen": ["second"], "json": [1], "d": "0." + "3" * 28}


def test_each_run_gets_a_fresh_random(one_process_pool: SandboxPool) -> None:
    draw = handler(
        """
        import random
        webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
        webhook.payload = {"draws": [random.random() for _ in range(4)]}
        """
    )
    draws = [tuple(run(one_process_pool, draw)["request"]["body"]["draws"]) for _ in range(3)]

    assert len(set(draws)) == 3
