"""A handler that runs into its time limit holds one worker; other integrations' events flow
through the others meanwhile (README, "The sandbox")."""

from __future__ import annotations

from pathlib import Path

import redis

import transforms
from tests.harness import Paybridge, wait_until

LOOPS_FOREVER = """
def handler(webhook):
    while True:
        pass
"""
TIME_LIMIT_MS = 3000


def test_other_integrations_are_delivered_while_a_handler_loops(redis_url, hubspot, tmp_path: Path):
    env = {"PAYBRIDGE_SANDBOX_TIMEOUT_MS": str(TIME_LIMIT_MS)}
    with Paybridge(redis_url, hubspot.base_url, tmp_path, workers=2, env=env) as paybridge:
        looping = paybridge.create_integration(name="Loops", code=LOOPS_FOREVER)
        working = paybridge.create_integration(
            name="Works", template="contact_from_payment", hubspot_token=hubspot.token
        )
        stuck = paybridge.post_event(looping, transforms.sample("payment.succeeded"), "msg_loop")
        stuck_id = stuck.json()["delivery_id"]
        client = redis.Redis.from_url(redis_url)
        wait_until(
            lambda: client.exists(f"pb:delivery:{stuck_id}:running"),
            what="a worker to be running the looping handler",
        )

        ids = []
        for n in range(5):
            event = transforms.sample("payment.succeeded")
            event["data"]["customer"]["email"] = f"flow{n}@example.com"
            ids.append(paybridge.post_event(working, event, f"msg_{n}").json()["delivery_id"])
        for delivery_id in ids:
            paybridge.wait_for_status(delivery_id, ("delivered",), timeout_s=TIME_LIMIT_MS / 1000)

        assert paybridge.delivery(stuck_id)["status"] == "pending"  # still in its handler
        ended = paybridge.wait_for_status(stuck_id, ("transform_error",), timeout_s=10)
        client.close()

    assert "ran longer than 3000 ms" in ended["reason"] or "CPU time" in ended["reason"], ended
