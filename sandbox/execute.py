"""Run one handler on one event, inside a sandbox process, and describe what it asked for.

The result is plain JSON data (the `run result` schema):

    {"request": {"method", "url", "headers", "body"} | null,
     "skipped": bool, "reason": str | null, "logs": str,
     "error": {"type", "message", "line"} | null, "duration_ms": float, "recycle": bool}

`recycle` asks the parent to replace this process (a limit was hit; its state is suspect).
"""

from __future__ import annotations

import decimal
import json
import signal
import time
import types
from collections.abc import Callable
from typing import Any

from .compiler import FILENAME
from .limits import Limits
from .policy import OutputLimit, SandboxTimeout, make_globals
from .webhook import Webhook, fields_of


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
    webhook = Webhook(str(event.get("type", "")), event)
    try:
        returned = _call_with_timer(code, webhook, output, helpers, seed, limits.timeout_ms)
        _describe(returned, webhook, result, limits)
    except SandboxTimeout as error:
        result["error"] = _error_of(
            error, "TimeoutError", f"the handler ran longer than {limits.timeout_ms} ms"
        )
    except MemoryError as error:
        result["error"] = _error_of(
            error, "MemoryError", f"the handler used more than {limits.memory_mb} MiB"
        )
        result["recycle"] = True
    except RecursionError as error:
        result["error"] = _error_of(error, "RecursionError", "the handler recursed too deeply")
    except Exception as error:
        result["error"] = _error_of(error, type(error).__name__, str(error))

    result["logs"] = output.text()
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


def _call_with_timer(
    code: types.CodeType,
    webhook: Webhook,
    output: OutputLimit,
    helpers: dict[str, Callable[..., Any]],
    seed: int,
    timeout_ms: int,
) -> Any:
    glb = make_globals(output, helpers, seed)
    signal.setitimer(signal.ITIMER_REAL, timeout_ms / 1000)
    try:
        exec(code, glb)  # noqa: S102 - restricted code, compiled by sandbox.compiler
        handler = glb.get("handler")
        if not callable(handler):
            raise TypeError("the code must define a function: def handler(webhook):")
        return handler(webhook)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


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
    headers = fields["headers"]
    try:
        json.dumps(headers)
    except (TypeError, ValueError) as error:
        raise ValueError(f"webhook.headers is not JSON: {error}") from None
    result["request"] = {
        "method": fields["method"],
        "url": fields["url"],
        "headers": headers,
        "body": body,
    }


def _error_of(error: BaseException, kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "line": user_line(error.__traceback__)}


def user_line(traceback: types.TracebackType | None) -> int | None:
    """The line of the handler's own code where the error happened (its innermost frame)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def install_timer() -> None:
    """Make the run timer raise inside the handler (the parent's kill is the hard limit)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise SandboxTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
