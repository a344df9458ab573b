"""`python -m tests.bench [--only sandbox|ingress|e2e|limiter|pages] [--quick]` (`make bench`).

Prints one line per figure, with its unit, and each target with PASS or FAIL; writes the same
to bench-results/latest.json. Exit status: 0 when every target passed, 1 when one failed,
2 when a benchmark could not run, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType

import redis

from . import end_to_end, ingress_rate, limiter, pages, sandbox_runs
from .processes import BENCH_REDIS_URL, OtherLoad
from .report import Report, Section

BENCHES: dict[str, Callable[[Section, bool], None]] = {
    "sandbox": sandbox_runs.run,
    "ingress": ingress_rate.run,
    "e2e": end_to_end.run,
    "limiter": limiter.run,
    "pages": pages.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--only", choices=BENCHES, help="run one benchmark")
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher figures")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    report = Report(options.quick)
    names = [options.only] if options.only else list(BENCHES)
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        for name in names:
            section = report.section(name)
            try:
                with OtherLoad(client) as other:
                    BENCHES[name](section, options.quick)
                section.figure("other processes on this machine meanwhile", other.cores, "cores")
            except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the rest
                traceback.print_exc()
                section.error = f"{type(error).__name__}: {error}"
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        client.close()
        report.summary()
        print(f"written to {report.write()}")

    if report.interrupted:
        return 130
    if any(section.error for section in report.sections):
        return 2
    return 0 if report.passed else 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the run the way Ctrl-C does, so every started process is stopped too."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
