"""The sandbox pool's processes live and die with the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A parent that starts a pool, then forks without exec (as a forking job runner would), so a
# second process holds the pipes to the sandbox processes open after the parent dies.
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from sandbox.pool import SandboxPool

    pool = SandboxPool(size=2)
    pids = [process.pid for process in list(pool._idle.queue)]
    if os.fork() == 0:
        time.sleep(120)
        os._exit(0)
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_until(condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_sandbox_processes_exit_when_their_parent_is_killed(
    parent: subprocess.Popen[str],
) -> None:
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)

    os.kill(parent.pid, signal.SIGKILL)  # its forked copy lives on, holding the pipes
    parent.wait()

    try:
        assert _wait_until(lambda: not any(_alive(pid) for pid in pids), timeout_s=10), (
            "sandbox processes outlived the process that started them"
        )
    finally:
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
