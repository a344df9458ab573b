"""The RQ jobs the web app enqueues by name (`worker.jobs.deliver`, `worker.jobs.fan_out`)."""

from __future__ import annotations

from .delivery import deliver as _deliver
from .process import current_runtime


def deliver(delivery_id: str) -> str | None:
    return _deliver(current_runtime(), delivery_id)


# How many deliveries one fan_out moves into the queue per round trip.
FAN_OUT_BATCH = 500


def fan_out() -> int:
    """Enqueue a `deliver` job for every delivery in the inbox; return how many."""
    storage = current_runtime().storage
    moved = 0
    while delivery_ids := storage.take_inbox(FAN_OUT_BATCH):
        storage.enqueue_deliveries(delivery_ids)
        moved += len(delivery_ids)
    return moved
