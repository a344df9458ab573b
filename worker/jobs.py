"""The RQ jobs the web app enqueues by name (`worker.jobs.deliver`, `worker.jobs.fan_out`)."""

from __future__ import annotations

from .delivery import deliver as _deliver
from .process import current_runtime


def deliver(delivery_id: str) -> str | None:
    return _deliver(current_runtime(), delivery_id)


def fan_out() -> int:
    """Enqueue a `deliver` job for every delivery in the inbox; return how many."""
    return current_runtime().storage.drain_inbox()
