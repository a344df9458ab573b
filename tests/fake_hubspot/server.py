"""Run the fake HubSpot in a child process and drive its control API, with no pytest needed.

Usage: `with FakeHubSpot() as hubspot:` then send requests to `hubspot.base_url` with
`hubspot.auth_headers`, and inspect what arrived with `hubspot.contacts()` or `hubspot.requests()`.
Benchmarks that outlive a `with` block use `start_fake_hubspot()` and call `.stop()`.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
import weakref
from collections.abc import Iterable
from pathlib import Path

import httpx

DEFAULT_TOKEN = "pat-na1-11111111-2222-4333-8444-555555555555"
STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
CONTROL_TIMEOUT_S = 10.0
HEALTH_POLL_INTERVAL_S = 0.02
REPO_ROOT = Path(__file__).resolve().parents[2]
_READY_URL = re.compile(rb"ready on (http://\S+)")


class FakeHubSpotError(RuntimeError):
    """The fake could not start, or its control API refused a call."""


class FakeHubSpot:
    """A fake HubSpot in a subprocess on a free port; a context manager that always stops it."""

    def __init__(
        self,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        *,
        rate_limit: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.tokens = list(tokens)
        self.rate_limit = rate_limit
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.base_url = ""
        self._process: subprocess.Popen | None = None
        self._client: httpx.Client | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def token(self) -> str:
        """The first token the fake was started with."""
        if not self.tokens:
            raise FakeHubSpotError("the fake was started without tokens")
        return self.tokens[0]

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def __enter__(self) -> FakeHubSpot:
        if self._process is None:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> FakeHubSpot:
        """Start the child process and return once `/_fake/health` answers."""
        if self._process is not None:
            raise FakeHubSpotError("the fake is already running")

        deadline = time.monotonic() + self.startup_timeout_s
        self._process = subprocess.Popen(
            self._command(),
            cwd=REPO_ROOT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        self._finalizer = weakref.finalize(self, _stop_process, self._process)
        try:
            self.base_url = _read_ready_url(self._process, deadline).decode()
            # trust_env off: a proxy from the environment must never see calls meant for 127.0.0.1
            self._client = httpx.Client(
                base_url=self.base_url, timeout=CONTROL_TIMEOUT_S, trust_env=False
            )
            self._wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the child (kill it if it lingers) and release its pipe and client."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._process = None

    @property
    def process(self) -> subprocess.Popen | None:
        """The child process while it runs."""
        return self._process

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # control API

    def reset(self) -> None:
        self._control("POST", "/_fake/reset")

    def add_token(
        self,
        token: str,
        scopes: Iterable[str] | None = None,
        *,
        oauth: bool = False,
        expires_in_s: float | None = None,
    ) -> None:
        """Accept `token`; scopes None grants all; `expires_in_s` 0 makes it expired at once."""
        body = {
            "token": token,
            "scopes": list(scopes) if scopes is not None else None,
            "oauth": oauth,
            "expires_in_s": expires_in_s,
        }
        self._control("POST", "/_fake/tokens", json=body)

    def remove_token(self, token: str) -> None:
        self._control("DELETE", f"/_fake/tokens/{token}")

    def configure_oauth(
        self,
        *,
        access_token_lifetime_s: float | None = None,
        portal_scopes: Iterable[str] | None = None,
    ) -> dict:
        """Set the OAuth app's access-token lifetime, or the scopes the portal can grant
        (`reset()` goes back to every scope)."""
        body: dict = {}
        if access_token_lifetime_s is not None:
            body["access_token_lifetime_s"] = access_token_lifetime_s
        if portal_scopes is not None:
            body["portal_scopes"] = list(portal_scopes)
        return self._control("POST", "/_fake/oauth", json=body)

    def oauth(self) -> dict:
        """The OAuth app: codes exchanged, every refresh (`at`, `previous_remaining_s`)."""
        return self._control("GET", "/_fake/oauth")

    def revoke_oauth(self, *, access_tokens: bool = True) -> None:
        """Act out an uninstall: every refresh token revoked; access tokens dropped too."""
        self._control("POST", "/_fake/oauth/revoke", json={"access_tokens": access_tokens})

    def expire_oauth_access_tokens(self) -> None:
        """Every OAuth access token expires now, earlier than its client was told."""
        self._control("POST", "/_fake/oauth/expire")

    def contacts(self) -> list[dict]:
        return self._control("GET", "/_fake/contacts")

    def deals(self) -> list[dict]:
        return self._control("GET", "/_fake/deals")

    def objects(self, object_type: str) -> list[dict]:
        return self._control("GET", f"/_fake/objects/{object_type}")

    def requests(self) -> list[dict]:
        """API requests received, oldest first: method, path, query, body, status, token, …"""
        return self._control("GET", "/_fake/requests")

    def inject(self, **fault) -> None:
        """Queue a fault, e.g. `inject(kind="status", status=503, count=2, path_prefix="/crm")`."""
        self._control("POST", "/_fake/faults", json=fault)

    def clear_faults(self) -> None:
        self._control("DELETE", "/_fake/faults")

    def set_rate_limit(
        self,
        max_requests: int | None,
        interval_ms: int = 10_000,
        *,
        search_per_second: int | None = None,
    ) -> None:
        body = {"max": max_requests, "interval_ms": interval_ms}
        self._control(
            "POST", "/_fake/rate-limit", json={**body, "search_per_second": search_per_second}
        )

    def set_currencies(self, codes: Iterable[str]) -> None:
        self._control("POST", "/_fake/currencies", json={"codes": list(codes)})

    def add_pipeline(self, pipeline_id: str, label: str, stages: list[tuple[str, str]]) -> dict:
        """Add a deal pipeline; `stages` are (stage id, label) pairs."""
        body = {"id": pipeline_id, "label": label}
        body["stages"] = [{"id": stage_id, "label": name} for stage_id, name in stages]
        return self._control("POST", "/_fake/pipelines", json=body)

    def stats(self) -> dict:
        return self._control("GET", "/_fake/stats")

    def _control(self, method: str, path: str, json: dict | None = None):
        if self._client is None:
            raise FakeHubSpotError("the fake is not running")
        response = self._client.request(method, path, json=json)
        if response.is_error:
            raise FakeHubSpotError(
                f"{method} {path} answered {response.status_code}: {response.text}"
            )
        return response.json() if response.content else None

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "tests.fake_hubspot", "--exit-with-parent"]
        command += ["--host", self.host, "--port", str(self.port)]
        for token in self.tokens:
            command += ["--token", token]
        if self.rate_limit is not None:
            command += ["--rate-limit", self.rate_limit]
        return command

    def _wait_healthy(self, deadline: float) -> None:
        assert self._client is not None
        while True:
            try:
                if self._client.get("/_fake/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self._process is None or self._process.poll() is not None:
                raise FakeHubSpotError("the fake HubSpot exited during startup")
            if time.monotonic() > deadline:
                raise FakeHubSpotError(
                    f"the fake HubSpot was not healthy within {self.startup_timeout_s} s"
                )
            time.sleep(HEALTH_POLL_INTERVAL_S)


def start_fake_hubspot(
    tokens: Iterable[str] = (DEFAULT_TOKEN,), *, rate_limit: str | None = None, port: int = 0
) -> FakeHubSpot:
    """A running fake for benchmarks and scripts; call `.stop()` or use it in a `with` block."""
    return FakeHubSpot(tokens, rate_limit=rate_limit, port=port).start()


def _read_ready_url(process: subprocess.Popen, deadline: float) -> bytes:
    """Wait for the child's ready line on stdout and return the URL it names."""
    assert process.stdout is not None
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FakeHubSpotError("the fake HubSpot did not report ready in time")
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise FakeHubSpotError(
                    f"the fake HubSpot exited before it was ready (exit code {process.wait()})"
                )
            output += chunk

    match = _READY_URL.search(output)
    if match is None:
        raise FakeHubSpotError(f"unexpected first line from the fake HubSpot: {output!r}")
    return match.group(1)


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env
