"""The operating system's layers of the sandbox, seen from outside its processes.

The policy keeps a handler from reaching `os` or `socket` at all, so these layers are checked
directly: the pool's processes as /proc shows them, and `confine()` applied in a fresh
interpreter that then tries what a handler that escaped the policy would try.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sandbox import SandboxPool
from sandbox.confine import NOBODY
from tests.harness import REPO_ROOT

IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(size=1) as started:
        yield started


def test_a_sandbox_process_starts_with_no_environment_and_only_its_pipe(pool: SandboxPool) -> None:
    (pid,) = pool.idle_pids()

    with open(f"/proc/{pid}/environ", "rb") as environ:
        assert environ.read() == b""
    descriptors = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    # stdin and stdout are its pipe to the parent, stderr goes nowhere (/dev/null), and it
    # reads its own size after each run.
    assert descriptors == [0, 1, 2, 3]
    assert os.readlink(f"/proc/{pid}/fd/2") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/3") == f"/proc/{pid}/statm"


def test_a_sandbox_process_reports_every_layer_that_holds(pool: SandboxPool) -> None:
    assert pool.confinement["rlimits"] is True
    assert pool.confinement["seccomp"] is True
    assert pool.confinement["network_namespace"] is IS_ROOT
    assert pool.confinement["unprivileged_user"] is IS_ROOT


@pytest.mark.skipif(not IS_ROOT, reason="the namespace and the user change need root")
def test_a_sandbox_process_has_no_network_and_runs_as_nobody(pool: SandboxPool) -> None:
    (pid,) = pool.idle_pids()

    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    with open(f"/proc/{pid}/status") as status:
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    assert uids == [str(NOBODY)] * 4


ESCAPED = """
import json, os, socket, subprocess, sys
from sandbox.confine import confine

layers = confine(64)
tried = {}

def attempt(name, action):
    try:
        action()
        tried[name] = "done"
    except BaseException as error:
        tried[name] = type(error).__name__

attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("unix socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("fork", os.fork)
attempt("exec", lambda: subprocess.run(["/bin/true"]))
def write():
    with open(sys.argv[1], "w") as file:
        file.write("x" * 10)
        file.flush()

attempt("write a file", write)
attempt("memory", lambda: bytearray(256 * 1024 * 1024))
sys.stdout.write(json.dumps({"layers": layers, "tried": tried}))
"""


def test_code_past_the_policy_still_meets_the_os_layers(tmp_path) -> None:
    target = tmp_path / "written"
    finished = subprocess.run(
        [sys.executable, "-c", ESCAPED, str(target)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_ROOT)},
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)

    assert report["layers"]["seccomp"] is True
    tried = report["tried"]
    assert tried["socket"] == "PermissionError"
    assert tried["unix socket"] == "PermissionError"
    assert tried["fork"] == "PermissionError"
    assert tried["exec"] in ("PermissionError", "BlockingIOError")
    # As root the user change stops it (PermissionError); otherwise the size limit (EFBIG).
    assert tried["write a file"] in ("PermissionError", "OSError")
    assert not target.exists() or target.stat().st_size == 0
    assert tried["memory"] == "MemoryError"
