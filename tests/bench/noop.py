"""RQ's own floor: a job that does nothing, and a worker run the way `paybridge worker` runs it.

    python -m tests.bench.noop QUEUE REDIS_URL

starts one of paybridge's RQ workers on QUEUE, as worker/process.py does (in-process jobs, no RQ
scheduler), so the two job rates differ only by what paybridge's job does.
"""

from __future__ import annotations

import sys

from engine.redis_server import connect
from worker.process import Worker

JOB = "tests.bench.noop.nothing"


def nothing() -> None:
    """The no-op job."""


def main() -> None:
    queue_name, redis_url = sys.argv[1:3]
    worker = Worker([queue_name], connection=connect(redis_url))
    worker.work(logging_level="WARNING")


if __name__ == "__main__":
    main()
