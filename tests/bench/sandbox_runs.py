"""A. What a warm sandboxed run costs, next to plain Python and a fork per run; and isolation.

For each template, on the real samples of its event type, in one process of its own:

- sandbox: `SandboxPool(size=1).run(...)`, timed by the caller, so the figure includes the
  frames on the pipe both ways; the child's own `duration_ms` splits it in two;
- plain: the template's `handler` called in this process, helpers as globals, a stand-in
  webhook object (tests/transforms/restricted.py);
- fork: `os.fork()` per run, the plain handler in the child, its JSON result back on a pipe,
  `waitpid`: the cost a pool exists to avoid.

Then, with a pool of two processes, one integration's handler loops forever while another's
runs go on: how long the looping run took, and how long the other runs took meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import transforms
from sandbox import Limits, SandboxPool
from sandbox.limits import KILL_GRACE_MS
from tests.harness import wait_until
from tests.transforms.restricted import StandInWebhook, plain_handler

from .report import Section, median, percentile

TEMPLATE_IDS = ("contact_from_payment", "contact_update_on_subscription", "deal_from_payment")
WARMUP_RUNS = 200
TIMED_RUNS = 3000
FORK_RUNS = 2000
QUICK_FORK_RUNS = 300
MEDIAN_TARGET_MS = 0.5
P99_TARGET_MS = 2.0
FORK_RATIO_TARGET = 10.0
# Beyond the time limit and its grace, the parent needs a moment to kill and reap the process.
KILL_ALLOWANCE_MS = 100
OTHER_RUNS_BEFORE_LOOP = 50

LOOPING_HANDLER = "def handler(webhook):\n    while True:\n        pass\n"
# Catches the sandbox's own timer and loops on, so only the parent's kill can stop it.
TIMER_CATCHING_HANDLER = (
    "def handler(webhook):\n"
    "    while True:\n"
    "        try:\n"
    "            while True:\n"
    "                pass\n"
    "        except BaseException:\n"
    "            pass\n"
)


def run(section: Section, quick: bool) -> None:
    fork_runs = QUICK_FORK_RUNS if quick else FORK_RUNS
    section.note(
        f"{TIMED_RUNS} timed runs per template after {WARMUP_RUNS} warm-up runs; "
        f"{fork_runs} fork-per-run runs; medians and nearest-rank p99"
    )
    for template_id in TEMPLATE_IDS:
        _measure_template(section, template_id, fork_runs)
    _measure_loop_isolation(section)


def events_for(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The real samples of the template's event types; its first type's sample when none."""
    real = [
        event
        for event in transforms.real_samples().values()
        if event["type"] in template["event_types"]
    ]
    return real or [transforms.sample(template["event_types"][0])]


# -- one template -------------------------------------------------------------------------------


def _measure_template(section: Section, template_id: str, fork_runs: int) -> None:
    template = transforms.template(template_id)
    source = template["code"]
    events = events_for(template)
    handler = plain_handler(source, f"{template_id}.py")
    key = f"bench:{template_id}"

    with SandboxPool(size=1) as pool:
        _check_same_requests(pool, source, key, handler, events)
        for number in range(WARMUP_RUNS):
            pool.run(source, events[number % len(events)], key=key)
        round_trips_ms, child_ms, elapsed_s = _time_sandbox(pool, source, key, events)
    plain_ms = _time_calls(lambda event: _plain_result(handler, event), events, TIMED_RUNS)
    fork_ms = _time_calls(lambda event: _forked_result(handler, event), events, fork_runs)

    name = f"{template_id} ({len(events)} real sample{'s' if len(events) > 1 else ''})"
    sandbox_median = median(round_trips_ms)
    section.figure(f"{name}: sandbox runs/s on one process", TIMED_RUNS / elapsed_s, "runs/s")
    section.at_most(
        f"{template_id}: sandbox warm run, median", sandbox_median, MEDIAN_TARGET_MS, "ms"
    )
    section.at_most(
        f"{template_id}: sandbox warm run, p99",
        percentile(round_trips_ms, 0.99),
        P99_TARGET_MS,
        "ms",
    )
    overhead_ms = [total - inside for total, inside in zip(round_trips_ms, child_ms, strict=True)]
    section.figure(
        f"{template_id}:   of which in the child (duration_ms), median", median(child_ms), "ms"
    )
    section.figure(f"{template_id}:   of which pipe + parent, median", median(overhead_ms), "ms")
    section.figure(
        f"{template_id}:   of which pipe + parent, p99", percentile(overhead_ms, 0.99), "ms"
    )
    section.figure(f"{template_id}: plain Python call, median", median(plain_ms), "ms")
    section.figure(f"{template_id}: plain Python call, p99", percentile(plain_ms, 0.99), "ms")
    section.figure(f"{template_id}: fork per run, median", median(fork_ms), "ms")
    section.figure(f"{template_id}: fork per run, p99", percentile(fork_ms, 0.99), "ms")
    section.figure(
        f"{template_id}: sandbox / plain (medians)", sandbox_median / median(plain_ms), "x"
    )
    section.at_least(
        f"{template_id}: fork / sandbox (medians)",
        median(fork_ms) / sandbox_median,
        FORK_RATIO_TARGET,
        "x",
    )


def _check_same_requests(
    pool: SandboxPool, source: str, key: str, handler: Any, events: list[dict[str, Any]]
) -> None:
    """The three ways must compute the same thing, or comparing their times means nothing."""
    for event in events:
        sandboxed = pool.run(source, event, key=key)
        if sandboxed["error"]:
            raise AssertionError(f"the template failed in the sandbox: {sandboxed['error']}")
        plain = _plain_result(handler, event)
        forked = _forked_result(handler, event)
        if not sandboxed["request"] == plain["request"] == forked["request"]:
            raise AssertionError(f"sandbox, plain and fork disagree on {event['type']}")


def _time_sandbox(
    pool: SandboxPool, source: str, key: str, events: list[dict[str, Any]]
) -> tuple[list[float], list[float], float]:
    round_trips_ms = []
    child_ms = []
    started = time.perf_counter()
    for number in range(TIMED_RUNS):
        before = time.perf_counter()
        result = pool.run(source, events[number % len(events)], key=key)
        round_trips_ms.append((time.perf_counter() - before) * 1000)
        child_ms.append(float(result["duration_ms"]))
    return round_trips_ms, child_ms, time.perf_counter() - started


def _time_calls(
    call: Callable[[dict[str, Any]], dict[str, Any]], events: list[dict[str, Any]], runs: int
) -> list[float]:
    for number in range(min(runs, WARMUP_RUNS)):
        call(events[number % len(events)])
    timings_ms = []
    for number in range(runs):
        before = time.perf_counter()
        call(events[number % len(events)])
        timings_ms.append((time.perf_counter() - before) * 1000)
    return timings_ms


def _plain_result(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    webhook = StandInWebhook(event)
    handler(webhook)
    if webhook.cancel or not webhook.url:
        return {"request": None, "skipped": True}
    request = {
        "method": webhook.method,
        "url": webhook.url,
        "headers": webhook.headers,
        "body": webhook.payload,
    }
    return {"request": request, "skipped": False}


def _forked_result(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_fd)
            data = memoryview(json.dumps(_plain_result(handler, event)).encode())
            while data:
                data = data[os.write(write_fd, data) :]
            status = 0
        finally:
            os._exit(status)

    os.close(write_fd)
    chunks = []
    with open(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"the forked run exited with status {status}")
    return dict(json.loads(b"".join(chunks)))


# -- an infinite loop next to normal runs -------------------------------------------------------


def _measure_loop_isolation(section: Section) -> None:
    limits = Limits()
    template = transforms.template("contact_from_payment")
    events = events_for(template)
    looping_event = transforms.sample("payment.succeeded")
    variants = (
        ("infinite loop (stopped by its own timer)", LOOPING_HANDLER, 0),
        ("infinite loop catching the timer (killed)", TIMER_CATCHING_HANDLER, KILL_ALLOWANCE_MS),
    )
    section.note(
        f"isolation: pool of 2, time limit {limits.timeout_ms} ms + {KILL_GRACE_MS} ms grace; "
        "contact_from_payment runs back to back on the other process meanwhile"
    )

    with SandboxPool(size=2, limits=limits) as pool, _quiet("paybridge.sandbox"):
        for number in range(20):
            pool.run(template["code"], events[number % len(events)], key="bench:other")
        for label, source, allowance_ms in variants:
            with _runs_in_background(pool, template["code"], events) as others:
                wait_until(lambda: len(others) >= OTHER_RUNS_BEFORE_LOOP, what="other runs")
                started = time.perf_counter()
                result = pool.run(source, looping_event, key=f"bench:{label}")
                ended = time.perf_counter()
            if (result["error"] or {}).get("type") != "TimeoutError":
                raise AssertionError(f"{label}: expected a TimeoutError, got {result['error']}")

            bound_ms = limits.timeout_ms + KILL_GRACE_MS + allowance_ms
            section.at_most(
                f"{label}: the looping run took", (ended - started) * 1000, bound_ms, "ms"
            )
            during = [ms for begin, end, ms in others if end > started and begin < ended]
            section.figure(f"{label}: other runs meanwhile", len(during), "runs")
            section.figure(f"{label}: other runs meanwhile, median", median(during), "ms")
            section.below(
                f"{label}: other runs meanwhile, max",
                max(during, default=float("nan")),
                limits.timeout_ms,
                "ms",
            )


@contextlib.contextmanager
def _runs_in_background(
    pool: SandboxPool, source: str, events: list[dict[str, Any]]
) -> Iterator[list[tuple[float, float, float]]]:
    """Run `source` back to back in a thread; yields (start, end, ms) of each finished run."""
    finished: list[tuple[float, float, float]] = []
    stop = threading.Event()

    def keep_running() -> None:
        number = 0
        while not stop.is_set():
            begin = time.perf_counter()
            pool.run(source, events[number % len(events)], key="bench:other")
            end = time.perf_counter()
            finished.append((begin, end, (end - begin) * 1000))
            number += 1

    thread = threading.Thread(target=keep_running, name="other-runs", daemon=True)
    thread.start()
    try:
        yield finished
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """The pool warns when it kills a process; here that is the point, not news."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
