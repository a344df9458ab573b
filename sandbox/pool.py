"""A pool of pre-started sandbox processes, and the one call the rest of paybridge uses: run.

Each process is a fresh interpreter started with an empty environment, no inherited file
descriptors but its two pipe ends, in a session of its own. A run that outlives its time
limit (plus a short grace for the process's own timer) gets its whole process group killed;
a replacement is started in the background and the caller gets a clean TimeoutError result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import Any

from .errors import SandboxUnavailable
from .limits import KILL_GRACE_MS, Limits
from .protocol import ChannelClosed, ChannelTimeout, read_frame, write_frame
from .request import RequestRejected, check_request

logger = logging.getLogger("paybridge.sandbox")

DEFAULT_POOL_SIZE = 2
DEFAULT_HELPERS = "transforms.helpers:HELPERS"
START_TIMEOUT_S = 20.0
CHECKOUT_TIMEOUT_S = 30.0
MAX_RUNS_PER_PROCESS = 5000
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LAUNCH = "import sys; sys.path.insert(0, sys.argv.pop(1)); from sandbox.child import main; main()"


def handler_key(source: str) -> str:
    """The cache key of a handler's source: the same code is compiled once per process."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class SandboxPool:
    """Run handlers in isolated processes. Thread-safe; `size` runs can proceed at once."""

    def __init__(
        self,
        size: int = DEFAULT_POOL_SIZE,
        limits: Limits | None = None,
        helpers: str | None = DEFAULT_HELPERS,
    ) -> None:
        self.size = size
        self.limits = limits or Limits()
        self.helpers = helpers
        self.confinement: dict[str, Any] = {}
        self._idle: queue.Queue[_Process] = queue.Queue()
        self._closed = False
        self._workdir = tempfile.mkdtemp(prefix="paybridge-sandbox-")
        starting = [self._spawn() for _ in range(size)]
        for process in starting:
            self.confinement = process.wait_ready()
            self._idle.put(process)

    def run(
        self,
        source: str,
        event: dict[str, Any],
        *,
        key: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Run `handler(webhook)` from `source` on `event`; return a run result (execute.py)."""
        key = key or handler_key(source)
        result, earlier_runs = self._run_once(key, source, event)
        if result.pop("died", False) and earlier_runs:
            # A process that had served other runs died: what killed it may be what an earlier
            # run left behind, maybe another integration's. The run is tried once more in a
            # process started for it, where only this handler can be the cause.
            logger.warning(
                "sandbox process died after %s earlier runs; running again", earlier_runs
            )
            result = self._run_in_new_process(key, source, event)

        if allowed_hosts is not None and result.get("request"):
            try:
                result["request"] = check_request(result["request"], allowed_hosts)
            except RequestRejected as error:
                result["request"] = None
                result["error"] = {
                    "type": "RequestRejected",
                    "message": str(error),
                    "line": None,
                    "field": error.field,
                }
        return result

    def _run_once(self, key: str, source: str, event: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """A run on the next free process, and how many runs that process had served before."""
        process = self._checkout()
        earlier_runs = process.runs
        try:
            result = self._run_on(process, key, source, event)
        except BaseException:
            self._replace(process)
            raise
        if result.pop("recycle", False) or process.runs >= MAX_RUNS_PER_PROCESS:
            self._replace(process)
        else:
            self._idle.put(process)
        return result, earlier_runs

    def _run_in_new_process(self, key: str, source: str, event: dict[str, Any]) -> dict[str, Any]:
        process = self._spawn()
        try:
            process.wait_ready()
            result = self._run_on(process, key, source, event)
        finally:
            process.kill()
        result.pop("died", None)
        result.pop("recycle", None)
        return result

    def idle_pids(self) -> list[int]:
        """The process ids of the sandbox processes waiting for a run."""
        return [process.pid for process in list(self._idle.queue)]

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                break

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run_on(
        self, process: _Process, key: str, source: str, event: dict[str, Any]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + (self.limits.timeout_ms + KILL_GRACE_MS) / 1000
        message: dict[str, Any] = {"op": "run", "key": key, "event": event}
        if key not in process.known_keys:
            message["source"] = source
        try:
            result = process.call(message, deadline)
            if result.get("need_source"):
                result = process.call({**message, "source": source}, deadline)
        except ChannelTimeout:
            logger.warning("sandbox run passed its time limit; process %s killed", process.pid)
            message_text = (
                f"the handler ran longer than {self.limits.timeout_ms} ms and was stopped"
            )
            return _failed("TimeoutError", message_text, recycle=True)
        except (ChannelClosed, OSError):
            status = process.kill()
            logger.warning("sandbox process %s died (%s)", process.pid, status)
            died = _failed("SandboxError", _death_message(status, self.limits), recycle=True)
            # Running out of CPU time is the run's own doing: the budget is set per run.
            died["died"] = status != -signal.SIGXCPU
            return died
        process.known_keys.add(key)
        process.runs += 1
        return result

    def _checkout(self) -> _Process:
        if self._closed:
            raise SandboxUnavailable("the sandbox pool is closed")
        try:
            return self._idle.get(timeout=CHECKOUT_TIMEOUT_S)
        except queue.Empty:
            raise SandboxUnavailable("no sandbox process became free in time") from None

    def _replace(self, process: _Process) -> None:
        process.kill()
        if not self._closed:
            threading.Thread(target=self._start_replacement, daemon=True).start()

    def _start_replacement(self) -> None:
        while not self._closed:
            try:
                process = self._spawn()
                process.wait_ready()
            except SandboxUnavailable:
                logger.exception("could not start a sandbox process; trying again")
                time.sleep(1)
                continue
            if self._closed:
                process.kill()
            else:
                self._idle.put(process)
            return

    def _spawn(self) -> _Process:
        config = json.dumps({"limits": self.limits.to_json(), "helpers": self.helpers})
        popen = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _LAUNCH, _PACKAGE_ROOT, config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            cwd=self._workdir,
            close_fds=True,
            start_new_session=True,
        )
        return _Process(popen)


class _Process:
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdin is not None and popen.stdout is not None
        self.popen = popen
        self.pid = popen.pid
        self.write_fd = popen.stdin.fileno()
        self.read_fd = popen.stdout.fileno()
        self.known_keys: set[str] = set()
        self.runs = 0

    def wait_ready(self) -> dict[str, Any]:
        try:
            hello = read_frame(self.read_fd, time.monotonic() + START_TIMEOUT_S)
        except (ChannelClosed, ChannelTimeout) as error:
            self.kill()
            raise SandboxUnavailable(f"a sandbox process did not start: {error!r}") from None
        return dict(hello["confinement"])

    def call(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        write_frame(self.write_fd, message)
        return read_frame(self.read_fd, deadline)

    def kill(self) -> int | None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        status = self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()
        return status


def _failed(kind: str, message: str, recycle: bool) -> dict[str, Any]:
    return {
        "request": None,
        "skipped": False,
        "reason": None,
        "logs": "",
        "error": {"type": kind, "message": message, "line": None},
        "duration_ms": None,
        "recycle": recycle,
    }


def _death_message(status: int | None, limits: Limits) -> str:
    if status == -signal.SIGXCPU:
        return f"the handler used more than {limits.timeout_ms} ms of CPU time and was stopped"
    if status == -signal.SIGKILL:
        return "the sandbox process was killed while running the handler"
    return f"the sandbox process stopped while running the handler (exit status {status})"
