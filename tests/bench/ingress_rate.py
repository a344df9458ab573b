"""B. Ingress: signed events accepted per second and accept latency, against a bare endpoint.

Both servers get the same signed requests from the same load generator (load.py):

1. as fast as 16 connections allow, for a bounded time: the most events per second each
   accepts (paybridge with its 2 workers running and delivering to the fake HubSpot);
2. open loop at half the bare endpoint's rate (the rate the target asks paybridge to reach):
   accept latency from when each request was due.

CPU seconds of each process over phase 1 show where the machine's two cores went.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from tests.fake_hubspot import FakeHubSpot

from .load import LoadResult, drive, payment_events, signed_requests
from .processes import (
    BENCH_REDIS_URL,
    CpuMeter,
    HttpServer,
    QuietPaybridge,
    bench_redis,
    descendants_named,
)
from .report import Section, median, percentile

CONNECTIONS = 16
LATENCY_CONNECTIONS = 64
WARMUP_EVENTS = 300
CAPACITY_TIME_S = 6.0
CAPACITY_MAX_EVENTS = 12_000
LATENCY_TIME_S = 5.0
WORKERS = 2
RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0


def run(section: Section, quick: bool) -> None:
    capacity_s = CAPACITY_TIME_S / 2 if quick else CAPACITY_TIME_S
    latency_s = LATENCY_TIME_S / 2 if quick else LATENCY_TIME_S
    section.note(
        f"phase 1: as fast as {CONNECTIONS} connections allow for {capacity_s:g} s; phase 2: open "
        f"loop at half the bare endpoint's rate for {latency_s:g} s; paybridge has {WORKERS} "
        "workers delivering meanwhile"
    )
    with bench_redis() as client, FakeHubSpot() as hubspot, tempfile.TemporaryDirectory() as data:
        bare_app = ("tests.bench.bare_app", "--redis-url", BENCH_REDIS_URL)
        with HttpServer("ingress-bare", *bare_app) as bare:
            signer = _Signer(bare.base_url, {"id": "int_bare", "signing_secret": _new_secret()})
            with CpuMeter({"bare endpoint": [bare.pid]}, client) as bare_cpu:
                bare_capacity = _capacity(signer, capacity_s)
            steady_rate = round(bare_capacity.accepted_per_s * RATIO_TARGET)
            bare_latency = _latency(signer, steady_rate, latency_s)

        paybridge = QuietPaybridge(
            BENCH_REDIS_URL, hubspot.base_url, Path(data), workers=WORKERS, log_name="ingress"
        )
        with paybridge:
            integration = paybridge.create_integration(
                name="Bench", template="contact_from_payment", hubspot_token=hubspot.token
            )
            signer = _Signer(paybridge.base_url, integration)
            assert paybridge.web is not None
            trees = {
                "paybridge web": [paybridge.web.pid],
                "paybridge workers (with sandboxes)": [w.pid for w in paybridge.workers],
                "fake HubSpot": descendants_named(os.getpid(), "tests.fake_hubspot"),
            }
            paybridge_latency = _latency(signer, steady_rate, latency_s)
            with CpuMeter(trees, client) as paybridge_cpu:
                paybridge_capacity = _capacity(signer, capacity_s)

    _report_capacity(section, "bare endpoint", bare_capacity, bare_cpu, "bare endpoint")
    _report_capacity(section, "paybridge", paybridge_capacity, paybridge_cpu, "paybridge web")
    section.at_least(
        "paybridge / bare endpoint, events accepted per second",
        paybridge_capacity.accepted_per_s / bare_capacity.accepted_per_s,
        RATIO_TARGET,
        "x",
    )
    _report_latency(section, "bare endpoint", bare_latency, steady_rate, None)
    _report_latency(section, "paybridge", paybridge_latency, steady_rate, P99_TARGET_MS)


class _Signer:
    """Fresh signed requests for one server: every batch has events and webhook ids of its own."""

    def __init__(self, base_url: str, integration: dict[str, Any]) -> None:
        self.base_url = base_url
        self.integration = integration
        self.batches = 0

    def requests(self, count: int) -> list[bytes]:
        self.batches += 1
        tag = f"b{self.batches}"
        events = payment_events(count, tag)
        return signed_requests(self.base_url, self.integration, events, tag)


def _capacity(signer: _Signer, seconds: float) -> LoadResult:
    warmup = signer.requests(WARMUP_EVENTS)
    drive(signer.base_url, warmup, rate_per_s=None, connections=4, time_limit_s=30)
    timed = signer.requests(int(CAPACITY_MAX_EVENTS * seconds / CAPACITY_TIME_S))
    return drive(
        signer.base_url, timed, rate_per_s=None, connections=CONNECTIONS, time_limit_s=seconds
    )


def _latency(signer: _Signer, rate: float, seconds: float) -> LoadResult:
    requests = signer.requests(int(rate * seconds))
    return drive(
        signer.base_url,
        requests,
        rate_per_s=rate,
        connections=LATENCY_CONNECTIONS,
        time_limit_s=seconds + 1,
    )


def _report_capacity(
    section: Section, who: str, result: LoadResult, cpu: CpuMeter, server: str
) -> None:
    elapsed = result.last_done - result.first_sent
    section.figure(
        f"{who}: events accepted per second (max, {CONNECTIONS} connections)",
        result.accepted_per_s,
        "events/s",
    )
    section.at_most(
        f"{who}: requests not accepted (non-2xx or errors)", result.rejected, 0, "requests"
    )
    per_event_ms = cpu.spent[server] / max(1, result.accepted) * 1000
    section.figure(f"{who}: {server} CPU per accepted event", per_event_ms, "ms")
    for name, seconds in cpu.spent.items():
        section.figure(f"{who}: cores used by {name}", seconds / elapsed, "cores")


def _report_latency(
    section: Section, who: str, result: LoadResult, rate: float, p99_target_ms: float | None
) -> None:
    latencies_ms = [seconds * 1000 for seconds in result.latencies_s]
    section.figure(
        f"{who}: accepted per second at {rate:g}/s offered (open loop)",
        result.accepted_per_s,
        "events/s",
    )
    section.figure(f"{who}: accept latency p50 at {rate:g}/s", median(latencies_ms), "ms")
    p99 = percentile(latencies_ms, 0.99)
    if p99_target_ms is None:
        section.figure(f"{who}: accept latency p99 at {rate:g}/s", p99, "ms")
    else:
        section.below(f"{who}: accept latency p99 at {rate:g}/s", p99, p99_target_ms, "ms")
    section.at_most(f"{who}: requests not accepted at {rate:g}/s", result.rejected, 0, "requests")


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
