"""Serve the fake HubSpot.

    python -m tests.fake_hubspot --port 8765 --token T --rate-limit 100/10s

Prints one line, `fake hubspot ready on http://HOST:PORT`, once it accepts connections. With
`--port 0` the line names the port the system chose.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import uvicorn

from .app import create_app
from .ratelimit import parse_rate_limit
from .schema import DEFAULT_PORTAL_ID
from .state import FakeState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
READY_LINE = "fake hubspot ready on http://{host}:{port}"
PARENT_CHECK_INTERVAL_S = 0.5
GRACEFUL_SHUTDOWN_S = 2


def main(argv: list[str] | None = None) -> None:
    options = _parse_args(argv)
    state = FakeState(
        tokens=options.tokens, rate_limit=options.rate_limit, portal_id=options.portal_id
    )
    config = uvicorn.Config(
        create_app(state),
        host=options.host,
        port=options.port,
        http="h11",  # the drop fault reaches the connection through h11's request cycle
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    asyncio.run(_serve(_AnnouncingServer(config), options.exit_with_parent))


class _AnnouncingServer(uvicorn.Server):
    """Prints the ready line once the socket is listening."""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(READY_LINE.format(host=host, port=port), flush=True)


async def _serve(server: uvicorn.Server, exit_with_parent: bool) -> None:
    watcher = asyncio.create_task(_watch_parent(server)) if exit_with_parent else None
    try:
        await server.serve()
    finally:
        if watcher is not None:
            watcher.cancel()


async def _watch_parent(server: uvicorn.Server) -> None:
    """Stop when the process that started us is gone, so a killed test run leaves no server."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_INTERVAL_S)
    server.should_exit = True


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_hubspot", description="A local HubSpot look-alike."
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--token",
        dest="tokens",
        action="append",
        default=[],
        help="a bearer token to accept with every scope; repeatable",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        help="enforce a rolling limit per token, like 100/10s (default: off)",
    )
    parser.add_argument("--portal-id", type=int, default=DEFAULT_PORTAL_ID)
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _rate_limit(text: str) -> tuple[int, int] | None:
    try:
        return parse_rate_limit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
