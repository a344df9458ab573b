"""C. End to end: deliveries per second with 2 workers, against RQ's own no-op job rate.

1. RQ's floor: two `SimpleWorker`s run as `paybridge worker` runs them (noop.py), a batch of
   no-op jobs enqueued the way paybridge enqueues a delivery; jobs per second from the first
   enqueue until the last job is gone.
2. paybridge: `paybridge web` and two `paybridge worker`s, the `contact_from_payment`
   template, the fake HubSpot enforcing no limit and paybridge's own limiter set far out of
   the way. A batch of signed real payments is posted as fast as 16 connections allow while
   the workers deliver; deliveries per second from the first accept (the delivery's
   `created_at`) to the last delivered (its `updated_at`).

A warm-up batch runs first on both sides, so handlers are compiled and connections open.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Worker

from engine.storage import JOB_FAILURE_TTL_S, JOB_TIMEOUT_S
from tests.fake_hubspot import FakeHubSpot
from tests.harness import wait_until

from . import deliveries, noop
from .load import LoadResult, drive, payment_events, signed_requests
from .processes import (
    BENCH_REDIS_URL,
    START_TIMEOUT_S,
    Child,
    CpuMeter,
    QuietPaybridge,
    bench_redis,
    descendants_named,
)
from .report import Section

WORKERS = 2
EVENTS = 4000
QUICK_EVENTS = 1000
WARMUP_EVENTS = 200
NOOP_JOBS = 8000
QUICK_NOOP_JOBS = 2000
NOOP_QUEUE = "bench-noop"
CONNECTIONS = 16
TARGET_PER_S = 200.0
# paybridge's limiter stays on, but with room no benchmark can use up.
NO_LIMIT = "1000000/1s"
# Waiting for the last delivery: generous for a machine that delivers ten times slower.
SETTLE_TIMEOUT_S = 120.0
ENQUEUE_CHUNK = 500


def run(section: Section, quick: bool) -> None:
    events = QUICK_EVENTS if quick else EVENTS
    jobs = QUICK_NOOP_JOBS if quick else NOOP_JOBS
    section.note(
        f"{events} signed payments posted as fast as {CONNECTIONS} connections allow, "
        f"{WORKERS} paybridge workers delivering to the fake HubSpot with no limit; "
        f"{jobs} no-op RQ jobs on {WORKERS} plain RQ workers"
    )
    with bench_redis() as client:
        noop_rate, noop_cpu, noop_elapsed = _noop_rate(client, jobs)
        section.figure(f"RQ no-op jobs per second ({WORKERS} workers)", noop_rate, "jobs/s")
        section.figure(
            "RQ no-op: worker CPU per job",
            noop_cpu.spent["RQ workers"] / jobs * 1000,
            "ms",
        )
        _report_cores(section, "RQ no-op", noop_cpu, noop_elapsed)
        client.flushdb()
        delivered_rate = _paybridge_rate(section, client, events)
    section.figure("paybridge deliveries/s / RQ no-op jobs/s", delivered_rate / noop_rate, "x")


# -- RQ's floor ---------------------------------------------------------------------------------


def _noop_rate(client: redis.Redis, jobs: int) -> tuple[float, CpuMeter, float]:
    queue = Queue(NOOP_QUEUE, connection=client)
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(
                Child(f"e2e-noop-worker-{n}", "tests.bench.noop", NOOP_QUEUE, BENCH_REDIS_URL)
            )
            for n in range(1, WORKERS + 1)
        ]

        def registered() -> bool:
            for worker in workers:
                worker.check_running()
            return len(Worker.all(queue=queue)) == WORKERS

        wait_until(registered, START_TIMEOUT_S, what="the RQ no-op workers to register")
        _run_noop_jobs(client, queue, WARMUP_EVENTS)
        with CpuMeter({"RQ workers": [w.pid for w in workers]}, client) as cpu:
            started = time.monotonic()
            _run_noop_jobs(client, queue, jobs)
            elapsed = time.monotonic() - started
    return jobs / elapsed, cpu, elapsed


def _run_noop_jobs(client: redis.Redis, queue: Queue, count: int) -> None:
    """Enqueue `count` no-op jobs as storage.py enqueues a delivery; wait until all are done."""
    job_ids = [f"noop-{secrets.token_hex(8)}" for _ in range(count)]
    for start in range(0, count, ENQUEUE_CHUNK):
        with client.pipeline() as pipe:
            for job_id in job_ids[start : start + ENQUEUE_CHUNK]:
                queue.enqueue_call(
                    noop.JOB,
                    job_id=job_id,
                    result_ttl=0,
                    failure_ttl=JOB_FAILURE_TTL_S,
                    timeout=JOB_TIMEOUT_S,
                    pipeline=pipe,
                )
            pipe.execute()
    # A job enqueued with result_ttl=0 is deleted as soon as it has run.
    keys = [f"rq:job:{job_id}" for job_id in job_ids]
    wait_until(
        lambda: client.exists(*keys) == 0,
        SETTLE_TIMEOUT_S,
        interval_s=deliveries.POLL_INTERVAL_S,
        what=f"{count} no-op jobs to run",
    )
    failed = queue.failed_job_registry.count
    if failed:
        raise RuntimeError(f"{failed} no-op jobs failed; see bench-results/logs/e2e-noop-*.log")


# -- paybridge ----------------------------------------------------------------------------------


def _paybridge_rate(section: Section, client: redis.Redis, events: int) -> float:
    with FakeHubSpot() as hubspot, tempfile.TemporaryDirectory() as data:
        hubspot.set_rate_limit(None)
        paybridge = QuietPaybridge(
            BENCH_REDIS_URL,
            hubspot.base_url,
            Path(data),
            workers=WORKERS,
            env={"PAYBRIDGE_HUBSPOT_RATE_LIMIT": NO_LIMIT},
            log_name="e2e",
        )
        with paybridge:
            integration = paybridge.create_integration(
                name="Bench", template="contact_from_payment", hubspot_token=hubspot.token
            )
            storage = deliveries.storage_for(client)
            _post(paybridge.base_url, integration, WARMUP_EVENTS, "warmup")
            deliveries.wait_settled(storage, integration["id"], WARMUP_EVENTS, SETTLE_TIMEOUT_S)
            requests_before = hubspot.stats()["requests"]

            assert paybridge.web is not None
            trees = {
                "paybridge web": [paybridge.web.pid],
                "paybridge workers (with sandboxes)": [w.pid for w in paybridge.workers],
                "fake HubSpot": descendants_named(os.getpid(), "tests.fake_hubspot"),
            }
            with CpuMeter(trees, client) as cpu:
                started = time.monotonic()
                load = _post(paybridge.base_url, integration, events, "timed")
                total = WARMUP_EVENTS + events
                finished = deliveries.wait_settled(
                    storage, integration["id"], total, SETTLE_TIMEOUT_S
                )
            timed = deliveries.records(storage, integration["id"], "msg_timed_")
            stats = hubspot.stats()
            contacts = len(hubspot.contacts())

    span_s = deliveries.span_s(timed)
    delivered = sum(1 for d in timed if d["status"] == "delivered")
    rate = delivered / span_s
    section.figure(
        "paybridge: events accepted per second meanwhile", load.accepted_per_s, "events/s"
    )
    section.figure("paybridge: first accept to last delivered", span_s, "s")
    section.at_least(
        f"paybridge: deliveries per second ({WORKERS} workers, no HubSpot limit)",
        rate,
        TARGET_PER_S,
        "deliveries/s",
    )
    section.at_most("paybridge: events not delivered", events - delivered, 0, "events")
    section.at_most("paybridge: contacts missing at HubSpot", total - contacts, 0, "contacts")
    section.figure(
        "paybridge: HubSpot requests per delivery",
        (stats["requests"] - requests_before) / max(1, delivered),
        "requests",
    )
    section.at_most("paybridge: 429s from HubSpot", stats["rate_limited"], 0, "responses")
    section.figure(
        "paybridge: workers' CPU per delivery (sandboxes included)",
        cpu.spent["paybridge workers (with sandboxes)"] / max(1, delivered) * 1000,
        "ms",
    )
    _report_cores(section, "paybridge", cpu, finished - started)
    return rate


def _post(base_url: str, integration: dict[str, Any], count: int, tag: str) -> LoadResult:
    requests = signed_requests(base_url, integration, payment_events(count, tag), tag)
    result = drive(base_url, requests, rate_per_s=None, connections=CONNECTIONS, time_limit_s=120)
    if result.accepted != count:
        raise RuntimeError(
            f"paybridge accepted {result.accepted} of {count} events "
            f"(statuses {dict(result.statuses)}, {result.errors} errors)"
        )
    return result


def _report_cores(section: Section, who: str, cpu: CpuMeter, elapsed_s: float) -> None:
    for name, seconds in cpu.spent.items():
        section.figure(f"{who}: cores used by {name}", seconds / elapsed_s, "cores")
