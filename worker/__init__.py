"""Background delivery: run the handler for an event, send the result to HubSpot, record it."""

from .delivery import deliver
from .process import run_worker

__all__ = ["deliver", "run_worker"]
