"""The shared rate limiter: exact under concurrency, and a HubSpot 429 blocks the account."""

from __future__ import annotations

import threading
import time

import redis

from worker.ratelimit import WINDOW_MARGIN_MS, RateLimiter


def test_workers_together_never_exceed_the_limit(redis_url):
    client = redis.Redis.from_url(redis_url)
    limiters = [RateLimiter(redis.Redis.from_url(redis_url)) for _ in range(4)]
    admitted: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 2.5

    def hammer(limiter: RateLimiter) -> None:
        while time.monotonic() < deadline:
            if limiter.acquire("hub-1", 10, 1.0) == 0:
                with lock:
                    admitted.append(time.monotonic())

    threads = [threading.Thread(target=hammer, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    window_s = 1.0 + WINDOW_MARGIN_MS / 1000
    admitted.sort()
    for index, started in enumerate(admitted):
        inside = [t for t in admitted[index:] if t - started < window_s - 0.05]
        assert len(inside) <= 10
    assert 20 <= len(admitted) <= 30
    client.close()


def test_a_refused_acquire_says_how_long_to_wait(redis_url):
    limiter = RateLimiter(redis.Redis.from_url(redis_url))
    for _ in range(3):
        assert limiter.acquire("hub-2", 3, 10.0) == 0

    wait_s = limiter.acquire("hub-2", 3, 10.0)

    assert 9.0 < wait_s <= 10.0 + WINDOW_MARGIN_MS / 1000


def test_accounts_are_limited_separately(redis_url):
    limiter = RateLimiter(redis.Redis.from_url(redis_url))
    assert limiter.acquire("hub-a", 1, 10.0) == 0
    assert limiter.acquire("hub-a", 1, 10.0) > 0
    assert limiter.acquire("hub-b", 1, 10.0) == 0


def test_a_block_holds_the_account_until_it_ends(redis_url):
    limiter = RateLimiter(redis.Redis.from_url(redis_url))

    limiter.block("hub-3", 5.0)
    wait_s = limiter.acquire("hub-3", 100, 10.0)

    assert 4.0 < wait_s <= 5.0
    assert limiter.acquire("hub-4", 100, 10.0) == 0
