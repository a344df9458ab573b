"""The processes a benchmark starts, the Redis database it uses, and the CPU time they spend.

Every process started here belongs to a `with` block that stops it, also on Ctrl-C or an
exception. Each child's output goes to a log file under `bench-results/logs/`, so the figures
stay readable and a failure can still be looked into.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import redis

from engine.redis_server import free_port
from tests.harness import REPO_ROOT, STOP_TIMEOUT_S, Paybridge, wait_until

BENCH_REDIS_URL = os.environ.get("PAYBRIDGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
LOG_DIR = REPO_ROOT / "bench-results" / "logs"
START_TIMEOUT_S = 30.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def bench_redis() -> Iterator[redis.Redis]:
    """The benchmark database, flushed before and after."""
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        raise RuntimeError(f"benchmarks need Redis at {BENCH_REDIS_URL}: {error}") from None
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def log_path(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{name}.log"


class QuietPaybridge(Paybridge):
    """The test harness's `Paybridge`, with each process's output in its own log file."""

    def __init__(self, *args: Any, log_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_name = log_name
        self._spawned = 0

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self._spawned += 1
        path = log_path(f"{self.log_name}-{args[0]}-{self._spawned}")
        with path.open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "engine.cli", *args],
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


class Child:
    """One Python module run as a process, stopped (TERM, then KILL) when the block ends."""

    def __init__(self, log_name: str, module: str, *args: str) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.log_name = log_name
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Child:
        with log_path(self.log_name).open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.log_name} exited early; see {log_path(self.log_name)}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class HttpServer(Child):
    """A `Child` that serves HTTP on a free port; the block starts once it answers `health`."""

    def __init__(self, log_name: str, module: str, *args: str, health: str = "/healthz") -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.health = health
        super().__init__(log_name, module, "--port", str(self.port), *args)

    def __enter__(self) -> HttpServer:
        super().__enter__()
        try:
            wait_until(self._healthy, START_TIMEOUT_S, what=f"{self.log_name} to answer")
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        self.check_running()
        try:
            return httpx.get(self.base_url + self.health, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


# -- CPU time -----------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds spent by named process trees (a process, its children, and reaped ones)."""

    def __init__(self, trees: dict[str, list[int]], redis_client: redis.Redis | None) -> None:
        self.trees = trees
        self.redis = redis_client
        self._start: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = self._read()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = self._read()
        self.spent = {name: end[name] - self._start.get(name, 0.0) for name in end}

    def _read(self) -> dict[str, float]:
        seconds = {
            name: sum(tree_cpu_seconds(pid) for pid in pids) for name, pids in self.trees.items()
        }
        seconds["bench (load generator)"] = _own_cpu_seconds()
        if self.redis is not None:
            seconds["redis-server (whole server)"] = _redis_cpu_seconds(self.redis)
        return seconds


class OtherLoad:
    """CPU the rest of the machine used meanwhile (not this run's processes, not redis-server).

    Other people's test runs on the same machine change every figure here; this says by how much.
    """

    def __init__(self, redis_client: redis.Redis | None) -> None:
        self.redis = redis_client

    def __enter__(self) -> OtherLoad:
        self._start = self._read()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = self._read()
        elapsed = end[0] - self._start[0]
        used = (end[1] - self._start[1]) - (end[2] - self._start[2])
        self.cores = max(0.0, used / elapsed) if elapsed > 0 else float("nan")

    def _read(self) -> tuple[float, float, float]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        machine = (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS
        ours = tree_cpu_seconds(os.getpid()) + _redis_cpu_seconds(self.redis)
        return time.monotonic(), machine, ours


def _redis_cpu_seconds(client: redis.Redis | None) -> float:
    if client is None:
        return 0.0
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and its children: live ones, and the ones it has already reaped."""
    total = _cpu_seconds(pid, with_reaped=True)
    for child in children_of(pid):
        total += tree_cpu_seconds(child)
    return total


def children_of(pid: int) -> list[int]:
    children: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return children
    for thread in threads:
        try:
            text = Path(f"/proc/{pid}/task/{thread}/children").read_text()
        except FileNotFoundError:
            continue
        children += [int(part) for part in text.split()]
    return children


def descendants_named(pid: int, marker: str) -> list[int]:
    """Processes under `pid` whose command line contains `marker`."""
    found = []
    for child in children_of(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        if marker.encode() in command:
            found.append(child)
        found += descendants_named(child, marker)
    return found


def _cpu_seconds(pid: int, with_reaped: bool) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    # Fields after the command name (which may hold spaces): state is field 3, utime 14.
    fields = text.rpartition(")")[2].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    ticks = utime + stime + (cutime + cstime if with_reaped else 0)
    return ticks / _CLOCK_TICKS


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
