"""One attempt at one delivery: transform, check, rate-limit, send, record, decide what next."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from engine.settings import parse_rate_limit
from engine.storage import (
    FINAL_STATUSES,
    ConnectionUnavailable,
    Credentials,
    NeedsReconnect,
    NotFound,
    now_s,
)
from sandbox import SandboxUnavailable

from . import outcomes
from .hubspot import HubSpotSender, Throttled
from .runtime import Runtime, account_key
from .schedule import next_delay_s

logger = logging.getLogger("paybridge.worker.delivery")

SANDBOX_RETRY_S = 5.0
REDIS_RETRY_S = 0.2
# A delivery whose worker dies on it this many times in a row is failed, not tried forever.
MAX_INTERRUPTED_ATTEMPTS = 3
MAX_REASON_CHARS = 1000
T = TypeVar("T")


def deliver(runtime: Runtime, delivery_id: str) -> str | None:
    """Run one attempt if nobody else is; return the delivery's status afterwards."""
    storage = runtime.storage
    held = storage.lock(delivery_id, runtime.settings.lease_s)
    if held is None:
        return None
    token, interrupted = held
    try:
        if interrupted and _note_interrupted(storage, delivery_id) >= MAX_INTERRUPTED_ATTEMPTS:
            reason = (
                f"{MAX_INTERRUPTED_ATTEMPTS} attempts in a row were interrupted (their worker "
                "stopped each time); not tried again until replayed"
            )
            return _fail_unexpectedly(storage, delivery_id, reason)
        return _attempt(runtime, delivery_id)
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # the lease runs out and the sweeper tries again once Redis is back
    except Exception as error:  # noqa: BLE001 - a bug must not loop the delivery forever
        logger.exception("delivery %s: unexpected error", delivery_id)
        reason = f"paybridge could not run this delivery: {type(error).__name__}: {error}"
        return _fail_unexpectedly(storage, delivery_id, reason[:MAX_REASON_CHARS])
    finally:
        storage.unlock(delivery_id, token)


def _note_interrupted(storage: Any, delivery_id: str) -> int:
    """Say in the log that an attempt's worker died before recording what HubSpot answered;
    return how many attempts in a row ended so."""
    storage.count("deliveries_recovered_total")
    reason = (
        "an earlier attempt was interrupted (its worker stopped) before its result was "
        "recorded; HubSpot may have received that request"
    )
    storage.add_attempt(delivery_id, {"at": now_s(), "interrupted": True, "reason": reason})
    logger.warning("delivery %s: earlier attempt interrupted; trying again", delivery_id)
    in_a_row = 0
    for attempt in reversed(storage.get_attempts(delivery_id)):
        if not attempt.get("interrupted"):
            break
        in_a_row += 1
    return in_a_row


def _fail_unexpectedly(storage: Any, delivery_id: str, reason: str) -> str:
    """End a delivery that paybridge itself could not carry through as `failed`, with the
    reason on it and in its log, so that it can be seen and replayed."""
    try:
        delivery = storage.get_delivery(delivery_id)
    except NotFound:
        return "failed"
    storage.add_attempt(delivery_id, {"at": now_s(), "outcome": outcomes.FAIL, "reason": reason})
    storage.update_delivery(
        delivery, status="failed", reason=reason, attempts=delivery["attempts"] + 1
    )
    return _done(storage, delivery, "failed")


def _attempt(runtime: Runtime, delivery_id: str) -> str | None:
    storage = runtime.storage
    try:
        delivery = storage.get_delivery(delivery_id)
        integration = storage.get_integration(delivery["integration_id"])
    except NotFound:
        return None
    if delivery["status"] in FINAL_STATUSES:
        return str(delivery["status"])

    skip_reason = _skip_reason(integration, delivery)
    if skip_reason:
        storage.update_delivery(delivery, status="skipped", reason=skip_reason)
        return _done(storage, delivery, "skipped")
    if integration.get("state") == "needs_reconnect":
        storage.park(delivery, integration.get("state_reason") or "HubSpot needs reconnecting")
        return "retrying"

    version = delivery.get("pinned_version") or integration["version"]
    code = storage.get_version(integration["id"], version)["code"]
    try:
        event = storage.get_event(delivery_id)
    except NotFound as error:
        storage.update_delivery(delivery, status="failed", reason=str(error))
        return _done(storage, delivery, "failed")

    started = time.perf_counter()
    try:
        result = runtime.pool.run(
            code,
            event,
            key=f"{integration['id']}:{version}",
            allowed_hosts=runtime.settings.allowed_hosts,
        )
    except SandboxUnavailable as error:
        _retry_later(storage, delivery, f"sandbox unavailable: {error}", SANDBOX_RETRY_S)
        return "retrying"
    storage.observe("transform_seconds", time.perf_counter() - started)
    return _after_transform(runtime, delivery, integration, version, result)


def _after_transform(
    runtime: Runtime,
    delivery: dict[str, Any],
    integration: dict[str, Any],
    version: int,
    result: dict[str, Any],
) -> str:
    storage = runtime.storage
    if result.get("error"):
        error = result["error"]
        line = f" (line {error['line']})" if error.get("line") else ""
        reason = f"{error['type']}: {error['message']}{line}"
        storage.add_attempt(delivery["id"], _attempt_record(delivery, version, result, [], reason))
        storage.update_delivery(
            delivery, status="transform_error", reason=reason, handler_version=version,
            attempts=delivery["attempts"] + 1,
        )  # fmt: skip
        return _done(storage, delivery, "transform_error")
    if result.get("skipped"):
        # The run is in the log all the same: what it printed, how long it took, which version.
        skip_reason: str | None = result.get("reason")
        attempt = _attempt_record(delivery, version, result, [], skip_reason)
        storage.add_attempt(delivery["id"], attempt)
        storage.update_delivery(
            delivery, status="skipped", reason=skip_reason, handler_version=version,
            attempts=delivery["attempts"] + 1,
        )  # fmt: skip
        return _done(storage, delivery, "skipped")

    return _send(runtime, delivery, integration, version, result)


def _send(
    runtime: Runtime,
    delivery: dict[str, Any],
    integration: dict[str, Any],
    version: int,
    result: dict[str, Any],
) -> str:
    storage = runtime.storage
    settings = runtime.settings
    credentials = storage.connections.credentials(integration)
    account = account_key(credentials.hub_id if credentials else None, None)
    limit, window_s = parse_rate_limit(
        integration.get("rate_limit") or settings.hubspot_rate_limit, "rate_limit"
    )
    sender = HubSpotSender(
        runtime.http,
        storage.redis,
        settings.hubspot_api_base,
        lambda: runtime.limiter.acquire(account, limit, window_s),
        credentials,
        account,
    )

    started = time.perf_counter()
    try:
        outcome = sender.send(
            result["request"],
            integration.get("on_conflict", "update"),
            integration.get("on_missing", "create"),
        )
    except Throttled as throttled:
        storage.count("rate_limit_waits_total")
        spread = random.uniform(0, window_s / 2)
        _retry_later(storage, delivery, "waiting for a rate-limit slot", throttled.wait_s + spread)
        return "retrying"
    except NeedsReconnect as problem:
        outcome = outcomes.Outcome(outcomes.RECONNECT, str(problem))
    except ConnectionUnavailable as problem:
        outcome = outcomes.Outcome(outcomes.RETRY, str(problem))
    if outcome.kind == outcomes.RECONNECT:
        _hold_for_reconnect(storage, integration, credentials, outcome.reason or "reconnect")
    duration_s = time.perf_counter() - started

    attempts = delivery["attempts"] + 1
    record = _attempt_record(delivery, version, result, sender.exchanges, outcome.reason)
    record["outcome"] = outcome.kind
    _log_attempt(delivery, attempts, outcome, sender)
    # HubSpot has answered: losing that answer to a Redis blip would send the request again.
    deadline = time.monotonic() + settings.lease_s / 2
    _durably(lambda: storage.add_attempt(delivery["id"], record), deadline)
    _durably(lambda: storage.observe("delivery_seconds", duration_s), deadline)
    _durably(lambda: storage.count("attempts_total", max(1, len(sender.exchanges))), deadline)
    return _durably(
        lambda: _decide(runtime, delivery, integration, version, attempts, outcome, account),
        deadline,
    )


def _durably(write: Callable[[], T], deadline: float) -> T:
    """Run a Redis write, trying again while Redis is unreachable, until the deadline.

    Past the deadline the lease on the delivery may be lost to another worker anyway, so the
    error goes up and the delivery is recovered as an interrupted attempt.
    """
    while True:
        try:
            return write()
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() >= deadline:
                raise
            logger.warning("Redis unreachable while recording an attempt; trying again")
            time.sleep(REDIS_RETRY_S)


def _decide(
    runtime: Runtime,
    delivery: dict[str, Any],
    integration: dict[str, Any],
    version: int,
    attempts: int,
    outcome: outcomes.Outcome,
    account: str,
) -> str:
    storage = runtime.storage
    settings = runtime.settings
    common: dict[str, Any] = {
        "attempts": attempts,
        "handler_version": version,
        "last_status_code": outcome.status_code,
    }

    if outcome.kind == outcomes.DELIVERED:
        storage.update_delivery(delivery, status="delivered", reason=None, **common)
        return _done(storage, delivery, "delivered")
    if outcome.kind == outcomes.FAIL:
        storage.update_delivery(delivery, status="failed", reason=outcome.reason, **common)
        return _done(storage, delivery, "failed")
    if outcome.kind in (outcomes.PARK, outcomes.RECONNECT):
        if outcome.kind == outcomes.PARK:
            storage.update_integration(
                integration["id"],
                state="needs_reconnect",
                state_reason=outcome.reason,
                missing_scopes=outcome.scopes,
            )
        storage.update_delivery(delivery, **common)
        storage.park(delivery, outcome.reason or "HubSpot needs reconnecting")
        return "retrying"
    if outcome.kind == outcomes.WAIT:
        runtime.limiter.block(account, outcome.wait_s or 1.0)
        storage.count("rate_limited_by_hubspot_total")
        storage.update_delivery(delivery, **common)
        _retry_later(storage, delivery, outcome.reason or "rate limited", outcome.wait_s or 1.0)
        return "retrying"

    failures = int(delivery.get("failures", 0)) + 1
    delay = next_delay_s(settings.retry_schedule_s, failures)
    if delay is None:
        reason = f"gave up after {failures} failed attempts; last: {outcome.reason}"
        storage.update_delivery(
            delivery, status="failed", reason=reason, failures=failures, **common
        )
        return _done(storage, delivery, "failed")
    delay = max(delay, outcome.wait_s or 0)
    storage.count("retries_total")
    storage.update_delivery(delivery, failures=failures, **common)
    _retry_later(storage, delivery, outcome.reason or "retrying", delay)
    return "retrying"


def _hold_for_reconnect(
    storage: Any, integration: dict[str, Any], credentials: Credentials | None, reason: str
) -> None:
    """HubSpot refused the credentials: every integration of the account waits for a reconnect
    (just this one when it has no connection)."""
    if credentials is None:
        storage.update_integration(integration["id"], state="needs_reconnect", state_reason=reason)
        return
    try:
        credentials.reject(reason)
    except ConnectionUnavailable:
        # Busy connection lock: the park below finds the integration not held and lets the
        # delivery go again, to meet the same answer or a reconnected account.
        return


def _skip_reason(integration: dict[str, Any], delivery: dict[str, Any]) -> str | None:
    if not integration.get("enabled", True):
        return "the integration is switched off"
    event_types = integration.get("event_types")
    if event_types and delivery["event_type"] not in event_types:
        return f"the integration does not take {delivery['event_type']} events"
    return None


def _retry_later(storage: Any, delivery: dict[str, Any], reason: str, delay_s: float) -> None:
    storage.schedule(delivery, delay_s, reason)


def _done(storage: Any, delivery: dict[str, Any], status: str) -> str:
    storage.count(f"deliveries_{status}_total")
    return status


def _attempt_record(
    delivery: dict[str, Any],
    version: int,
    result: dict[str, Any],
    exchanges: list[Any],
    reason: str | None,
) -> dict[str, Any]:
    return {
        "number": delivery["attempts"] + 1,
        "at": now_s(),
        "handler_version": version,
        "transform": {
            "request": result.get("request"),
            "logs": result.get("logs", ""),
            "error": result.get("error"),
            "duration_ms": result.get("duration_ms"),
        },
        "exchanges": [exchange.to_json() for exchange in exchanges],
        "reason": reason,
    }


def _log_attempt(
    delivery: dict[str, Any], attempts: int, outcome: outcomes.Outcome, sender: HubSpotSender
) -> None:
    duration_ms = sum(exchange.duration_ms for exchange in sender.exchanges)
    logger.info(
        "attempt integration=%s delivery=%s event=%s attempt=%d outcome=%s status=%s ms=%.1f",
        delivery["integration_id"],
        delivery["id"],
        delivery["webhook_id"],
        attempts,
        outcome.kind,
        outcome.status_code,
        duration_ms,
    )
