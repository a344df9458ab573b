"""The `paybridge` command: dev on the embedded Redis, transform run, replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import redis

import transforms
from engine.redis_server import free_port
from tests.harness import REPO_ROOT, Paybridge, wait_until

PAYBRIDGE = [sys.executable, "-m", "engine.cli"]


def _env_without_paybridge() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PAYBRIDGE_")}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_dev_runs_on_its_own_redis_and_ctrl_c_stops_everything(tmp_path: Path):
    port = free_port()
    env = {**_env_without_paybridge(), "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [*PAYBRIDGE, "dev", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, what="dev to start")
        redis_url = (tmp_path / ".paybridge" / "redis" / "url").read_text().strip()
        assert redis.Redis.from_url(redis_url).config_get("appendonly") == {"appendonly": "yes"}

        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    api_token = (tmp_path / ".paybridge" / "api_token").read_text().strip()
    assert f"http://127.0.0.1:{port}" in output
    assert api_token in output
    assert not _answers(f"http://127.0.0.1:{port}/healthz")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
        still_running = True
    except redis.ConnectionError:
        still_running = False
    assert not still_running, "the embedded Redis outlived paybridge dev"


def test_transform_run_prints_the_request(tmp_path: Path):
    handler = tmp_path / "handler.py"
    handler.write_text(transforms.template("deal_from_payment")["code"])
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(transforms.real_samples()["payment.succeeded__dodopayments-cli-mock"])
    )

    done = subprocess.run(
        [*PAYBRIDGE, "transform", "run", str(handler), "--event", str(event)],
        capture_output=True,
        env={**_env_without_paybridge(), "PAYBRIDGE_DATA_DIR": str(tmp_path / "data")},
        cwd=REPO_ROOT,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["request"]["url"] == "https://api.hubapi.com/crm/v3/objects/deals"


def test_transform_run_points_at_the_broken_line(tmp_path: Path):
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(webhook):\n    return webhook.__class__\n")

    done = subprocess.run(
        [*PAYBRIDGE, "transform", "run", str(handler), "--event-type", "payment.succeeded"],
        capture_output=True,
        env={**_env_without_paybridge(), "PAYBRIDGE_DATA_DIR": str(tmp_path / "data")},
        cwd=REPO_ROOT,
        timeout=60,
    )

    assert done.returncode == 1
    assert f"{handler}:2:" in done.stderr.decode()


def test_replay_command_replays_failed_deliveries_with_progress(redis_url, hubspot, tmp_path):
    code = transforms.template("contact_from_payment")["code"]
    broken = code.replace('"email": email', '"email": email, "nope": "x"')
    with Paybridge(redis_url, hubspot.base_url, tmp_path) as paybridge:
        integration = paybridge.create_integration(
            name="C", code=broken, hubspot_token=hubspot.token
        )
        ids = []
        for i in range(3):
            event = transforms.sample("payment.succeeded")
            event["data"]["customer"]["email"] = f"r{i}@example.com"
            ids.append(paybridge.post_event(integration, event, f"m{i}").json()["delivery_id"])
        for delivery_id in ids:
            paybridge.wait_for_status(delivery_id, ("failed",))
        paybridge.api.patch(f"/api/integrations/{integration['id']}", json={"code": code})

        done = subprocess.run(
            [*PAYBRIDGE, "replay", "--integration", integration["id"]],
            capture_output=True,
            env=paybridge.env,
            cwd=REPO_ROOT,
            timeout=60,
        )

        assert done.returncode == 0, done.stderr
        assert "3 deliveries enqueued again" in done.stdout.decode()
        assert "replaying: 100%" in done.stderr.decode()
        for delivery_id in ids:
            paybridge.wait_for_status(delivery_id, ("delivered",))
