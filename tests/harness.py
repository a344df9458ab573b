"""Run paybridge for real in tests and benchmarks: web and worker processes, signed events.

Every process started here is stopped by the context manager, also when a test fails.
Waiting is on conditions (`wait_until`), never on fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from standardwebhooks.webhooks import Webhook

from engine.redis_server import free_port

API_TOKEN = "test-api-token"
SECRET_KEY = "test-secret-key"
REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout_s: float = 20.0, interval_s: float = 0.05, what: str = ""
) -> T:
    """Return the first truthy value of `condition()`, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        time.sleep(interval_s)


def sign(
    secret: str, body: bytes, webhook_id: str, timestamp: float | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, as Dodo sends them."""
    import datetime

    when = datetime.datetime.fromtimestamp(timestamp or time.time(), datetime.UTC)
    signature = Webhook(secret).sign(webhook_id, when, body)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def store_contact_integration(storage: Any, name: str = "Contacts") -> dict[str, Any]:
    """An integration with the contact template, written straight to storage (no HubSpot)."""
    import transforms

    return dict(
        storage.create_integration(
            name=name,
            code=transforms.template("contact_from_payment")["code"],
            event_types=None,
            hubspot_token=None,
            hubspot_account=None,
            on_conflict="update",
            rate_limit=None,
        )
    )


class Paybridge:
    """`paybridge web` plus `workers` × `paybridge worker`, on one Redis, against one HubSpot."""

    def __init__(
        self,
        redis_url: str,
        hubspot_base: str,
        data_dir: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PAYBRIDGE_REDIS_URL": redis_url,
            "PAYBRIDGE_HUBSPOT_API_BASE": hubspot_base,
            "PAYBRIDGE_API_TOKEN": API_TOKEN,
            "PAYBRIDGE_SECRET_KEY": SECRET_KEY,
            "PAYBRIDGE_DATA_DIR": str(data_dir),
            "PAYBRIDGE_PUBLIC_URL": self.base_url,
            "PAYBRIDGE_RETRY_SCHEDULE_S": "0.5,1,1",
            "PAYBRIDGE_SWEEP_INTERVAL_S": "1",
            **(env or {}),
        }
        self.worker_count = workers
        self.log_path = log_path  # when set, every process writes its output there
        self._log = None
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.api = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=30.0,
        )

    def __enter__(self) -> Paybridge:
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.web = self._spawn("web", "--port", str(self.port))
            for _ in range(self.worker_count):
                self.start_worker()
            wait_until(self._healthy, START_TIMEOUT_S, what="paybridge web to answer /healthz")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_worker(self) -> subprocess.Popen[bytes]:
        process = self._spawn("worker")
        self.workers.append(process)
        return process

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.workers.remove(process)

    def stop(self) -> None:
        processes = [p for p in [self.web, *self.workers] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers = []
        self.web = None
        self.api.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- API shortcuts --------------------------------------------------------------------------

    def create_integration(self, **body: Any) -> dict[str, Any]:
        response = self.api.post("/api/integrations", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def post_event(
        self, integration: dict[str, Any], event: dict[str, Any] | bytes, webhook_id: str
    ) -> httpx.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = sign(integration["signing_secret"], body, webhook_id)
        return self.api.post(f"/webhooks/{integration['id']}", content=body, headers=headers)

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/deliveries/{delivery_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for_status(
        self, delivery_id: str, statuses: tuple[str, ...], timeout_s: float = 20.0
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            delivery = self.delivery(delivery_id)
            return delivery if delivery["status"] in statuses else None

        return wait_until(reached, timeout_s, what=f"delivery {delivery_id} to be {statuses}")

    def _healthy(self) -> bool:
        try:
            return self.api.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", *args],
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
