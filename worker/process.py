"""A worker process: an RQ worker that runs jobs in-process, next to its sandbox pool.

RQ's default worker forks a process per job, which would throw away the warm sandbox pool
and cap throughput near 150 jobs/s (../shared/reference/sandbox-and-queue.md, B2). Handlers
never run in this process anyway: they run in the pool's confined processes, so RQ's
`SimpleWorker` is safe here.

A sweeper thread enqueues deliveries when they fall due (`pb:due` in storage.py): retries
whose wait is over, and deliveries whose worker died (their lease ran out) or whose queue
entry Redis did not keep. It replaces RQ's scheduler, which would fork a process per worker
that outlives a killed worker. A delivery waits for a dead worker at most
`lease_s + due_grace_s + sweep_interval_s` (60 + 30 + 1 s by default).
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from rq import SimpleWorker

from engine.settings import Settings
from engine.storage import QUEUE_NAME, Storage

from .runtime import Runtime, build_runtime

logger = logging.getLogger("paybridge.worker")

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0
# How long the thread that listens for RQ's worker commands sleeps between looks. RQ gives it
# 60 s, and since redis-py 8.2 stopping that thread waits for it, so a worker could take a
# minute to stop on SIGTERM.
COMMANDS_POLL_S = 0.5

_runtime: Runtime | None = None


def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the worker runtime is not started; run `paybridge worker`")
    return _runtime


def run_worker(
    settings: Settings, storage: Storage, client: redis.Redis, burst: bool = False
) -> None:
    """Work until stopped; ride out Redis outages (a restart, a failover) by reconnecting."""
    global _runtime
    _runtime = build_runtime(settings, storage, client)
    stop = threading.Event()
    sweeper = threading.Thread(
        target=_sweep, args=(storage, settings.sweep_interval_s, stop), daemon=True
    )
    sweeper.start()
    try:
        _work(client, burst)
    finally:
        stop.set()
        _runtime.close()
        _runtime = None


def _work(client: redis.Redis, burst: bool) -> None:
    delay_s = RECONNECT_MIN_S
    while True:
        try:
            worker = Worker([QUEUE_NAME], connection=client)
            worker.work(burst=burst, logging_level="WARNING")
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            logger.warning("lost Redis; reconnecting in %.1f s", delay_s)
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, RECONNECT_MAX_S)


class Worker(SimpleWorker):
    """RQ's in-process worker, quick to stop."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment] # RQ types it None
            sleep_time=COMMANDS_POLL_S,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


def _sweep(storage: Storage, interval_s: float, stop: threading.Event) -> None:
    """Enqueue deliveries that are due: retries whose time came, and any whose worker died."""
    unreachable_since: float | None = None
    while not stop.wait(interval_s):
        try:
            storage.drain_inbox()  # in case ingress's fan_out job was lost
            for delivery_id in storage.claim_due():
                storage.enqueue_delivery(delivery_id)
        except redis.RedisError as error:
            # One line when Redis goes away, not one a second while it stays away.
            if unreachable_since is None:
                unreachable_since = time.monotonic()
                logger.warning("sweeper could not reach Redis (%s); will keep trying", error)
            continue
        if unreachable_since is not None:
            away_s = time.monotonic() - unreachable_since
            logger.warning("sweeper reached Redis again after %.0f s", away_s)
            unreachable_since = None
