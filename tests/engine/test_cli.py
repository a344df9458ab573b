"""The `paybridge` command: dev on the embedded Redis, transform run, replay."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

import transforms
from engine.redis_server import free_port, start_embedded
from tests.harness import REPO_ROOT, Paybridge, wait_until

PAYBRIDGE = [sys.executable, "-m", "engine.cli"]


def _env_without_paybridge() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PAYBRIDGE_")}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["int", "term", "hup"]
)
def test_dev_runs_on_its_own_redis_and_a_stop_signal_stops_everything(
    tmp_path: Path, stop_signal: signal.Signals
):
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
    children: list[int] = []
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, what="dev to start")
        redis_url = (tmp_path / ".paybridge" / "redis" / "url").read_text().strip()
        assert redis.Redis.from_url(redis_url).config_get("appendonly") == {"appendonly": "yes"}
        children = _children_of(process.pid)
        assert len(children) == 4, children  # Redis, web, two workers

        process.send_signal(stop_signal)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        for pid in [process.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait()

    api_token = (tmp_path / ".paybridge" / "api_token").read_text().strip()
    assert f"http://127.0.0.1:{port}" in output
    assert api_token in output
    assert "Traceback" not in output
    assert [pid for pid in children if _alive(pid)] == []
    assert not _answers(f"http://127.0.0.1:{port}/healthz")


def test_dev_on_a_port_in_use_says_so_and_starts_nothing(tmp_path: Path):
    env = {**_env_without_paybridge(), "PYTHONPATH": str(REPO_ROOT)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*PAYBRIDGE, "dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
        )

    assert done.returncode == 1
    assert f"127.0.0.1:{port} is in use" in done.stderr.decode()
    assert not (tmp_path / ".paybridge" / "redis").exists()


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
    assert not (tmp_path / "data" / "api_token").exists(), "a local run needs no API token"


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


def test_replay_of_an_unknown_delivery_says_so(redis_url, hubspot, tmp_path):
    with Paybridge(redis_url, hubspot.base_url, tmp_path, workers=0) as paybridge:
        integration = paybridge.create_integration(name="C", template="contact_from_payment")
        done = subprocess.run(
            [*PAYBRIDGE, "replay", "--integration", integration["id"], "--delivery", "dlv_nope"],
            capture_output=True,
            env=paybridge.env,
            cwd=REPO_ROOT,
            timeout=60,
        )

    assert done.returncode == 1
    assert "no delivery 'dlv_nope'" in done.stderr.decode()


def test_dev_refuses_to_share_its_folder_with_a_running_dev(tmp_path: Path):
    data = tmp_path / ".paybridge"
    data.mkdir()
    (data / "dev.pid").write_text(f"{os.getpid()}\n")  # a live process holds the folder
    env = {**_env_without_paybridge(), "PYTHONPATH": str(REPO_ROOT)}

    done = subprocess.run(
        [*PAYBRIDGE, "dev", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "already running" in done.stderr.decode()
    assert not (data / "redis").exists()


def test_dev_takes_over_an_embedded_redis_a_killed_dev_left_and_stops_it(tmp_path: Path):
    left_url, left = start_embedded(tmp_path / ".paybridge")  # as a dev killed with -9 leaves it
    port = free_port()
    env = {**_env_without_paybridge(), "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [*PAYBRIDGE, "dev", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, what="dev to start")
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
        left.wait(10)
    finally:
        for child in (process, left):
            if child.poll() is None:
                child.kill()
                child.wait()

    assert f"Taking over the embedded Redis an earlier run left running ({left_url})" in output
    assert left.returncode is not None
