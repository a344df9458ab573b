"""Run one handler on one event, inside a sandbox process, and describe what it asked for.

The result is plain JSON data (the `run result` schema):

    {"request": {"method", "url", "headers", "body"} | null,
     "skipped": bool, "reason": str | null, "logs": str,
     "error": {"type", "message", "line"} | null, "duration_ms": float, "recycle": bool}

`recycle` asks the parent to replace this process (a limit was hit; its state is suspect).

Everything that can run the handler's code happens while the run's timer is armed: the
handler itself, reading what it returned, dropping its objects, and collecting its garbage
cycles. A generator's `finally` block is handler code too, and it runs when the generator is
freed; were a cycle of the handler's objects left for a later collection, that code would run
inside another integration's run and spend its time.
"""

from __future__ import annotations

import decimal
import gc
import json
import signal
import time
import types
from collections.abc import Callable
from typing import Any

from .compiler import FILENAME
from .limits import Limits
from .policy import (
    ClassTracker,
    OutputLimit,
    SandboxTimeout,
    make_globals,
    purge_caches,
    readable,
)
from .request import check_request_size
from .webhook import Webhook, clear_fields, fields_of

# An error message is shown to the person who wrote the handler and stored with the delivery;
# a handler may raise any text, so it is cut here.
MAX_ERROR_CHARS = 1000


class _Timer:
    """The run timer: SIGALRM raises SandboxTimeout inside the handler while a run is armed."""

    def __init__(self) -> None:
        self.armed = False
        self.fired = False

    def start(self, timeout_ms: int) -> None:
        self.fired = False
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, timeout_ms / 1000)

    def stop(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)

    def on_alarm(self, signum: int, frame: Any) -> None:
        if not self.armed:
            return
        self.fired = True
        raise SandboxTimeout()


_TIMER = _Timer()
_heap = {"frozen": False}


def install_timer() -> None:
    """Make the run timer raise inside the handler (the parent's kill is the hard limit)."""
    signal.signal(signal.SIGALRM, _TIMER.on_alarm)


def run_code(
    code: types.CodeType,
    event: dict[str, Any],
    limits: Limits,
    helpers: dict[str, Callable[..., Any]],
    seed: int,
) -> dict[str, Any]:
    started = time.perf_counter()
    output = OutputLimit(limits.output_bytes)
    result: dict[str, Any] = {"request": None, "skipped": False, "reason": None, "error": None}
    result["recycle"] = False
    decimal.setcontext(decimal.Context())
    _freeze_heap()

    _TIMER.start(limits.timeout_ms)
    try:
        _run_timed(code, event, limits, helpers, seed, output, result)
    except SandboxTimeout:
        result.update(request=None, skipped=False, reason=None)
        result["error"] = _timeout_error(limits, None)
    finally:
        _TIMER.stop()
    if _TIMER.fired and (result["error"] or {}).get("type") != "TimeoutError":
        # The handler caught the timer's exception and went on; it still ran too long.
        result.update(request=None, skipped=False, reason=None)
        result["error"] = _timeout_error(limits, None)
    if _TIMER.fired:
        # The timer may have fired in the run's clean-up, before it ended: what the handler
        # left (a generator whose `finally` loops, say) could run in the next run. A process
        # whose run hit the time limit is replaced.
        result["recycle"] = True

    result["logs"] = output.text()
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


def _run_timed(
    code: types.CodeType,
    event: dict[str, Any],
    limits: Limits,
    helpers: dict[str, Callable[..., Any]],
    seed: int,
    output: OutputLimit,
    result: dict[str, Any],
) -> None:
    classes = ClassTracker()
    glb = make_globals(output, helpers, seed, classes)
    # The handler gets a copy of the event: the caller's dict outlives the run, and anything
    # the handler hung on it would be freed (running its code) after the timer stopped.
    webhook = Webhook(str(event.get("type", "")), json.loads(json.dumps(event)))
    try:
        _describe(_call_handler(code, glb, webhook), webhook, result, limits)
    except SandboxTimeout as error:
        result["error"] = _timeout_error(limits, error)
    except MemoryError as error:
        result["error"] = _error_of(
            error, "MemoryError", f"the handler used more than {limits.memory_mb} MiB"
        )
        result["recycle"] = True
    except RecursionError as error:
        result["error"] = _error_of(error, "RecursionError", "the handler recursed too deeply")
    except BaseException as error:
        # BaseException too: SystemExit, KeyboardInterrupt, GeneratorExit and a handler's own
        # BaseException subclasses would otherwise end the sandbox process itself.
        result["error"] = _error_of(error, type(error).__name__, _message_of(error))
    finally:
        glb.clear()
        clear_fields(webhook)
        del webhook, glb
        gc.collect()
        _drop_survivors(classes, result)


def _drop_survivors(classes: ClassTracker, result: dict[str, Any]) -> None:
    """A class of the handler that is still alive is held by a cache of the process: empty the
    caches now, while this run's timer runs, and should one still live, replace the process."""
    if not classes.classes:
        return
    purge_caches()
    gc.collect()
    if classes.classes:
        result["recycle"] = True


def _call_handler(code: types.CodeType, glb: dict[str, Any], webhook: Webhook) -> Any:
    exec(code, glb)  # noqa: S102 - restricted code, compiled by sandbox.compiler
    handler = glb.get("handler")
    if not callable(handler):
        raise TypeError("the code must define a function: def handler(webhook):")
    return handler(webhook)


def _describe(returned: Any, webhook: Webhook, result: dict[str, Any], limits: Limits) -> None:
    if returned is not webhook:
        raise TypeError(f"handler returned {type(returned).__name__}; end it with `return webhook`")
    fields = fields_of(webhook)
    if fields["cancel"]:
        result["skipped"] = True
        result["reason"] = f"the handler cancelled this {fields['event_type']} event"
        return
    if not fields["url"]:
        result["skipped"] = True
        result["reason"] = f"the handler set no url for {fields['event_type'] or 'this event'}"
        return

    body = fields["payload"]
    try:
        encoded = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"webhook.payload is not JSON: {error}") from None
    if len(encoded) > limits.body_bytes:
        raise ValueError(f"webhook.payload is larger than {limits.body_bytes} bytes")
    if "\\ud" in encoded and not _is_text(body):
        raise ValueError("webhook.payload holds a lone UTF-16 surrogate, which is not text")
    request = {"method": fields["method"], "url": fields["url"], "headers": fields["headers"]}
    try:
        # A JSON copy: what was checked is what is sent, and no handler object outlives the run.
        request = json.loads(json.dumps(request, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"webhook.method, url and headers must be JSON text: {error}") from None
    if not _is_text(request):
        raise ValueError("webhook.url or headers hold a lone UTF-16 surrogate, which is not text")
    check_request_size(request)
    request["body"] = json.loads(encoded)
    result["request"] = request


def _timeout_error(limits: Limits, error: BaseException | None) -> dict[str, Any]:
    message = f"the handler ran longer than {limits.timeout_ms} ms"
    return {
        "type": "TimeoutError",
        "message": message,
        "line": user_line(error.__traceback__) if error is not None else None,
    }


def _error_of(error: BaseException, kind: str, message: str) -> dict[str, Any]:
    return {
        "type": readable(kind[:100]),
        "message": readable(message[:MAX_ERROR_CHARS]),
        "line": user_line(error.__traceback__),
    }


def _is_text(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _message_of(error: BaseException) -> str:
    """`str(error)`, which can itself fail (a KeyError of a deeply nested list, a huge int)."""
    try:
        return str(error)
    except (MemoryError, RecursionError, ValueError):
        return f"(the {type(error).__name__}'s message could not be shown)"


def user_line(traceback: types.TracebackType | None) -> int | None:
    """The line of the handler's own code where the error happened (its innermost frame)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _freeze_heap() -> None:
    """Move what the process holds before its first run out of the collector's sight, once.

    Every run ends with a full collection (see the module docstring); with the process's own
    long-lived objects frozen, that costs microseconds instead of milliseconds.
    """
    if not _heap["frozen"]:
        gc.collect()
        gc.freeze()
        _heap["frozen"] = True
