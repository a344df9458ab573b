"""What a worker process holds for its whole life: settings, storage, sandbox pool, HTTP client."""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import httpx
import redis

from engine.settings import Settings
from engine.storage import Storage
from sandbox import SandboxPool

from .ratelimit import RateLimiter

logger = logging.getLogger("paybridge.worker")

WORKER_SANDBOX_PROCESSES = 2


@dataclasses.dataclass
class Runtime:
    settings: Settings
    storage: Storage
    pool: SandboxPool
    http: httpx.Client
    limiter: RateLimiter

    def close(self) -> None:
        self.pool.close()
        self.http.close()


def build_runtime(settings: Settings, storage: Storage, client: redis.Redis) -> Runtime:
    limits = settings.sandbox_limits
    timeout_s = settings.http_timeout_s
    http = httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
    )
    pool = SandboxPool(size=WORKER_SANDBOX_PROCESSES, limits=limits)
    missing = [layer for layer, in_force in pool.confinement.items() if not in_force]
    if missing:
        # README, "The sandbox": which layers need root, and that the others still hold.
        logger.warning("sandbox layers not in force on this machine: %s", ", ".join(missing))
    return Runtime(settings, storage, pool, http, RateLimiter(client))


def account_key(account: str | None, token: str | None) -> str:
    """The rate-limit key of a HubSpot account: its portal id, or a hash of its token."""
    if account:
        return f"hub-{account}"
    digest = hashlib.sha256((token or "").encode("utf-8")).hexdigest()[:16]
    return f"token-{digest}"
