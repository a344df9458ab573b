"""Signed Dodo events, and a load generator that posts them over keep-alive HTTP/1.1.

The client writes prebuilt request bytes on plain asyncio streams. httpx would do, but on a
2-core machine its client costs more CPU per request than the servers under test, and the
figures would measure the client. Two ways to drive:

- `rate_per_s` set: open loop. Request i is due at start + i / rate, whether or not earlier
  ones have been answered; latency counts from when it was due, so a server that falls behind
  shows it in its latency instead of slowing the sender down.
- `rate_per_s` None: as fast as `connections` connections allow, each sending its next
  request when the last one is answered. This finds how many events per second a server
  can accept at all.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import time
import urllib.parse
from typing import Any

import transforms
from tests.harness import sign

REAL_PAYMENT = "payment.succeeded__real-Bounce-anonymized"
REQUEST_TIMEOUT_S = 10.0
ACCEPTED = (200, 202)


def payment_events(count: int, tag: str) -> list[dict[str, Any]]:
    """`count` copies of a real payment, each with its own customer email and payment id."""
    base = transforms.real_samples()[REAL_PAYMENT]
    events = []
    for number in range(count):
        event = json.loads(json.dumps(base))
        event["data"]["customer"]["email"] = f"bench-{tag}-{number}@example.com"
        event["data"]["payment_id"] = f"pay_bench_{tag}_{number}"
        events.append(event)
    return events


def signed_requests(
    base_url: str, integration: dict[str, Any], events: list[dict[str, Any]], tag: str
) -> list[bytes]:
    """Raw `POST /webhooks/{id}` requests, signed with the integration's secret, as Dodo sends."""
    host = urllib.parse.urlsplit(base_url).netloc
    path = f"/webhooks/{integration['id']}"
    requests = []
    for number, event in enumerate(events):
        body = json.dumps(event).encode()
        headers = sign(integration["signing_secret"], body, f"msg_{tag}_{number}")
        headers["content-length"] = str(len(body))
        head = f"POST {path} HTTP/1.1\r\nhost: {host}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        requests.append(head.encode() + b"\r\n" + body)
    return requests


@dataclasses.dataclass
class LoadResult:
    sent: int = 0
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    errors: int = 0
    latencies_s: list[float] = dataclasses.field(default_factory=list)
    first_sent: float = 0.0
    last_done: float = 0.0
    first_accept: float | None = None
    last_accept: float | None = None

    @property
    def accepted(self) -> int:
        return sum(self.statuses[status] for status in ACCEPTED)

    @property
    def rejected(self) -> int:
        return self.sent - self.accepted

    @property
    def accepted_per_s(self) -> float:
        elapsed = self.last_done - self.first_sent
        return self.accepted / elapsed if elapsed > 0 else float("nan")


def drive(
    base_url: str,
    requests: list[bytes],
    *,
    rate_per_s: float | None,
    connections: int,
    time_limit_s: float,
) -> LoadResult:
    """Post `requests` in order (see the module docstring); stop issuing after `time_limit_s`."""
    parts = urllib.parse.urlsplit(base_url)
    pool = _Pool(parts.hostname or "127.0.0.1", parts.port or 80, connections)
    return asyncio.run(_drive(pool, requests, rate_per_s, time_limit_s))


async def _drive(
    pool: _Pool, requests: list[bytes], rate_per_s: float | None, time_limit_s: float
) -> LoadResult:
    result = LoadResult()
    result.first_sent = time.monotonic()
    deadline = result.first_sent + time_limit_s
    try:
        if rate_per_s is None:
            await _as_fast_as_possible(pool, requests, result, deadline)
        else:
            await _open_loop(pool, requests, rate_per_s, result, deadline)
    finally:
        pool.close()
    return result


async def _as_fast_as_possible(
    pool: _Pool, requests: list[bytes], result: LoadResult, deadline: float
) -> None:
    pending = iter(requests)

    async def sender() -> None:
        for request in pending:
            if time.monotonic() > deadline:
                return
            await _send(pool, request, time.monotonic(), result)

    await asyncio.gather(*(sender() for _ in range(pool.max_connections)))


async def _open_loop(
    pool: _Pool, requests: list[bytes], rate_per_s: float, result: LoadResult, deadline: float
) -> None:
    tasks = []
    for number, request in enumerate(requests):
        due = result.first_sent + number / rate_per_s
        if due > deadline:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_send(pool, request, due, result)))
    await asyncio.gather(*tasks)


async def _send(pool: _Pool, request: bytes, started: float, result: LoadResult) -> None:
    result.sent += 1
    connection = None
    try:
        connection = await pool.acquire()
        status = await asyncio.wait_for(connection.exchange(request), REQUEST_TIMEOUT_S)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
        result.errors += 1
        result.last_done = time.monotonic()
        pool.discard(connection)
        return
    pool.release(connection)

    done = time.monotonic()
    result.last_done = done
    result.statuses[status] += 1
    if status in ACCEPTED:
        result.latencies_s.append(done - started)
        result.first_accept = result.first_accept or done
        result.last_accept = done


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole response; return the status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """Up to `max_connections` keep-alive connections; a request waits for a free one."""

    def __init__(self, host: str, port: int, max_connections: int) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.opened = 0
        self._idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
        self._all: set[_Connection] = set()

    async def acquire(self) -> _Connection:
        if self._idle.empty() and self.opened < self.max_connections:
            self.opened += 1
            return await self._open()
        connection = await self._idle.get()
        return connection if connection is not None else await self._open()

    def release(self, connection: _Connection) -> None:
        self._idle.put_nowait(connection)

    def discard(self, connection: _Connection | None) -> None:
        """Drop a broken connection; the next request waiting opens a new one in its place."""
        if connection is not None:
            connection.close()
            self._all.discard(connection)
        self._idle.put_nowait(None)

    def close(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        connection = _Connection(reader, writer)
        self._all.add(connection)
        return connection
