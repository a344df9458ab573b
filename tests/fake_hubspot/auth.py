"""Bearer tokens the fake accepts, and the scope check each route makes."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import missing_scopes


@dataclass(frozen=True)
class TokenGrant:
    """An accepted token; `scopes` None grants everything. OAuth tokens get no daily headers.

    `expires_at` (epoch seconds) makes the token answer 401 EXPIRED_AUTHENTICATION from then on,
    as an OAuth access token does after its 30 minutes.
    """

    token: str
    scopes: frozenset[str] | None = None
    oauth: bool = False
    expires_at: float | None = None

    def expired_for_s(self, now: float) -> float | None:
        """Seconds since the token expired, or None while it is valid."""
        if self.expires_at is None or now < self.expires_at:
            return None
        return now - self.expires_at

    def to_json(self) -> dict:
        scopes = sorted(self.scopes) if self.scopes is not None else None
        return {
            "token": self.token,
            "scopes": scopes,
            "oauth": self.oauth,
            "expires_at": self.expires_at,
        }


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer …` header, if there is one."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, token = value.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return None


def require_scope(grant: TokenGrant, *any_of: str) -> None:
    """Raise HubSpot's 403 MISSING_SCOPES unless the grant holds one of `any_of`."""
    if grant.scopes is None:
        return

    if not grant.scopes.intersection(any_of):
        raise missing_scopes(any_of)
