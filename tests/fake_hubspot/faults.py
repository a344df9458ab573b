"""Faults on demand: the next N API requests get a 429, an error status, a delay, or a dropped
connection instead of (or before) their normal answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.types import Receive

from .ratelimit import POLICIES, TEN_SECONDLY

KINDS = ("rate_limit", "status", "slow", "drop")
DROP_WAIT_S = 2.0


class FaultSpecError(ValueError):
    """A fault request the control API cannot honour; the message says which field is wrong."""


@dataclass
class Fault:
    kind: str
    count: int = 1
    path_prefix: str | None = None
    method: str | None = None
    policy: str = TEN_SECONDLY
    status: int = 500
    message: str | None = None
    category: str | None = None
    delay_s: float = 0.0
    retry_after: float | None = None

    @classmethod
    def from_json(cls, spec: dict) -> Fault:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        fault = cls(
            kind=kind,
            count=_number(spec, "count", 1, int),
            path_prefix=spec.get("path_prefix"),
            method=spec["method"].upper() if spec.get("method") else None,
            policy=spec.get("policy", TEN_SECONDLY),
            status=_number(spec, "status", 500, int),
            message=spec.get("message"),
            category=spec.get("category"),
            delay_s=_number(spec, "delay_s", 0.0, float),
            retry_after=_number(spec, "retry_after", None, float),
        )
        if fault.count < 1:
            raise FaultSpecError("count must be at least 1")
        if fault.policy not in POLICIES:
            raise FaultSpecError(f"policy must be one of {', '.join(POLICIES)}")
        if kind == "status" and not 400 <= fault.status <= 599:
            raise FaultSpecError("status must be an error status between 400 and 599")
        if kind == "slow" and fault.delay_s <= 0:
            raise FaultSpecError("slow needs a positive delay_s")
        return fault

    def matches(self, method: str, path: str) -> bool:
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        return self.method is None or self.method == method

    def retry_after_header(self) -> list[tuple[bytes, bytes]]:
        if self.retry_after is None:
            return []
        value = int(self.retry_after) if float(self.retry_after).is_integer() else self.retry_after
        return [(b"Retry-After", str(value).encode())]

    def to_json(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value is not None}


class FaultQueue:
    """Faults in the order they were injected; the first one that matches a request is used."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        if not self._faults:
            return None

        for fault in self._faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def to_json(self) -> list[dict]:
        return [fault.to_json() for fault in self._faults]


async def drop_connection(receive: Receive) -> None:
    """Close the client's connection without writing a byte of response.

    uvicorn answers 500 for an app that raises or returns without responding, so the socket is
    aborted directly. uvicorn's h11 protocol hands each request a bound `receive` of its
    RequestResponseCycle, which holds the transport; the fake pins `http="h11"` for this. Waiting
    for `http.disconnect` lets uvicorn see the closed connection, so it neither logs nor tries to
    answer.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("fake HubSpot dropped the connection")

    transport.abort()
    async with asyncio.timeout(DROP_WAIT_S):
        while (await receive())["type"] != "http.disconnect":
            pass


def _number(spec: dict, key: str, default, cast):
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool):
        raise FaultSpecError(f"{key} must be a number")
    try:
        return cast(value)
    except (TypeError, ValueError) as error:
        raise FaultSpecError(f"{key} must be a number, not {value!r}") from error
