"""A request-rate limiter per HubSpot account, shared by every worker through Redis.

A sliding log in one small Lua script, on Redis's own clock (TIME), so workers on machines
with different clocks agree. It is exact: at most `limit` acquisitions in any window. A 429
from HubSpot blocks the account until the wait HubSpot asked for has passed.
"""

from __future__ import annotations

import secrets
import time

import redis

# Requests reach HubSpot a little after they are admitted here; the margin keeps two requests
# one window apart here from landing inside one window there.
WINDOW_MARGIN_MS = 250

_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local blocked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked_until > now then return blocked_until - now end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

_BLOCK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_ms
"""


class RateLimiter:
    def __init__(self, client: redis.Redis) -> None:
        self._acquire = client.register_script(_ACQUIRE)
        self._block = client.register_script(_BLOCK)

    def acquire(self, account: str, limit: int, window_s: float) -> float:
        """Take a slot now and return 0, or return how many seconds until one frees up."""
        window_ms = int(window_s * 1000) + WINDOW_MARGIN_MS
        member = f"{time.time_ns()}-{secrets.token_hex(4)}"
        keys = [f"pb:ratelimit:{account}", f"pb:ratelimit:{account}:blocked"]
        wait_ms = int(self._acquire(keys=keys, args=[limit, window_ms, member]))
        return wait_ms / 1000

    def block(self, account: str, seconds: float) -> None:
        """Admit nothing for this account for `seconds` (HubSpot answered 429)."""
        self._block(keys=[f"pb:ratelimit:{account}:blocked"], args=[max(1, int(seconds * 1000))])
