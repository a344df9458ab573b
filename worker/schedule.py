"""When to try a failed delivery again: the retry schedule, with jitter."""

from __future__ import annotations

import random

JITTER = 0.2  # each delay is moved by up to ±20%, so retries of one outage spread out


def next_delay_s(schedule: tuple[float, ...], failures: int) -> float | None:
    """Delay before the attempt after `failures` failed ones, or None when it is time to give up."""
    if failures > len(schedule):
        return None
    base = schedule[failures - 1]
    return max(0.0, base * random.uniform(1 - JITTER, 1 + JITTER))
