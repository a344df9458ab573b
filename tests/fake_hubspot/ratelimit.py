"""HubSpot's rate limits: a rolling window per token, a per-second search limit, a daily budget.

Headers and 429 bodies follow /work/shared/reference/hubspot-api.md, sections 1.3 to 1.5: search
responses carry no rate-limit headers, OAuth responses carry no daily headers, and a 429 body uses
`errorType` instead of `category`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .auth import TokenGrant

DAILY_LIMIT = 250_000
DEFAULT_INTERVAL_MS = 10_000
NOMINAL_MAX = 100  # what the headers advertise while no limit is enforced (Free/Starter tier)
SEARCH_INTERVAL_MS = 1_000

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"
POLICIES = (TEN_SECONDLY, SECONDLY, DAILY)
POLICY_MESSAGES = {
    TEN_SECONDLY: "You have reached your ten_secondly_rolling limit.",
    SECONDLY: "You have reached your secondly limit.",
    DAILY: "You have reached your daily limit.",
}

_RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}


def parse_rate_limit(text: str) -> tuple[int, int] | None:
    """`100/10s` → (100, 10000); `off` → None. Raises ValueError on anything else."""
    if text.strip().lower() in ("off", "none", ""):
        return None

    match = _RATE_PATTERN.match(text)
    if match is None:
        raise ValueError(f"rate limit {text!r} is not like 100/10s")
    count, amount, unit = match.groups()
    interval_ms = int(amount or 1) * _UNIT_MS[unit or "s"]
    if int(count) < 1 or interval_ms < 1:
        raise ValueError(f"rate limit {text!r} must allow at least one request per interval")
    return int(count), interval_ms


@dataclass
class Admission:
    """The limiter's answer: `policy` is set when the request must get a 429."""

    policy: str | None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class RateLimiter:
    def __init__(
        self,
        max_requests: int | None = None,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        search_per_second: int | None = None,
    ) -> None:
        self.max_requests = max_requests
        self.interval_ms = interval_ms
        self.search_per_second = search_per_second
        self.daily_limit = DAILY_LIMIT
        self._windows: dict[str, deque[float]] = {}
        self._search_window: deque[float] = deque()
        self._daily_used = 0
        self._day = _utc_day()

    def configure(
        self, max_requests: int | None, interval_ms: int, search_per_second: int | None
    ) -> None:
        self.max_requests = max_requests
        self.interval_ms = interval_ms
        self.search_per_second = search_per_second
        self._windows.clear()
        self._search_window.clear()

    def admit(self, grant: TokenGrant, *, is_search: bool) -> Admission:
        """Count one request, or refuse it with the policy it broke."""
        now = time.monotonic()
        self._roll_day()
        if self._daily_used >= self.daily_limit:
            return Admission(DAILY, [] if is_search else self.refusal_headers(grant, DAILY))

        if is_search:
            if not self._take(self._search_window, self.search_per_second, SEARCH_INTERVAL_MS, now):
                return Admission(SECONDLY)
            self._daily_used += 1
            return Admission(None)

        window = self._windows.setdefault(grant.token, deque())
        if not self._take(window, self.max_requests, self.interval_ms, now):
            return Admission(TEN_SECONDLY, self.refusal_headers(grant, TEN_SECONDLY))
        self._daily_used += 1
        if self.max_requests is None:
            return Admission(None, self._headers(grant, NOMINAL_MAX, NOMINAL_MAX - 1))
        return Admission(
            None, self._headers(grant, self.max_requests, self.max_requests - len(window))
        )

    def current_headers(self, grant: TokenGrant) -> list[tuple[bytes, bytes]]:
        """Headers for a response that was not counted (an injected fault)."""
        if self.max_requests is None:
            return self._headers(grant, NOMINAL_MAX, NOMINAL_MAX)
        window = self._windows.get(grant.token, ())
        now = time.monotonic()
        used = sum(1 for stamp in window if now - stamp < self.interval_ms / 1000)
        return self._headers(grant, self.max_requests, max(0, self.max_requests - used))

    def refusal_headers(self, grant: TokenGrant, policy: str) -> list[tuple[bytes, bytes]]:
        limit = self.max_requests if self.max_requests is not None else NOMINAL_MAX
        daily_remaining = 0 if policy == DAILY else None
        return self._headers(grant, limit, 0, daily_remaining=daily_remaining)

    def to_json(self) -> dict:
        return {
            "max": self.max_requests,
            "interval_ms": self.interval_ms,
            "search_per_second": self.search_per_second,
            "daily_limit": self.daily_limit,
            "daily_used": self._daily_used,
        }

    def _take(self, window: deque[float], limit: int | None, interval_ms: int, now: float) -> bool:
        if limit is None:
            return True
        horizon = now - interval_ms / 1000
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def _headers(
        self,
        grant: TokenGrant,
        limit: int,
        remaining: int,
        *,
        daily_remaining: int | None = None,
    ) -> list[tuple[bytes, bytes]]:
        headers = []
        if not grant.oauth:
            if daily_remaining is None:
                daily_remaining = max(0, self.daily_limit - self._daily_used)
            headers += [
                (b"X-HubSpot-RateLimit-Daily", str(self.daily_limit).encode()),
                (b"X-HubSpot-RateLimit-Daily-Remaining", str(daily_remaining).encode()),
            ]
        headers += [
            (b"X-HubSpot-RateLimit-Interval-Milliseconds", str(self.interval_ms).encode()),
            (b"X-HubSpot-RateLimit-Max", str(limit).encode()),
            (b"X-HubSpot-RateLimit-Remaining", str(remaining).encode()),
        ]
        return headers

    def _roll_day(self) -> None:
        today = _utc_day()
        if today != self._day:
            self._day = today
            self._daily_used = 0


def rate_limit_body(policy: str, correlation_id: str, portal_id: int, grant: TokenGrant | None):
    """A 429 body in the shape HubSpot sends for each policy (keys in HubSpot's order)."""
    kind = "oauth" if grant is not None and grant.oauth else "private-app"
    body = {
        "status": "error",
        "message": POLICY_MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
    }
    if policy == TEN_SECONDLY:
        body["policyName"] = policy
        body["groupName"] = f"publicapi:{kind}-api-calls-ten-secondly:{portal_id}"
    elif policy == SECONDLY:
        body["groupName"] = f"publicapi:{kind}-secondly:{portal_id}"
        body["policyName"] = policy
        body["requestId"] = str(uuid.uuid4())
    else:
        body["policyName"] = policy
        body["requestId"] = str(uuid.uuid4())
    return body


def _utc_day() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")
