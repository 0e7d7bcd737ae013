"""Hot reload under load: failed requests, save→new-code delay, and p99 latency with and without reloads.

A 2-worker app serves 16 concurrent clients (GET and POST) through pysupervise. First a quiet phase with
no reloads, then a phase where the app's file is saved every --interval seconds. Prints the number of
failed requests (target 0), the time from each save to the first response from the new code (target
<= 1 s for a small app; median and max) and the p99 latency of both phases. Not a test.

    python3 benchmarks/reload_under_load.py [--saves 10] [--interval 2] [--quiet-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import pysupervise_site  # noqa: E402

APP = '''
import os
from aiohttp import web

VERSION = "{version}"


async def version(request):
    return web.json_response({{"version": VERSION}})


async def echo(request):
    return web.json_response({{"version": VERSION, "echo": len(await request.read())}})


def create_app():
    app = web.Application()
    app.router.add_get("/", version)
    app.router.add_post("/", echo)
    return app
'''


class Load:
    """16 client loops in a thread; records (finish time, latency, version, ok) of every request."""

    def __init__(self, url: str, concurrency: int = 16) -> None:
        self.url = url
        self.concurrency = concurrency
        self.samples: list[tuple[float, float, str, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    async def _main(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await asyncio.gather(*(self._loop(session, i) for i in range(self.concurrency)))

    async def _loop(self, session: aiohttp.ClientSession, index: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                request = session.post(self.url, data=b"x" * 100) if (n + index) % 2 else session.get(self.url)
                async with request as response:
                    body = await response.read()
                    ok = response.status == 200
                    version = json.loads(body)["version"] if ok else ""
            except Exception:
                ok, version = False, ""
            finished = time.monotonic()
            self.samples.append((finished, finished - started, version, ok))


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--quiet-seconds", type=float, default=10.0)
    args = parser.parse_args()
    app_dir = Path(tempfile.mkdtemp(prefix="reload-bench-"))
    (app_dir / "bench_app.py").write_text(APP.format(version="v000"))
    apps = textwrap.dedent(f"""
        [apps.bench]
        app = "bench_app:create_app"
        dir = "{app_dir}"
        route = "/"
        workers = 2
        graceful_timeout = 5
        """)
    with pysupervise_site(apps) as site:
        load = Load(f"http://127.0.0.1:{site.port}/")
        load.start()
        time.sleep(1)  # warm-up; the quiet phase starts after it
        quiet_start = time.monotonic()
        time.sleep(args.quiet_seconds)
        reload_start = time.monotonic()
        saves: list[tuple[float, str]] = []
        for n in range(1, args.saves + 1):
            version = f"v{n:03d}"
            saved = time.monotonic()
            (app_dir / "bench_app.py").write_text(APP.format(version=version))
            saves.append((saved, version))
            time.sleep(args.interval)
        reload_end = time.monotonic()
        load.stop()
    samples = load.samples
    failures = sum(1 for s in samples if not s[3])
    quiet = [s[1] for s in samples if quiet_start <= s[0] < reload_start]
    during = [s[1] for s in samples if reload_start <= s[0] < reload_end]
    delays = []
    for saved, version in saves:
        first = next((s[0] for s in samples if s[2] == version and s[0] >= saved), None)
        if first is not None:
            delays.append(first - saved)
    print(f"requests: {len(samples)}   failed: {failures}")
    print(f"save -> first response from the new code: median {statistics.median(delays):.2f} s   "
          f"max {max(delays):.2f} s   ({len(delays)} of {len(saves)} saves observed)")
    print(f"p99 latency without reloads: {p99(quiet):.1f} ms   during reloads: {p99(during):.1f} ms")


if __name__ == "__main__":
    main()
