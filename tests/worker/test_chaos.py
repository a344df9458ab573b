"""A flood of events while workers are killed and Redis restarts: nothing accepted goes missing.

Every event that paybridge accepted (answered 2xx) ends delivered, and HubSpot holds exactly
one deal per event, except where a worker was killed between HubSpot's answer and paybridge's
record of it (README, "Scale out"): such an event may be delivered twice, and its delivery then
shows the interrupted attempt.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path

import httpx

import transforms
from tests.harness import Paybridge, wait_until

EVENTS = 150
FAST_RECOVERY = {
    "PAYBRIDGE_LEASE_S": "3",
    "PAYBRIDGE_DUE_GRACE_S": "1",
    "PAYBRIDGE_SWEEP_INTERVAL_S": "0.5",
    "PAYBRIDGE_RETRY_SCHEDULE_S": "0.5,1,1,2,2,2,2,2,2,2",
}
ONE_DEAL_PER_PAYMENT = """
def handler(webhook):
    webhook.url = "https://api.hubapi.com/crm/v3/objects/deals"
    webhook.payload = {"properties": {"dealname": webhook.payload["data"]["payment_id"]}}
    return webhook
"""


def _payment(number: int) -> dict:
    event = transforms.sample("payment.succeeded")
    event["data"]["payment_id"] = f"pay_chaos_{number}"
    return event


class Flood:
    """Posts EVENTS events from a thread; Dodo-style, a rejected post is tried again later, and
    any 2xx counts as accepted (a 200 says an earlier post of the same webhook id was stored:
    its answer was lost, say in a Redis restart)."""

    def __init__(self, paybridge: Paybridge, integration: dict) -> None:
        self.paybridge = paybridge
        self.integration = integration
        self.accepted: dict[int, str] = {}  # event number -> delivery id
        self.refused = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._post_all, daemon=True)

    def _post_all(self) -> None:
        waiting = collections.deque(range(EVENTS))
        while waiting:
            number = waiting.popleft()
            try:
                response = self.paybridge.post_event(
                    self.integration, _payment(number), f"msg_chaos_{number}"
                )
            except httpx.HTTPError:
                response = None
            with self.lock:
                if response is not None and response.status_code in (200, 202):
                    self.accepted[number] = response.json()["delivery_id"]
                else:
                    self.refused += 1
                    waiting.append(number)

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)


def test_killed_workers_and_a_redis_restart_lose_no_accepted_event(
    embedded_redis, hubspot, tmp_path: Path
):
    url, restart_redis = embedded_redis
    hubspot.inject(kind="slow", delay_s=0.05, count=10_000, path_prefix="/crm/v3/objects/deals")
    with Paybridge(url, hubspot.base_url, tmp_path, workers=2, env=FAST_RECOVERY) as paybridge:
        integration = paybridge.create_integration(
            name="chaos", code=ONE_DEAL_PER_PAYMENT, hubspot_token=hubspot.token
        )
        flood = Flood(paybridge, integration)
        flood.thread.start()

        kills = 0
        for threshold, action in ((30, "kill"), (60, "restart"), (90, "kill"), (120, "kill")):
            wait_until(lambda t=threshold: flood.count() >= t, timeout_s=60, what="the flood")
            if action == "restart":
                restart_redis()
            else:
                paybridge.kill_worker(paybridge.workers[0])
                paybridge.start_worker()
                kills += 1
        flood.thread.join(timeout=120)
        assert not flood.thread.is_alive(), "the flood did not get every event accepted"

        for delivery_id in flood.accepted.values():
            paybridge.wait_for_status(delivery_id, ("delivered",), timeout_s=60)
        wait_until(
            lambda: all(r["status"] for r in hubspot.requests()),
            what="the fake to answer every request in flight",
        )

        deals = collections.Counter(d["properties"]["dealname"] for d in hubspot.deals())
        assert set(deals) == {f"pay_chaos_{n}" for n in range(EVENTS)}, "an event is missing"
        duplicated = [int(name.rsplit("_", 1)[1]) for name, count in deals.items() if count > 1]
        assert len(duplicated) <= kills, f"{len(duplicated)} duplicates after {kills} kills"
        for number in duplicated:
            attempts = paybridge.delivery(flood.accepted[number])["attempt_log"]
            assert any(attempt.get("interrupted") for attempt in attempts), attempts
