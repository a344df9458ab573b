"""The one HubSpot read the web app makes for a private app token: is it valid, whose is it."""

from __future__ import annotations

import httpx

ACCOUNT_DETAILS_PATH = "/account-info/v3/details"
CHECK_TIMEOUT_S = 10.0


class TokenRejected(ValueError):
    """HubSpot said no to the token; the message quotes HubSpot."""


class HubSpotUnreachable(ConnectionError):
    """HubSpot could not be asked about the token."""


async def check_private_app_token(api_base: str, token: str) -> str | None:
    """Return the HubSpot account id (portal id) of `token`, None when HubSpot did not say, or
    raise TokenRejected when HubSpot refuses the token."""
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            response = await client.get(
                api_base.rstrip("/") + ACCOUNT_DETAILS_PATH,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as error:
        raise HubSpotUnreachable(f"could not reach HubSpot to check the token: {error}") from None
    if response.status_code in (401, 403):
        raise TokenRejected(
            f"HubSpot rejected the token ({response.status_code}): {_message(response)}"
        )
    if response.status_code >= 400:
        # Not a refusal of the token: the account stays unknown (a proxy or a HubSpot stand-in
        # without this endpoint, a passing outage); the token's first delivery will tell.
        return None
    try:
        portal = response.json().get("portalId")
    except (ValueError, AttributeError):
        return None
    return str(portal) if portal is not None else None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text[:300]
