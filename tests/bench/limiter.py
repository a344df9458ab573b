"""D. The rate limiter: twice HubSpot's allowed rate for a minute, and not one 429.

The fake HubSpot enforces 100 requests per rolling 10 s per token, as HubSpot does for a
private app on the Free and Starter tiers, and answers a request over it with HubSpot's 429.
paybridge's limiter is set to the same 100/10s, with two workers sharing it through Redis.
Signed payments arrive open loop at 20 per second (each one is one HubSpot request: twice
the allowed 10 per second) for 60 s (`--quick`: 20 s); then the run waits until every event
is delivered, which at the allowed rate takes about as long again. The run starts once the
token check of the integration's creation (made by the web app, not through the workers'
limiter) has left HubSpot's 10 s window.

Counted at HubSpot's side: the 429s it sent (the target is none), and the most requests it
received in any 10 s, from the arrival times the fake records.
"""

from __future__ import annotations

import bisect
import tempfile
import time
from pathlib import Path

from tests.fake_hubspot import FakeHubSpot
from tests.harness import wait_until

from . import deliveries
from .load import drive, payment_events, signed_requests
from .processes import BENCH_REDIS_URL, QuietPaybridge, bench_redis
from .report import Section

WORKERS = 2
LIMIT = 100
WINDOW_S = 10
OVERLOAD = 2
RUN_S = 60.0
QUICK_RUN_S = 20.0
CONNECTIONS = 16
# After the last event arrives, the backlog drains at the allowed rate; waiting longer than
# twice that means deliveries are stuck, not slow.
DRAIN_ALLOWANCE = 2.0
DRAIN_EXTRA_S = 60.0


def run(section: Section, quick: bool) -> None:
    run_s = QUICK_RUN_S if quick else RUN_S
    allowed_per_s = LIMIT / WINDOW_S
    offered_per_s = OVERLOAD * allowed_per_s
    events = int(offered_per_s * run_s)
    section.note(
        f"{events} signed payments at {offered_per_s:g}/s for {run_s:g} s (twice the allowed "
        f"{LIMIT} per {WINDOW_S} s); fake HubSpot and paybridge both at {LIMIT}/{WINDOW_S}s; "
        f"{WORKERS} workers; load starts once the token check at creation is out of the window"
    )
    with (
        bench_redis() as client,
        FakeHubSpot(rate_limit=f"{LIMIT}/{WINDOW_S}s") as hubspot,
        tempfile.TemporaryDirectory() as data,
    ):
        paybridge = QuietPaybridge(
            BENCH_REDIS_URL,
            hubspot.base_url,
            Path(data),
            workers=WORKERS,
            env={"PAYBRIDGE_HUBSPOT_RATE_LIMIT": f"{LIMIT}/{WINDOW_S}s"},
            log_name="limiter",
        )
        with paybridge:
            integration = paybridge.create_integration(
                name="Bench", template="contact_from_payment", hubspot_token=hubspot.token
            )
            storage = deliveries.storage_for(client)
            # Creating the integration checked its token with HubSpot, outside the workers'
            # limiter (README, Known limits): the run starts once that call is out of
            # HubSpot's window, so that what is counted is the delivery path alone.
            checked_at = max((r["at"] for r in hubspot.requests()), default=0.0)
            wait_until(
                lambda: time.time() > checked_at + WINDOW_S,
                WINDOW_S + 5,
                interval_s=0.1,
                what="the token check to leave HubSpot's window",
            )
            requests = signed_requests(
                paybridge.base_url, integration, payment_events(events, "limit"), "limit"
            )
            started = time.monotonic()
            load = drive(
                paybridge.base_url,
                requests,
                rate_per_s=offered_per_s,
                connections=CONNECTIONS,
                time_limit_s=run_s,
            )
            drain_timeout_s = load.accepted / allowed_per_s * DRAIN_ALLOWANCE + DRAIN_EXTRA_S
            finished = deliveries.wait_settled(
                storage, integration["id"], load.accepted, drain_timeout_s
            )
            counts = deliveries.status_counts(storage, integration["id"])
            paybridge_counters = storage.counters()
            stats = hubspot.stats()
            arrivals = sorted(r["at"] for r in hubspot.requests() if r["path"].startswith("/crm"))
            contacts = len(hubspot.contacts())

    elapsed_s = finished - started
    section.figure("events accepted", load.accepted, "events")
    section.at_most("events not accepted (non-2xx or errors)", load.rejected, 0, "requests")
    section.figure(
        f"events accepted per second over the first {run_s:g} s",
        load.accepted / run_s,
        "events/s",
    )
    section.at_most("429s sent by HubSpot", stats["rate_limited"], 0, "responses")
    section.at_most(
        "events not delivered in the end", load.accepted - counts["delivered"], 0, "events"
    )
    section.at_most("contacts missing at HubSpot", load.accepted - contacts, 0, "contacts")
    section.figure("requests HubSpot received", stats["requests"], "requests")
    section.at_most(
        f"most requests HubSpot received in any {WINDOW_S} s",
        _busiest_window(arrivals, WINDOW_S),
        LIMIT,
        "requests",
    )
    section.figure("first event to last delivered", elapsed_s, "s")
    section.figure(
        "deliveries per second over the whole run",
        counts["delivered"] / elapsed_s,
        "deliveries/s",
    )
    section.figure(
        "deliveries per second / allowed rate",
        counts["delivered"] / elapsed_s / allowed_per_s,
        "x",
    )
    section.figure(
        "waits for a limiter slot (rescheduled attempts)",
        paybridge_counters.get("rate_limit_waits_total", 0),
        "waits",
    )


def _busiest_window(arrivals: list[float], window_s: float) -> int:
    """The most arrivals inside any half-open `window_s` interval that starts at an arrival."""
    busiest = 0
    for index, start in enumerate(arrivals):
        end = bisect.bisect_left(arrivals, start + window_s, lo=index)
        busiest = max(busiest, end - index)
    return busiest
