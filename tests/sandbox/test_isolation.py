"""What one run leaves behind, the next one must not meet: one sandbox process, two runs.

Each test runs a handler that tries to leave something in the process, then another
integration's handler on the same process, which must see nothing of it and pay nothing for it.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

import transforms
from sandbox import Limits, SandboxPool
from sandbox.compiler import compile_handler
from sandbox.execute import install_timer, run_code
from tests.harness import wait_until

from .support import CONTACTS_URL, LIMITS, assert_normal_event_runs, handler, run

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


def test_re_escape_cannot_hand_re_s_own_table_to_a_handler(one_process_pool: SandboxPool) -> None:
    # re.escape calls `pattern.translate(<re's module-level table>)`: a str subclass would get
    # the table, and could rewrite how every later handler's re.escape works.
    attacker = handler(
        """
        import re
        re.escape(Grab("x"))
        STOLEN[0][ord("@")] = "@|.*|"
        webhook.cancel = True
        """,
        """
        STOLEN = []
        class Grab(str):
            def translate(self, table):
                STOLEN.append(table)
                return ""
        """,
    )
    victim = handler(
        """
        import re
        webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
        webhook.payload = {"escaped": re.escape("jane.doe@example.com")}
        """
    )

    attacked = run(one_process_pool, attacker)
    result = run(one_process_pool, victim)

    assert attacked["error"]["type"] == "IndexError", attacked
    assert result["request"]["body"] == {"escaped": r"jane\.doe@example\.com"}


def test_a_run_that_reached_the_time_limit_replaces_its_process() -> None:
    # The timer can fire in the run's clean-up, which would then not finish; nothing of such
    # a run may stay for the next one.
    install_timer()
    code = compile_handler(
        handler(
            """
            try:
                while True:
                    pass
            except BaseException:
                pass
            webhook.cancel = True
            """
        )
    )
    event = transforms.sample("payment.succeeded")

    result = run_code(code, event, Limits(timeout_ms=100), {}, seed=1)

    assert result["error"]["type"] == "TimeoutError", result
    assert result["recycle"] is True


def test_memory_runs_leave_behind_replaces_the_process(one_process_pool: SandboxPool) -> None:
    # An unknown encoding's name stays in `encodings`' cache: 10 names of 1 MB a run, so after
    # a few runs more than a quarter of the memory limit is held by no run.
    hoarder = handler(
        """
        import random
        tag = str(random.random())
        for i in range(10):
            try:
                "x".encode("." + "a" * 1000000 + tag + str(i))
            except LookupError:
                pass
        webhook.cancel = True
        """
    )
    first = _idle_pid(one_process_pool)
    limit_mb = one_process_pool.limits.memory_mb

    runs = 0
    while _idle_pid(one_process_pool) == first:
        assert runs * 10 < limit_mb / 2, "the process kept what its runs left behind"
        assert run(one_process_pool, hoarder)["error"] is None
        runs += 1

    fresh = _idle_pid(one_process_pool)
    for _ in range(30):
        assert_normal_event_runs(one_process_pool)
    assert _idle_pid(one_process_pool) == fresh, "ordinary runs must not replace it"


def _idle_pid(pool: SandboxPool) -> int:
    """The pid of a one-process pool's process, once it is idle (a replacement starts first)."""
    pids = wait_until(lambda: pool.idle_pids() or None, 10, what="the sandbox process")
    return int(pids[0])


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_run_whose_used_process_dies_is_run_again_in_a_fresh_one(
    one_process_pool: SandboxPool,
) -> None:
    assert_normal_event_runs(one_process_pool)  # the process has served an earlier run
    pid = _idle_pid(one_process_pool)
    busy = handler(
        """
        import datetime
        start = datetime.datetime.now()
        while (datetime.datetime.now() - start).total_seconds() < 0.2:
            pass
        webhook.url = "https://api.hubapi.com/crm/v3/objects/contacts"
        """
    )
    ticks = _cpu_ticks(pid)
    outcome: dict[str, dict] = {}
    runner = threading.Thread(target=lambda: outcome.update(result=run(one_process_pool, busy)))
    runner.start()
    wait_until(lambda: _cpu_ticks(pid) > ticks + 2, 5, interval_s=0.005, what="the run to start")

    os.kill(pid, signal.SIGKILL)  # as if something left by an earlier run had ended it
    runner.join(10)

    assert outcome["result"]["error"] is None, outcome
    assert outcome["result"]["request"]["url"] == CONTACTS_URL
    assert one_process_pool.idle_pids() != [pid]
