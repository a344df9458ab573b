"""The yardstick for paybridge's ingress: a bare Starlette endpoint that only LPUSHes the body.

Served by uvicorn exactly as `paybridge web` is (log level warning, no access log), on the same
Redis client settings, so the difference between the two is paybridge's own work per event:
reading the secret, checking the signature, deduplicating, storing and enqueueing.

    python -m tests.bench.bare_app --port 8001 --redis-url redis://127.0.0.1:6379/14
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.redis_server import connect

EVENTS_KEY = "bench:bare:events"


def create_app(redis_url: str) -> Starlette:
    client = connect(redis_url)

    async def receive_event(request: Request) -> Response:
        client.lpush(EVENTS_KEY, await request.body())
        return JSONResponse({"stored": True}, 202)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/webhooks/{integration_id}", receive_event, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bare_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    options = parser.parse_args()
    app = create_app(options.redis_url)
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
