"""A worker process: an RQ worker that runs jobs in-process, next to its sandbox pool.

RQ's default worker forks a process per job, which would throw away the warm sandbox pool
and cap throughput near 150 jobs/s (../shared/reference/sandbox-and-queue.md, B2). Handlers
never run in this process anyway: they run in the pool's confined processes, so RQ's
`SimpleWorker` is safe here. A sweeper thread re-enqueues deliveries that became due with
nobody on them (their worker died, or Redis lost the queue entry): that bounds how long a
delivery can be lost to `lease_s + DUE_GRACE_S + sweep_interval_s`.
"""

from __future__ import annotations

import logging
import threading

import redis
from rq import SimpleWorker

from engine.settings import Settings
from engine.storage import QUEUE_NAME, Storage

from .runtime import Runtime, build_runtime

logger = logging.getLogger("paybridge.worker")

_runtime: Runtime | None = None


def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the worker runtime is not started; run `paybridge worker`")
    return _runtime


def run_worker(
    settings: Settings, storage: Storage, client: redis.Redis, burst: bool = False
) -> None:
    global _runtime
    _runtime = build_runtime(settings, storage, client)
    stop = threading.Event()
    sweeper = threading.Thread(
        target=_sweep, args=(storage, settings.sweep_interval_s, stop), daemon=True
    )
    sweeper.start()
    try:
        worker = SimpleWorker([QUEUE_NAME], connection=client)
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        stop.set()
        _runtime.close()
        _runtime = None


def _sweep(storage: Storage, interval_s: float, stop: threading.Event) -> None:
    while not stop.wait(interval_s):
        try:
            for delivery_id in storage.claim_overdue():
                logger.warning("delivery %s was overdue; enqueued again", delivery_id)
                storage.count("deliveries_recovered_total")
                storage.enqueue_delivery(delivery_id)
        except redis.RedisError:
            logger.warning("sweeper could not reach Redis; will try again", exc_info=True)
