"""The long fuzz run: `python3 scripts/fuzz.py [--count 100000] [--seed N]` against a fresh site.

The same inputs and checks as tests/proxy/test_fuzz.py, at a size too slow for CI. Prints the answer
statuses, whether the master stayed up, tracebacks in its output, requests a worker saw that are missing
from access.log, and the master's fds and RSS before and after. Exit 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from tests.support import fuzz  # noqa: E402
from tests.support.site import Site  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    site = Site(Path(tempfile.mkdtemp(prefix="fuzz-")), fuzz.SITE_CONFIG).start()
    try:
        master = psutil.Process(site.process.pid)
        asyncio.run(fuzz.run(site.host, site.port, fuzz.SEEDS * 5, concurrency=8))
        time.sleep(2)  # a benchmark, not a test: let the warm-up's pooled connections expire
        fds, rss = fuzz.open_fds(master.pid), master.memory_info().rss
        started = time.monotonic()
        result = asyncio.run(fuzz.run(site.host, site.port, fuzz.inputs(args.seed, args.count), args.concurrency))
        seconds = time.monotonic() - started
        time.sleep(3)  # access.log flushes and idle connections close
        missing = fuzz.seen_by_worker(site.log_dir) - fuzz.logged(site.log_dir)
        tracebacks = site.output_text().count("Traceback")
        alive = site.process.poll() is None and site.get("/after-the-fuzz").status == 200
        fds_after, rss_after = fuzz.open_fds(master.pid), master.memory_info().rss
        print(f"{result.sent} inputs (seed {args.seed}) in {seconds:.0f} s: {result.answered} answered, "
              f"{result.closed_silently} closed without an answer, {len(result.malformed_answers)} malformed answers")
        print("statuses:", ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items())))
        print(f"master alive: {alive}; tracebacks in its output: {tracebacks}; "
              f"requests a worker saw missing from access.log: {len(missing)}")
        print(f"master fds {fds} -> {fds_after}; RSS {rss / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB")
        ok = alive and not tracebacks and not missing and not result.malformed_answers and 500 not in result.statuses
        return 0 if ok else 1
    finally:
        site.stop()


if __name__ == "__main__":
    sys.exit(main())
