"""The sandbox process: started clean by the pool, confined, then runs handlers on request.

It reads frames from fd 0 and answers on fd 1 (see protocol.py). Requests:

    {"op": "run", "key": str, "source": str | absent, "event": {...}}  -> a run result
    {"op": "ping"}                                                      -> {"ok": true}

`source` is sent only the first time a key is seen; the compiled form is kept per key, so a
handler version is compiled once per process.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import select
import sys
import types
from collections.abc import Callable
from typing import Any

from .compiler import compile_handler
from .confine import confine, memory_left_behind, set_cpu_budget
from .errors import HandlerCompileError, compile_error
from .execute import install_timer, run_code
from .limits import Limits
from .protocol import ChannelClosed, read_frame, write_frame

CACHED_HANDLERS = 256
RECURSION_LIMIT = 400
IN_FD, OUT_FD = 0, 1
# How often an idle process checks that the process that started it is still alive.
PARENT_CHECK_S = 1.0


def main() -> None:
    config = json.loads(sys.argv[1])
    limits = Limits.from_json(config["limits"])
    helpers = _load_helpers(config.get("helpers"))
    sys.stdout = sys.stderr
    install_timer()
    sys.setrecursionlimit(RECURSION_LIMIT)

    confinement = confine(limits.memory_mb)
    write_frame(OUT_FD, {"ready": True, "confinement": confinement, "pid": os.getpid()})
    _serve(limits, helpers)


def _serve(limits: Limits, helpers: dict[str, Callable[..., Any]]) -> None:
    cache: collections.OrderedDict[str, types.CodeType] = collections.OrderedDict()
    parent = os.getppid()
    while True:
        if not _wait_for_request(parent):
            return
        try:
            request = read_frame(IN_FD)
        except ChannelClosed:
            return
        if request.get("op") == "ping":
            write_frame(OUT_FD, {"ok": True})
            continue

        result = _run(request, cache, limits, helpers)
        if memory_left_behind(limits.memory_mb):
            result["recycle"] = True
        write_frame(OUT_FD, result)
        if result.get("recycle"):
            return


def _wait_for_request(parent: int) -> bool:
    """Wait for the next request; False once the parent is gone.

    A dead parent normally closes the pipe, which ends the read below. But a process the parent
    forked without exec (a forking job runner, say) holds the pipe open too, so the idle process
    also watches for being handed to another parent, and leaves rather than wait forever.
    """
    while not select.select([IN_FD], [], [], PARENT_CHECK_S)[0]:
        if os.getppid() != parent:
            return False
    return True


def _run(
    request: dict[str, Any],
    cache: collections.OrderedDict[str, types.CodeType],
    limits: Limits,
    helpers: dict[str, Callable[..., Any]],
) -> dict[str, Any]:
    key = request["key"]
    code = cache.get(key)
    if code is None and "source" not in request:
        return {"need_source": True}
    if code is None:
        try:
            code = compile_handler(request["source"], limits)
        except HandlerCompileError as error:
            return {
                "request": None,
                "skipped": False,
                "reason": None,
                "logs": "",
                "error": compile_error(error.problems),
                "duration_ms": 0.0,
                "recycle": False,
            }
        cache[key] = code
        if len(cache) > CACHED_HANDLERS:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)

    set_cpu_budget(limits.timeout_ms / 1000)
    seed = int.from_bytes(os.urandom(8), "big")
    return run_code(code, request["event"], limits, helpers, seed)


def _load_helpers(spec: str | None) -> dict[str, Callable[..., Any]]:
    if not spec:
        return {}
    module_name, _, attribute = spec.partition(":")
    helpers = getattr(importlib.import_module(module_name), attribute)
    return {name: func for name, func in helpers.items() if callable(func)}


if __name__ == "__main__":
    main()
