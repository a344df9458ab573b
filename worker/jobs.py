"""The RQ jobs the web app enqueues by name (`worker.jobs.deliver`)."""

from __future__ import annotations

from .delivery import deliver as _deliver
from .process import current_runtime


def deliver(delivery_id: str) -> str | None:
    return _deliver(current_runtime(), delivery_id)
