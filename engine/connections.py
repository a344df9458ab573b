"""HubSpot connections: the credentials of one HubSpot account, shared by its integrations.

A connection is keyed by the account's id (`hub_id`, HubSpot's portal id). It holds an OAuth
pair (from "Connect HubSpot") or a private app token. The credentials given last for an account
serve every integration linked to it. Keys, beside storage.py's:

| key | type | holds |
| --- | --- | --- |
| `pb:connections` | set | hub ids of every connection |
| `pb:connection:{hub_id}` | string | record (JSON): kind, scopes, state, expiry, refresh count |
| `pb:connection:{hub_id}:tokens` | string | the tokens, encrypted (engine/crypto.py) |
| `pb:connection:{hub_id}:integrations` | set | ids of the integrations that use it |
| `pb:connection:{hub_id}:lock` | string | held while one process refreshes or replaces the tokens |

An OAuth access token is refreshed a little before it expires, and again when HubSpot answers
401 to it, by one process at a time: under the lock the tokens are read again, and only a
process that still holds the old access token asks HubSpot. A refresh HubSpot refuses marks the
connection `needs_reconnect`; its integrations hold their deliveries until the owner connects
again, and then send them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import redis

if TYPE_CHECKING:
    from .storage import Storage

KIND_OAUTH = "oauth"
KIND_PRIVATE_APP = "private_app"
CONNECTED = "connected"
NEEDS_RECONNECT = "needs_reconnect"
# HubSpot: refresh on `expires_in`, not on 401s (reference section 4). Five minutes early,
# or a fifth of the lifetime when it is shorter than that allows.
REFRESH_MARGIN_S = 300.0
REFRESH_MARGIN_SHARE = 0.2
LOCK_TIMEOUT_S = 30.0  # longer than one token-endpoint call may take
LOCK_WAIT_S = 15.0
LOCK_POLL_S = 0.02
NOT_CONNECTED = "HubSpot is not connected: connect HubSpot, or save a private app token"


class ConnectionProblem(Exception):
    """The connection cannot give a token now; the message says why in the owner's words."""


class NeedsReconnect(ConnectionProblem):
    """Only the owner can fix this: connect HubSpot again (or save a new private app token)."""


class ConnectionUnavailable(ConnectionProblem):
    """A passing problem (HubSpot's token endpoint down, the lock busy): try again later."""


@dataclasses.dataclass(frozen=True)
class TokenSet:
    access_token: str = dataclasses.field(repr=False)
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: float | None = None
    lifetime_s: float | None = None

    def needs_refresh(self, now: float) -> bool:
        if self.refresh_token is None or self.expires_at is None:
            return False
        lifetime_s = self.lifetime_s or REFRESH_MARGIN_S
        return now >= self.expires_at - min(REFRESH_MARGIN_S, lifetime_s * REFRESH_MARGIN_SHARE)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=data.get("expires_at"),
            lifetime_s=data.get("lifetime_s"),
        )


class Refresher(Protocol):
    def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens, or NeedsReconnect (refused), or ConnectionUnavailable (try later)."""
        ...


class Credentials:
    """One delivery's way to its account's access token (the worker holds nothing longer)."""

    def __init__(self, connections: Connections, hub_id: str, integration_id: str) -> None:
        self.connections = connections
        self.hub_id = hub_id
        self.integration_id = integration_id
        self._last_token: str | None = None

    def token(self) -> str:
        self._last_token = self.connections.access_token(self.hub_id)
        return self._last_token

    def renew(self, rejected: str) -> str | None:
        """A new access token after HubSpot answered 401 to `rejected`; None if none can come."""
        renewed = self.connections.renew(self.hub_id, rejected)
        if renewed is not None:
            self._last_token = renewed
        return renewed

    def reject(self, reason: str) -> None:
        """HubSpot refused the token for good: hold the account's deliveries for a reconnect."""
        self.connections.reject(self.hub_id, self._last_token, reason, self.integration_id)

    def __repr__(self) -> str:
        return f"Credentials(hub_id={self.hub_id!r})"


class Connections:
    def __init__(self, storage: Storage, refresher: Refresher | None) -> None:
        self.storage = storage
        self.redis = storage.redis
        self.box = storage.box
        self.refresher = refresher

    # -- reading ----------------------------------------------------------------------------------

    def get(self, hub_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(_key(hub_id))
        return None if raw is None else dict(json.loads(raw))

    def all(self) -> list[dict[str, Any]]:
        hub_ids = sorted(_text(h) for h in self.redis.smembers("pb:connections"))
        raws = self.redis.mget([_key(h) for h in hub_ids]) if hub_ids else []
        return [json.loads(raw) for raw in raws if raw is not None]

    def of_integration(self, integration: dict[str, Any]) -> dict[str, Any] | None:
        hub_id = _linked_hub(integration)
        return self.get(hub_id) if hub_id else None

    def integration_ids(self, hub_id: str) -> list[str]:
        return sorted(_text(i) for i in self.redis.smembers(_key(hub_id) + ":integrations"))

    def credentials(self, integration: dict[str, Any]) -> Credentials | None:
        hub_id = _linked_hub(integration)
        return Credentials(self, hub_id, integration["id"]) if hub_id else None

    def current_token(self, hub_id: str) -> str | None:
        """The stored access token as it is, refreshed or not (None when there is none)."""
        loaded = self._load(hub_id)
        return loaded[1].access_token if loaded else None

    # -- connecting and disconnecting -------------------------------------------------------------

    def save(
        self,
        hub_id: str,
        kind: str,
        tokens: TokenSet,
        *,
        scopes: list[str] | None = None,
        hub_domain: str | None = None,
    ) -> dict[str, Any]:
        """Keep new credentials for the account; every integration on it sends again."""
        now = time.time()
        with self._lock(hub_id):
            previous = self.get(hub_id) or {}
            record = {
                "hub_id": hub_id,
                "kind": kind,
                "hub_domain": hub_domain,
                "scopes": scopes,
                "state": CONNECTED,
                "state_reason": None,
                "expires_at": tokens.expires_at,
                "connected_at": now,
                "refreshed_at": None,
                "refreshes": int(previous.get("refreshes", 0)),
            }
            pipe = self.redis.pipeline()
            pipe.set(_key(hub_id), json.dumps(record))
            pipe.set(_key(hub_id) + ":tokens", self.box.seal(tokens.to_json()))
            pipe.sadd("pb:connections", hub_id)
            pipe.execute()
        for integration_id in self.integration_ids(hub_id):
            self._resume(integration_id)
        return record

    def link(self, integration_id: str, hub_id: str) -> dict[str, Any]:
        """Make the integration send with the account's credentials."""
        integration = self.storage.get_integration(integration_id)
        record = self.get(hub_id)
        if record is None:
            raise LookupError(f"no HubSpot connection for account {hub_id}")
        previous = _linked_hub(integration)
        if previous and previous != hub_id:
            self._detach(integration_id, previous)
        self.redis.sadd(_key(hub_id) + ":integrations", integration_id)
        hubspot = {"account": hub_id, "connected": True, "kind": record["kind"]}
        self.storage.update_integration(integration_id, hubspot=hubspot)
        return self._resume(integration_id)

    def unlink(self, integration_id: str) -> dict[str, Any]:
        """Disconnect one integration; the account's tokens go when no integration uses them."""
        integration = self.storage.get_integration(integration_id)
        hub_id = _linked_hub(integration)
        if hub_id:
            self._detach(integration_id, hub_id)
        hubspot = {"account": None, "connected": False, "kind": None}
        return self.storage.update_integration(integration_id, hubspot=hubspot)

    def delete(self, hub_id: str) -> list[str]:
        """Disconnect the account: its tokens are deleted, its integrations unlinked."""
        integration_ids = self.integration_ids(hub_id)
        with self._lock(hub_id):
            pipe = self.redis.pipeline()
            pipe.delete(_key(hub_id), _key(hub_id) + ":tokens", _key(hub_id) + ":integrations")
            pipe.srem("pb:connections", hub_id)
            pipe.execute()
        for integration_id in integration_ids:
            with contextlib.suppress(LookupError):
                hubspot = {"account": None, "connected": False, "kind": None}
                self.storage.update_integration(integration_id, hubspot=hubspot)
        return integration_ids

    def _detach(self, integration_id: str, hub_id: str) -> None:
        self.redis.srem(_key(hub_id) + ":integrations", integration_id)
        if not self.redis.scard(_key(hub_id) + ":integrations"):
            self.delete(hub_id)

    def _resume(self, integration_id: str) -> dict[str, Any]:
        """The integration may send again: clear its hold and queue what it held."""
        try:
            integration = self.storage.update_integration(
                integration_id, state="ok", state_reason=None, missing_scopes=None
            )
        except LookupError:
            return {}
        self.storage.unpark_all(integration_id)
        return integration

    # -- tokens for sending -----------------------------------------------------------------------

    def access_token(self, hub_id: str) -> str:
        """The account's access token, refreshed first when it is about to expire."""
        record, tokens = self._usable(hub_id)
        if not tokens.needs_refresh(time.time()):
            return tokens.access_token
        return self._refresh(hub_id, tokens.access_token)

    def renew(self, hub_id: str, rejected: str) -> str | None:
        """After a 401 to `rejected`: a refreshed token (one refresh across all processes), or
        None when the credentials cannot be refreshed (a private app token)."""
        record, tokens = self._usable(hub_id)
        if tokens.refresh_token is None:
            return None
        return self._refresh(hub_id, rejected)

    def reject(
        self, hub_id: str, rejected: str | None, reason: str, integration_id: str | None = None
    ) -> None:
        """HubSpot refused `rejected` for good: hold the account's integrations, unless the
        tokens were replaced meanwhile (a reconnect)."""
        with self._lock(hub_id):
            loaded = self._load(hub_id)
            if loaded is None:
                if integration_id is not None:
                    self._hold(integration_id, f"{NOT_CONNECTED} ({reason})")
                return
            record, tokens = loaded
            if record["state"] == NEEDS_RECONNECT or tokens.access_token == rejected:
                self._mark(hub_id, record, record.get("state_reason") or reason)

    def scopes(self, hub_id: str) -> set[str] | None:
        record = self.get(hub_id)
        scopes = record.get("scopes") if record else None
        return set(scopes) if scopes is not None else None

    def _usable(self, hub_id: str) -> tuple[dict[str, Any], TokenSet]:
        loaded = self._load(hub_id)
        if loaded is None:
            raise NeedsReconnect(NOT_CONNECTED)
        record, tokens = loaded
        if record["state"] == NEEDS_RECONNECT:
            raise NeedsReconnect(record.get("state_reason") or "HubSpot needs reconnecting")
        return record, tokens

    def _refresh(self, hub_id: str, seen: str) -> str:
        with self._lock(hub_id):
            record, tokens = self._usable(hub_id)
            if tokens.access_token != seen and not tokens.needs_refresh(time.time()):
                return tokens.access_token  # another process refreshed (or the owner reconnected)
            if tokens.refresh_token is None:
                return tokens.access_token
            if self.refresher is None:
                raise ConnectionUnavailable(
                    "the HubSpot access token expired and cannot be refreshed: set "
                    "PAYBRIDGE_HUBSPOT_CLIENT_ID and PAYBRIDGE_HUBSPOT_CLIENT_SECRET"
                )
            try:
                fresh = self.refresher.refresh(tokens.refresh_token)
            except NeedsReconnect as refused:
                reason = f"{refused}; reconnect HubSpot"
                self._mark(hub_id, record, reason)
                raise NeedsReconnect(reason) from None

            record.update(
                expires_at=fresh.expires_at,
                refreshed_at=time.time(),
                refreshes=int(record.get("refreshes", 0)) + 1,
            )
            pipe = self.redis.pipeline()
            pipe.set(_key(hub_id), json.dumps(record))
            pipe.set(_key(hub_id) + ":tokens", self.box.seal(fresh.to_json()))
            pipe.hincrby("pb:metrics:counters", "hubspot_token_refreshes_total", 1)
            pipe.execute()
            return fresh.access_token

    def _mark(self, hub_id: str, record: dict[str, Any], reason: str) -> None:
        record.update(state=NEEDS_RECONNECT, state_reason=reason)
        self.redis.set(_key(hub_id), json.dumps(record))
        for integration_id in self.integration_ids(hub_id):
            self._hold(integration_id, reason)

    def _hold(self, integration_id: str, reason: str) -> None:
        with contextlib.suppress(LookupError):
            self.storage.update_integration(
                integration_id, state=NEEDS_RECONNECT, state_reason=reason
            )

    def _load(self, hub_id: str) -> tuple[dict[str, Any], TokenSet] | None:
        raw_record, raw_tokens = self.redis.mget([_key(hub_id), _key(hub_id) + ":tokens"])
        if raw_record is None or raw_tokens is None:
            return None
        tokens = TokenSet.from_json(self.box.open(_text(raw_tokens)))
        return dict(json.loads(raw_record)), tokens

    @contextlib.contextmanager
    def _lock(self, hub_id: str) -> Iterator[None]:
        lock = self.redis.lock(
            _key(hub_id) + ":lock",
            timeout=LOCK_TIMEOUT_S,
            sleep=LOCK_POLL_S,
            blocking_timeout=LOCK_WAIT_S,
        )
        if not lock.acquire():
            raise ConnectionUnavailable(
                f"another process held the HubSpot connection of account {hub_id} too long"
            )
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()


def token_for_request(storage: Storage, integration: dict[str, Any]) -> str | None:
    """The integration's access token for a request made now (a preflight read, a Send test):
    refreshed first when it is about to expire, once across all processes, as deliveries get
    it. None when there is no connection, or it waits for a reconnect or a passing problem."""
    credentials = storage.connections.credentials(integration)
    if credentials is None:
        return None
    try:
        return credentials.token()
    except ConnectionProblem:
        return None


def scopes_for_integration(storage: Storage, integration_id: str) -> set[str] | None:
    """The scopes HubSpot granted the integration's connection; None when unknown (a private
    app token, or no connection). Preflight checks read this."""
    integration = storage.get_integration(integration_id)
    hub_id = _linked_hub(integration)
    return storage.connections.scopes(hub_id) if hub_id else None


def public_view(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A connection as the API shows it: no tokens (they never leave storage)."""
    if record is None:
        return None
    keys = ("hub_id", "kind", "hub_domain", "scopes", "state", "state_reason", "expires_at")
    return {key: record.get(key) for key in (*keys, "connected_at", "refreshed_at", "refreshes")}


def _linked_hub(integration: dict[str, Any]) -> str | None:
    hubspot = integration.get("hubspot") or {}
    account = hubspot.get("account")
    return str(account) if account and hubspot.get("connected") else None


def _key(hub_id: str) -> str:
    return f"pb:connection:{hub_id}"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
