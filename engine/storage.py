"""Every piece of paybridge's state, in Redis, as JSON a person can read with redis-cli.

The web app and the workers share state only through this module. Keys (prefix `pb:`):

| key | type | holds |
| --- | --- | --- |
| `pb:integrations` | zset | integration ids by creation time (ms) |
| `pb:integration:{id}` | string | integration record (JSON) |
| `pb:integration:{id}:secrets` | string | signing secret, encrypted |
| `pb:integration:{id}:versions` | hash | version number → `{version, code, created_at}` |
| `pb:integration:{id}:deliveries` | zset | delivery ids by creation time (ms) |
| `pb:integration:{id}:status:{status}` | zset | the same, per delivery status |
| `pb:integration:{id}:type:{event type}` | zset | the same, per event type |
| `pb:integration:{id}:status:{status}:type:{event type}` | zset | per status and event type |
| `pb:integration:{id}:email:{email}` | zset | the same, per customer email (lower case) |
| `pb:integration:{id}:parked` | set | deliveries waiting for the HubSpot connection to be fixed |
| `pb:dedupe:{id}:{webhook-id}` | string | the delivery created for that webhook id |
| `pb:delivery:{id}` | string | delivery record (JSON) |
| `pb:delivery:{id}:event` | string | the Dodo event body, as received |
| `pb:delivery:{id}:attempts` | list | one JSON record per attempt |
| `pb:inbox` | list | accepted deliveries a `fan_out` job has still to enqueue |
| `pb:due` | zset | non-final deliveries by the time (s) a worker must next look at them |
| `pb:lock:{delivery id}` | string | held while a worker runs an attempt |
| `pb:metrics:*` | hash | counters and histograms for /metrics |
| `pb:connection*` | | HubSpot connections and their encrypted tokens: engine/connections.py |
| `pb:users` | hash | console user name → `{name, password_hash, created_at}` |
| `pb:bulk_replay:{id}` | zset | deliveries a console bulk replay has still to enqueue |
| `pb:bulk_replay:{id}:info` | string | `{integration_id, status, total}` of that bulk replay |
| `pb:schema:{account}:{part}` | string | HubSpot account schema cached for preflight |
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import struct
import time
from collections.abc import Iterable
from typing import Any

import redis
from rq import Queue

from .connections import KIND_PRIVATE_APP, Connections, Refresher, TokenSet
from .connections import ConnectionUnavailable as ConnectionUnavailable  # for the worker
from .connections import Credentials as Credentials
from .connections import NeedsReconnect as NeedsReconnect
from .crypto import SecretBox

QUEUE_NAME = "paybridge"
DELIVER_JOB = "worker.jobs.deliver"
# Accepted deliveries wait in the inbox for a `fan_out` job, which moves them into the queue as
# `deliver` jobs and runs until the inbox is empty. Ingress enqueues one when the inbox was empty
# (building an RQ job costs the web process more than the rest of an event's handling); should
# that enqueue be lost, each worker's sweeper empties the inbox too.
FAN_OUT_JOB = "worker.jobs.fan_out"
INBOX_KEY = "pb:inbox"
INBOX_BATCH = 500  # deliveries moved from the inbox to the queue per round trip
STATUSES = ("pending", "delivered", "skipped", "retrying", "failed", "transform_error")
FINAL_STATUSES = ("delivered", "skipped", "failed", "transform_error")
ON_CONFLICT = ("update", "fail")
ON_MISSING = ("create", "fail")  # a contact update by email that meets 404
# A delivery nobody has picked up this long after it became due is enqueued again (it was
# lost with a dead worker, or with a queue entry that Redis did not keep).
DEFAULT_DUE_GRACE_S = 30
JOB_TIMEOUT_S = 300
JOB_FAILURE_TTL_S = 7 * 24 * 3600
RESPONSE_BODY_LIMIT_BYTES = 4096
BULK_REPLAY_TTL_S = 24 * 3600
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class NotFound(LookupError):
    """No such integration or delivery."""


class NoSuchVersion(NotFound):
    """The integration has no handler version of that number."""


def now_s() -> float:
    return time.time()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


# Accept a batch of events. ARGV[1] is the dedupe TTL (s); then four per event: its dedupe key,
# its integration's key, its new delivery id, and the commands that store it, packed by
# _pack_commands. Each event is deduplicated, stored and put in the inbox whole or not at all (a
# script runs whole, and the append-only file keeps it whole across a restart). The reply is two
# words per event, then '1' when the inbox was empty and now is not: a fan_out job is needed.
_ACCEPT = (
    """
local inbox = '"""
    + INBOX_KEY
    + """'
local was_empty = redis.call('LLEN', inbox) == 0
local out = {}
local created = 0
local function run_packed(packed)
  local pos = 1
  while pos <= #packed do
    local count, size
    count, pos = struct.unpack('>I4', packed, pos)
    local args = {}
    for i = 1, count do
      size, pos = struct.unpack('>I4', packed, pos)
      args[i] = string.sub(packed, pos, pos + size - 1)
      pos = pos + size
    end
    redis.call(unpack(args))
  end
end
for e = 2, #ARGV, 4 do
  local dedupe, integration, id = ARGV[e], ARGV[e + 1], ARGV[e + 2]
  local existing = redis.call('GET', dedupe)
  if existing then
    out[#out + 1] = 'duplicate'; out[#out + 1] = existing
  elseif redis.call('EXISTS', integration) == 0 then
    out[#out + 1] = 'gone'; out[#out + 1] = id
  else
    redis.call('SET', dedupe, id, 'EX', ARGV[1])
    run_packed(ARGV[e + 3])
    redis.call('RPUSH', inbox, id)
    created = created + 1
    out[#out + 1] = 'created'; out[#out + 1] = id
  end
end
out[#out + 1] = (created > 0 and was_empty) and '1' or '0'
return out
"""
)


@dataclasses.dataclass(frozen=True)
class PreparedEvent:
    """A verified event with the commands that store it, ready for accept_events."""

    integration_id: str
    webhook_id: str
    delivery_id: str
    commands: bytes


class Gone(NotFound):
    """The integration was deleted before its event could be stored."""


def _pack_commands(pipe: Any) -> bytes:
    """The commands queued on a pipeline that will not be executed, as one string: for each,
    its argument count, then each argument's length and bytes (big-endian 32-bit lengths).

    Queuing them through redis-py (and RQ's `enqueue_call(pipeline=…)`) keeps RQ's job layout
    exactly as a transaction would write it; one string instead of a hundred arguments keeps
    the round trip cheap.
    """
    parts: list[bytes] = []
    for args, _options in pipe.command_stack:
        parts.append(_LENGTH.pack(len(args)))
        for arg in args:
            data = _to_bytes(arg)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
    return b"".join(parts)


_LENGTH = struct.Struct(">I")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value).encode("ascii")
    raise TypeError(f"cannot store a {type(value).__name__} in Redis")


class Storage:
    def __init__(
        self,
        client: redis.Redis,
        box: SecretBox,
        retention_days: int,
        due_grace_s: float = DEFAULT_DUE_GRACE_S,
        refresher: Refresher | None = None,
    ) -> None:
        self.redis = client
        self.box = box
        self.retention_s = retention_days * 24 * 3600
        self.due_grace_s = due_grace_s
        self.queue = Queue(QUEUE_NAME, connection=client)
        self.connections = Connections(self, refresher)
        self._accept = client.register_script(_ACCEPT)

    @classmethod
    def for_settings(cls, settings: Any, client: redis.Redis) -> Storage:
        from .oauth import OAuthApp  # oauth.py imports this module

        box = SecretBox(settings.secret_key)
        refresher = OAuthApp.from_settings(settings)
        return cls(client, box, settings.retention_days, settings.due_grace_s, refresher)

    # -- integrations ---------------------------------------------------------------------------

    def create_integration(
        self,
        *,
        name: str,
        code: str,
        event_types: list[str] | None,
        hubspot_token: str | None,
        hubspot_account: str | None,
        on_conflict: str,
        rate_limit: str | None,
        template: str | None = None,
        signing_secret: str | None = None,
        on_missing: str = "create",
    ) -> dict[str, Any]:
        integration_id = new_id("int")
        created = now_s()
        record = {
            "id": integration_id,
            "name": name,
            "enabled": True,
            "event_types": event_types,
            "version": 1,
            "on_conflict": on_conflict,
            "on_missing": on_missing,
            "rate_limit": rate_limit,
            "template": template,
            "hubspot": {"account": None, "connected": False, "kind": None},
            "state": "ok",
            "state_reason": None,
            "created_at": created,
            "updated_at": created,
        }
        signing_secret = signing_secret or "whsec_" + _b64(secrets.token_bytes(24))
        sealed = self.box.seal({"signing_secret": signing_secret})
        version = {"version": 1, "code": code, "created_at": created}

        pipe = self.redis.pipeline()
        pipe.set(_integration(integration_id), json.dumps(record))
        pipe.set(_integration(integration_id) + ":secrets", sealed)
        pipe.hset(_integration(integration_id) + ":versions", "1", json.dumps(version))
        pipe.zadd("pb:integrations", {integration_id: int(created * 1000)})
        pipe.execute()
        if hubspot_token is not None:
            return self.connect_private_app(integration_id, hubspot_account, hubspot_token)
        return record

    def connect_private_app(
        self, integration_id: str, hubspot_account: str | None, token: str
    ) -> dict[str, Any]:
        """Keep a checked private app token as its account's connection; link the integration."""
        if not hubspot_account:
            raise ValueError("a private app token is kept under its HubSpot account id")
        self.connections.save(str(hubspot_account), KIND_PRIVATE_APP, TokenSet(token))
        return self.connections.link(integration_id, str(hubspot_account))

    def get_integration(self, integration_id: str) -> dict[str, Any]:
        raw = self.redis.get(_integration(integration_id))
        if raw is None:
            raise NotFound(f"no integration {integration_id!r}")
        return dict(json.loads(raw))

    def list_integrations(self) -> list[dict[str, Any]]:
        ids = [_text(i) for i in self.redis.zrevrange("pb:integrations", 0, -1)]
        raws = self.redis.mget([_integration(i) for i in ids]) if ids else []
        return [json.loads(raw) for raw in raws if raw is not None]

    def update_integration(self, integration_id: str, **changes: Any) -> dict[str, Any]:
        record = self.get_integration(integration_id)
        record.update(changes)
        record["updated_at"] = now_s()
        self.redis.set(_integration(integration_id), json.dumps(record))
        return record

    def add_version(self, integration_id: str, code: str) -> dict[str, Any]:
        record = self.get_integration(integration_id)
        number = int(record["version"]) + 1
        version = {"version": number, "code": code, "created_at": now_s()}
        self.redis.hset(
            _integration(integration_id) + ":versions", str(number), json.dumps(version)
        )
        return self.update_integration(integration_id, version=number)

    def get_version(self, integration_id: str, number: int | None = None) -> dict[str, Any]:
        if number is None:
            number = int(self.get_integration(integration_id)["version"])
        raw = self.redis.hget(_integration(integration_id) + ":versions", str(number))
        if raw is None:
            raise NoSuchVersion(f"integration {integration_id!r} has no version {number}")
        return dict(json.loads(raw))

    def list_versions(self, integration_id: str) -> list[dict[str, Any]]:
        raws = self.redis.hvals(_integration(integration_id) + ":versions")
        versions = [json.loads(raw) for raw in raws]
        return sorted(versions, key=lambda version: -int(version["version"]))

    def signing_secret(self, integration_id: str) -> str:
        """The integration's signing secret alone: what ingress needs, in one read."""
        raw = self.redis.get(_integration(integration_id) + ":secrets")
        if raw is None:
            raise NotFound(f"no integration {integration_id!r}")
        return str(self.box.open(_text(raw))["signing_secret"])

    def get_secrets(self, integration_id: str) -> dict[str, Any]:
        """The signing secret, and `hubspot_token`: the connection's access token as stored
        (for a fresh OAuth token, use `connections.credentials(integration).token()`)."""
        raw = self.redis.get(_integration(integration_id) + ":secrets")
        if raw is None:
            raise NotFound(f"no integration {integration_id!r}")
        sealed = self.box.open(_text(raw))
        sealed.pop("hubspot_token", None)
        connection = self.connections.of_integration(self.get_integration(integration_id))
        token = self.connections.current_token(connection["hub_id"]) if connection else None
        return {**sealed, "hubspot_token": token}

    def set_secrets(self, integration_id: str, **changes: Any) -> None:
        if "hubspot_token" in changes:
            raise ValueError("HubSpot tokens live in connections: use connect_private_app")
        current = self.get_secrets(integration_id)
        current.pop("hubspot_token", None)
        current.update(changes)
        self.redis.set(_integration(integration_id) + ":secrets", self.box.seal(current))

    def delete_integration(self, integration_id: str) -> None:
        self.connections.unlink(integration_id)
        base = _integration(integration_id)
        delivery_ids = [_text(d) for d in self.redis.zrange(base + ":deliveries", 0, -1)]
        pipe = self.redis.pipeline()
        for delivery_id in delivery_ids:
            pipe.delete(_delivery(delivery_id), *_delivery_parts(delivery_id))
            pipe.zrem("pb:due", delivery_id)
        status_keys = [f"{base}:status:{status}" for status in STATUSES]
        pipe.delete(base, base + ":secrets", base + ":versions", base + ":deliveries")
        pipe.delete(base + ":parked", *status_keys)
        pipe.zrem("pb:integrations", integration_id)
        pipe.execute()
        for pattern in (f"pb:dedupe:{integration_id}:*", f"{base}:type:*", f"{base}:email:*"):
            for key in self.redis.scan_iter(match=pattern, count=1000):
                self.redis.delete(key)
        for key in self.redis.scan_iter(match=f"{base}:status:*:type:*", count=1000):
            self.redis.delete(key)

    # -- HubSpot account schema, cached for preflight -------------------------------------------

    def get_schema(self, account: str, part: str) -> dict[str, Any] | None:
        raw = self.redis.get(f"pb:schema:{account}:{part}")
        return None if raw is None else dict(json.loads(raw))

    def save_schema(self, account: str, part: str, value: dict[str, Any], ttl_s: int) -> None:
        self.redis.set(f"pb:schema:{account}:{part}", json.dumps(value), ex=ttl_s)

    def forget_schema(self, account: str, part: str | None = None) -> None:
        if part is not None:
            self.redis.delete(f"pb:schema:{account}:{part}")
            return
        for key in self.redis.scan_iter(match=f"pb:schema:{account}:*", count=1000):
            self.redis.delete(key)

    # -- events and deliveries ------------------------------------------------------------------

    def accept_event(
        self, integration_id: str, webhook_id: str, body: bytes, event: dict[str, Any]
    ) -> tuple[str, bool]:
        """Store a verified event and enqueue its delivery, once per webhook id.

        Returns (delivery id, created now?); raises NotFound when there is no such integration.
        """
        prepared = self.prepare_event(integration_id, webhook_id, body, event)
        outcome = self.accept_events([prepared])[0]
        if isinstance(outcome, Gone):
            raise outcome
        return outcome

    def prepare_event(
        self, integration_id: str, webhook_id: str, body: bytes, event: dict[str, Any]
    ) -> PreparedEvent:
        """The commands that store an event's delivery, built without Redis."""
        delivery_id = new_id("dlv")
        with self.redis.pipeline() as recorder:
            self._store_delivery(recorder, integration_id, delivery_id, webhook_id, body, event)
            commands = _pack_commands(recorder)
        return PreparedEvent(integration_id, webhook_id, delivery_id, commands)

    def accept_events(self, events: list[PreparedEvent]) -> list[tuple[str, bool] | Gone]:
        """Deduplicate, store and enqueue prepared events in one round trip, each atomically.

        For each event: (delivery id, created now?), where a repeated webhook id gives the
        delivery stored first; or Gone when its integration no longer exists.
        """
        args: list[Any] = [self.retention_s]
        for prepared in events:
            dedupe_key = f"pb:dedupe:{prepared.integration_id}:{prepared.webhook_id}"
            integration_key = _integration(prepared.integration_id)
            args += [dedupe_key, integration_key, prepared.delivery_id, prepared.commands]
        *replies, needs_fan_out = self._accept(args=args)
        if needs_fan_out == b"1":
            self.queue.enqueue_call(
                FAN_OUT_JOB,
                job_id=new_id("fanout"),
                result_ttl=0,
                failure_ttl=JOB_FAILURE_TTL_S,
                timeout=JOB_TIMEOUT_S,
            )

        results: list[tuple[str, bool] | Gone] = []
        for prepared, outcome, stored_id in zip(events, replies[::2], replies[1::2], strict=True):
            if outcome == b"gone":
                results.append(Gone(f"no integration {prepared.integration_id!r}"))
            else:
                results.append((_text(stored_id), outcome == b"created"))
        return results

    def _store_delivery(
        self,
        pipe: Any,
        integration_id: str,
        delivery_id: str,
        webhook_id: str,
        body: bytes,
        event: dict[str, Any],
    ) -> None:
        created = now_s()
        data = event.get("data")
        customer = data.get("customer") if isinstance(data, dict) else None
        email = customer.get("email") if isinstance(customer, dict) else None
        record = {
            "id": delivery_id,
            "integration_id": integration_id,
            "webhook_id": webhook_id,
            "event_type": str(event.get("type", "")),
            "customer_email": email,
            "status": "pending",
            "reason": None,
            "attempts": 0,
            "handler_version": None,
            "pinned_version": None,
            "next_attempt_at": created,
            "created_at": created,
            "updated_at": created,
        }
        score = int(created * 1000)
        base = _integration(integration_id)
        pipe.set(_delivery(delivery_id), json.dumps(record), ex=self.retention_s)
        pipe.set(_delivery(delivery_id) + ":event", body, ex=self.retention_s)
        pipe.zadd(base + ":deliveries", {delivery_id: score})
        pipe.zadd(base + ":status:pending", {delivery_id: score})
        pipe.zadd(f"{base}:type:{record['event_type']}", {delivery_id: score})
        pipe.zadd(f"{base}:status:pending:type:{record['event_type']}", {delivery_id: score})
        if isinstance(email, str) and email:
            pipe.zadd(f"{base}:email:{email.lower()}", {delivery_id: score})
        pipe.zadd("pb:due", {delivery_id: created + self.due_grace_s})
        pipe.hincrby("pb:metrics:counters", "events_received_total", 1)

    def get_delivery(self, delivery_id: str) -> dict[str, Any]:
        raw = self.redis.get(_delivery(delivery_id))
        if raw is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        return dict(json.loads(raw))

    def get_event(self, delivery_id: str) -> dict[str, Any]:
        raw = self.redis.get(_delivery(delivery_id) + ":event")
        if raw is None:
            raise NotFound(f"the event of delivery {delivery_id!r} is no longer stored")
        return dict(json.loads(raw))

    def get_attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        return [
            json.loads(raw)
            for raw in self.redis.lrange(_delivery(delivery_id) + ":attempts", 0, -1)
        ]

    def list_deliveries(
        self,
        integration_id: str,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
        event_type: str | None = None,
        email: str | None = None,
    ) -> list[dict[str, Any]]:
        key = _delivery_index(integration_id, status, event_type, email)
        ids = [_text(i) for i in self.redis.zrevrange(key, offset, offset + limit - 1)]
        return self._deliveries(integration_id, ids, key)

    def count_deliveries(
        self,
        integration_id: str,
        status: str | None = None,
        event_type: str | None = None,
        email: str | None = None,
    ) -> int:
        return int(self.redis.zcard(_delivery_index(integration_id, status, event_type, email)))

    def count_recent_deliveries(self, integration_id: str, since_s: float) -> int:
        key = _integration(integration_id) + ":deliveries"
        return int(self.redis.zcount(key, int(since_s * 1000), "+inf"))

    def find_delivery(self, integration_id: str, text: str) -> dict[str, Any] | None:
        """The delivery of this integration with this delivery id or webhook (event) id."""
        delivery_id = self.redis.get(f"pb:dedupe:{integration_id}:{text}")
        candidate = _text(delivery_id) if delivery_id is not None else text
        try:
            delivery = self.get_delivery(candidate)
        except NotFound:
            return None
        return delivery if delivery["integration_id"] == integration_id else None

    def _deliveries(self, integration_id: str, ids: list[str], key: str) -> list[dict[str, Any]]:
        raws = self.redis.mget([_delivery(i) for i in ids]) if ids else []
        stale = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if stale:
            self._forget(integration_id, stale, key)
        return [json.loads(raw) for raw in raws if raw is not None]

    def delivery_ids(self, integration_id: str, status: str) -> list[str]:
        key = f"{_integration(integration_id)}:status:{status}"
        return [_text(i) for i in self.redis.zrange(key, 0, -1)]

    def _forget(self, integration_id: str, delivery_ids: list[str], *also: str) -> None:
        """Drop index entries whose delivery expired (retention)."""
        base = _integration(integration_id)
        pipe = self.redis.pipeline()
        for key in [base + ":deliveries", *(f"{base}:status:{s}" for s in STATUSES), *also]:
            pipe.zrem(key, *delivery_ids)
        pipe.zrem("pb:due", *delivery_ids)
        pipe.execute()

    def update_delivery(
        self, delivery: dict[str, Any], status: str | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Save changes to a delivery; with `status`, move it between the status indexes."""
        old_status = delivery["status"]
        delivery.update(changes)
        delivery["updated_at"] = now_s()
        if status is not None:
            delivery["status"] = status
        base = _integration(delivery["integration_id"])
        score = int(delivery["created_at"] * 1000)

        pipe = self.redis.pipeline()
        if status is not None and status != old_status:
            event_type = delivery.get("event_type", "")
            pipe.zrem(f"{base}:status:{old_status}", delivery["id"])
            pipe.zadd(f"{base}:status:{status}", {delivery["id"]: score})
            pipe.zrem(f"{base}:status:{old_status}:type:{event_type}", delivery["id"])
            pipe.zadd(f"{base}:status:{status}:type:{event_type}", {delivery["id"]: score})
        if delivery["status"] in FINAL_STATUSES:
            delivery["next_attempt_at"] = None  # a final delivery has no next attempt
            pipe.zrem("pb:due", delivery["id"])
        pipe.set(_delivery(delivery["id"]), json.dumps(delivery), ex=self.retention_s)
        pipe.execute()
        return delivery

    def add_attempt(self, delivery_id: str, attempt: dict[str, Any]) -> None:
        key = _delivery(delivery_id) + ":attempts"
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(attempt))
        pipe.expire(key, self.retention_s)
        pipe.execute()

    # -- queueing -------------------------------------------------------------------------------

    def drain_inbox(self, batch: int = INBOX_BATCH) -> int:
        """Enqueue a `deliver` job for every delivery in the inbox; return how many."""
        moved = 0
        while delivery_ids := self.take_inbox(batch):
            self.enqueue_deliveries(delivery_ids)
            moved += len(delivery_ids)
        return moved

    def take_inbox(self, limit: int) -> list[str]:
        """Up to `limit` newly accepted deliveries, each handed to one caller, who must enqueue
        them (should the caller die first, the sweeper enqueues them when they fall due)."""
        taken = self.redis.lpop(INBOX_KEY, limit) or []
        return [_text(delivery_id) for delivery_id in taken]

    def enqueue_deliveries(self, delivery_ids: list[str]) -> None:
        """Queue an attempt of each now, in one round trip."""
        pipe = self.redis.pipeline()
        for delivery_id in delivery_ids:
            self._enqueue(pipe, delivery_id)
        pipe.execute()

    def enqueue_delivery(self, delivery_id: str) -> None:
        """Queue an attempt now; if no worker takes it within the grace, the sweeper will."""
        pipe = self.redis.pipeline()
        self._enqueue(pipe, delivery_id)
        pipe.zadd("pb:due", {delivery_id: now_s() + self.due_grace_s})
        pipe.execute()

    def schedule(self, delivery: dict[str, Any], delay_s: float, reason: str) -> None:
        """Try again in `delay_s`: the sweeper of some worker enqueues it when it is due."""
        due = now_s() + delay_s
        self.update_delivery(delivery, status="retrying", reason=reason, next_attempt_at=due)
        self.redis.zadd("pb:due", {delivery["id"]: due})

    def _enqueue(self, pipe: Any, delivery_id: str) -> None:
        self.queue.enqueue_call(
            DELIVER_JOB,
            args=(delivery_id,),
            job_id=f"{delivery_id}-{secrets.token_hex(4)}",
            result_ttl=0,
            failure_ttl=JOB_FAILURE_TTL_S,
            timeout=JOB_TIMEOUT_S,
            pipeline=pipe,
        )

    def replay(self, delivery_id: str, version: int | None = None) -> dict[str, Any]:
        """Deliver again from the start; attempts already made stay in the log. With
        `version`, that handler version runs (NoSuchVersion when the integration has none)."""
        delivery = self.get_delivery(delivery_id)
        self.get_event(delivery_id)
        if version is not None:
            self.get_version(delivery["integration_id"], version)
        delivery = self.update_delivery(
            delivery,
            status="pending",
            reason=None,
            pinned_version=version,
            next_attempt_at=now_s(),
            failures=0,
        )
        self.redis.srem(_integration(delivery["integration_id"]) + ":parked", delivery_id)
        self.enqueue_delivery(delivery_id)
        self.count("replays_total")
        return delivery

    def start_bulk_replay(self, integration_id: str, status: str) -> tuple[str, int]:
        """Snapshot the deliveries of `status` to replay in batches; returns (id, how many).

        A snapshot, so that a delivery which fails again during the replay is not taken twice.
        """
        bulk_id = new_id("bulk")
        key = f"pb:bulk_replay:{bulk_id}"
        source = f"{_integration(integration_id)}:status:{status}"
        pipe = self.redis.pipeline()
        pipe.zunionstore(key, [source])
        pipe.expire(key, BULK_REPLAY_TTL_S)
        total = int(pipe.execute()[0])
        info = {"integration_id": integration_id, "status": status, "total": total}
        self.redis.set(key + ":info", json.dumps(info), ex=BULK_REPLAY_TTL_S)
        return bulk_id, total

    def continue_bulk_replay(
        self, bulk_id: str, batch: int, version: int | None = None
    ) -> dict[str, Any]:
        """Replay the next `batch` deliveries of a bulk replay: `{total, done, replayed}`."""
        key = f"pb:bulk_replay:{bulk_id}"
        raw = self.redis.get(key + ":info")
        if raw is None:
            raise NotFound(f"no bulk replay {bulk_id!r}")
        info = json.loads(raw)
        replayed = 0
        for entry in self.redis.zpopmin(key, batch):
            try:
                self.replay(_text(entry[0]), version)
            except NotFound:
                continue
            replayed += 1
        remaining = int(self.redis.zcard(key))
        return {**info, "done": info["total"] - remaining, "replayed": replayed}

    # -- console users --------------------------------------------------------------------------

    def get_user(self, name: str) -> dict[str, Any] | None:
        raw = self.redis.hget("pb:users", name)
        return dict(json.loads(raw)) if raw is not None else None

    def save_user(self, name: str, password_hash: str) -> dict[str, Any]:
        user = {"name": name, "password_hash": password_hash, "created_at": now_s()}
        self.redis.hset("pb:users", name, json.dumps(user))
        return user

    def count_users(self) -> int:
        return int(self.redis.hlen("pb:users"))

    def park(self, delivery: dict[str, Any], reason: str) -> None:
        """Hold a delivery until its integration's HubSpot connection is fixed."""
        self.get_integration(delivery["integration_id"])  # NotFound once it is deleted
        self.update_delivery(delivery, status="retrying", reason=reason, next_attempt_at=None)
        self.redis.zrem("pb:due", delivery["id"])
        self.redis.sadd(_integration(delivery["integration_id"]) + ":parked", delivery["id"])
        # A reconnect between the worker's verdict and this park has already unparked: let the
        # delivery go rather than wait for a reconnect that has happened.
        if self.get_integration(delivery["integration_id"]).get("state") != "needs_reconnect":
            self.unpark_all(delivery["integration_id"])

    def unpark_all(self, integration_id: str) -> int:
        key = _integration(integration_id) + ":parked"
        count = 0
        while True:
            delivery_id = self.redis.spop(key)
            if delivery_id is None:
                return count
            delivery = self.get_delivery(_text(delivery_id))
            self.update_delivery(delivery, reason=None, next_attempt_at=now_s())
            self.enqueue_delivery(delivery["id"])
            count += 1

    def lock(self, delivery_id: str, lease_s: int) -> tuple[str, bool] | None:
        """Hold a delivery for one attempt; if the holder dies, the lease runs out.

        Returns (token, interrupted) or None when another worker holds it. `interrupted` says
        an earlier attempt started and never finished: its worker died mid-delivery.
        """
        token = secrets.token_hex(8)
        keys = [f"pb:lock:{delivery_id}", _delivery(delivery_id) + ":running"]
        held = int(self.redis.eval(_LOCK, 2, *keys, token, lease_s, self.retention_s))
        if not held:
            return None
        self.redis.zadd("pb:due", {delivery_id: now_s() + lease_s + self.due_grace_s})
        return token, held == 2

    def unlock(self, delivery_id: str, token: str) -> None:
        keys = [f"pb:lock:{delivery_id}", _delivery(delivery_id) + ":running"]
        self.redis.eval(_UNLOCK, 2, *keys, token)

    def claim_due(self, limit: int = 500) -> list[str]:
        """Deliveries that are due (a retry's time came, or their worker vanished), each
        claimed by exactly one caller, who must enqueue them."""
        now = now_s()
        claimed = []
        for raw in self.redis.zrangebyscore("pb:due", "-inf", now, start=0, num=limit):
            delivery_id = _text(raw)
            keys = ["pb:due", f"pb:lock:{delivery_id}"]
            if self.redis.eval(_CLAIM, 2, *keys, delivery_id, now, self.due_grace_s):
                claimed.append(delivery_id)
        return claimed

    # -- metrics --------------------------------------------------------------------------------

    def count(self, name: str, by: int = 1) -> None:
        self.redis.hincrby("pb:metrics:counters", name, by)

    def observe(self, name: str, seconds: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        key = f"pb:metrics:histogram:{name}"
        for bound in LATENCY_BUCKETS_S:
            if seconds <= bound:
                pipe.hincrby(key, str(bound), 1)
                break
        else:
            pipe.hincrby(key, "+Inf", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.execute()

    def counters(self) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.redis.hgetall("pb:metrics:counters").items()}

    def histogram(self, name: str) -> dict[str, float]:
        raw = self.redis.hgetall(f"pb:metrics:histogram:{name}")
        return {_text(k): float(v) for k, v in raw.items()}

    def queue_depth(self) -> dict[str, int]:
        return {
            "queued": len(self.queue),
            "scheduled": int(self.redis.zcard("pb:due")),
        }


_LOCK = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then return 0 end
local previous = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[3]))
if previous then return 2 end
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 0
"""

# Move a due entry forward so that only one sweeper enqueues it; skip one being worked on.
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 1
"""


def _integration(integration_id: str) -> str:
    return f"pb:integration:{integration_id}"


def _delivery_index(
    integration_id: str, status: str | None, event_type: str | None, email: str | None
) -> str:
    base = _integration(integration_id)
    if email:
        return f"{base}:email:{email.lower()}"
    if status and event_type:
        return f"{base}:status:{status}:type:{event_type}"
    if status:
        return f"{base}:status:{status}"
    if event_type:
        return f"{base}:type:{event_type}"
    return base + ":deliveries"


def _delivery(delivery_id: str) -> str:
    return f"pb:delivery:{delivery_id}"


def _delivery_parts(delivery_id: str) -> Iterable[str]:
    base = _delivery(delivery_id)
    return (base + ":event", base + ":attempts", base + ":running")


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
