"""paybridge's benchmarks: `make bench`, or `python -m tests.bench [--only NAME] [--quick]`.

- sandbox: one warm sandboxed run per template, against plain Python and a fork per run; an
  infinite loop next to normal runs
- ingress: signed events accepted per second and accept latency, against a bare LPUSH endpoint
- e2e: deliveries per second from first accept to last delivered, against RQ's no-op job rate
- limiter: twice HubSpot's allowed rate for a minute: no 429 reaches paybridge, every event
  delivered

Redis db 14 (`PAYBRIDGE_BENCH_REDIS_URL`), flushed before and after; the fake HubSpot of
tests/fake_hubspot; nothing leaves 127.0.0.1. Results: bench-results/latest.json.
"""
