"""What users would pick instead: nginx -> gunicorn with uvicorn workers, against pysupervise hosting the same app.

One run alternates the targets round by round, all serving the plain ASGI app of benchmarks/asgi_app.py with
2 workers each:
  pysupervise      its proxy (access log on) in front of its own worker runtime, which serves ASGI with uvicorn;
  nginx+gunicorn   nginx (worker_processes auto, upstream keepalive, buffered access log: harness.nginx_in_front_of)
                   in front of `gunicorn -k UvicornWorker -w 2` on a Unix socket;
  gunicorn alone   the same gunicorn on a TCP port with no proxy, as a reference (--no-gunicorn-alone skips it).
Each server (pysupervise's master, gunicorn, nginx) starts in a session of its own, as a service manager or another
terminal would start it, never in wrk's: on Linux a session is also a scheduler autogroup, and a front that shares
wrk's autogroup while its workers have their own spends more CPU per request, workers included
(benchmarks/worker_cost.py). pysupervise's master starts each worker in a session of its own, as it always does.
For each it reports hello-world requests/s and p99 (wrk, 64 keep-alive connections), the CPU µs per request of
the whole stack (front + app server, psutil over their process trees; wrk's own apart) and 1 MB download
throughput (wrk, 16 connections), as medians, and the ratios pysupervise / (nginx -> gunicorn).
Not a test: compare numbers only within one run (this machine has 2 noisy cores).

    python3 benchmarks/alternatives.py [--rounds 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cpu_per_request import group_usage  # noqa: E402
from benchmarks.harness import (Pysupervise, WrkResult, bench_app, gunicorn_uvicorn, median, nginx_in_front_of,  # noqa: E402
                                parse_wrk, process_tree, pysupervise_site, require, uvicorn_worker_class, wrk)

APP = "benchmarks.asgi_app:app"
DOWNLOAD_BYTES = 1024 * 1024
DOWNLOAD_PATH = f"/download?size={DOWNLOAD_BYTES}"
REFERENCE = "nginx+gunicorn"


@dataclass(frozen=True)
class Target:
    """A server under test: its port, and the processes of its front (the proxy) and of its app server."""

    name: str
    port: int
    front: list[psutil.Process]
    app_server: list[psutil.Process]


@dataclass(frozen=True)
class HelloRun:
    """One wrk run on `/`; CPU in µs per successful request (user + system)."""

    rps: float
    p99_ms: float
    errors: int
    front_us: float
    app_server_us: float
    wrk_us: float

    @property
    def stack_us(self) -> float:
        return self.front_us + self.app_server_us


def cpu_seconds(processes: list[psutil.Process]) -> float:
    usage = group_usage(processes)
    return usage.user + usage.system


def wrk_with_cpu(port: int, seconds: int, connections: int) -> tuple[WrkResult, float]:
    """wrk on `/`, and the CPU seconds wrk itself spent (its rusage, so the load generator is accounted too)."""
    process = subprocess.Popen([require("wrk", "wrk"), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                                f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)
    try:
        output = process.stdout.read()
        _, status, rusage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
        process.stdout.close()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}) on port {port}:\n{output}")
    return parse_wrk(output), rusage.ru_utime + rusage.ru_stime


def measure_hello(target: Target, seconds: int, connections: int) -> HelloRun:
    front_before, app_before = cpu_seconds(target.front), cpu_seconds(target.app_server)
    result, wrk_cpu = wrk_with_cpu(target.port, seconds, connections)
    front_after, app_after = cpu_seconds(target.front), cpu_seconds(target.app_server)
    requests = result.requests_per_second * seconds or float("nan")
    return HelloRun(result.requests_per_second, result.p99_ms, result.errors,
                    (front_after - front_before) / requests * 1e6, (app_after - app_before) / requests * 1e6,
                    wrk_cpu / requests * 1e6)


def download_mb_per_second(target: Target, seconds: int, connections: int) -> tuple[float, WrkResult]:
    result = wrk(target.port, DOWNLOAD_PATH, seconds, connections)
    return result.requests_per_second * DOWNLOAD_BYTES / 1e6, result


def check_answers(name: str, port: int) -> None:
    """Each target serves the real app: a fast error page must not pass for throughput."""
    for path, expected in (("/", b"hello\n"), (DOWNLOAD_PATH, b"x" * DOWNLOAD_BYTES)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200 or body != expected:
            raise RuntimeError(f"{name} answered {response.status} with {len(body)} bytes to GET {path}")


def wait_for_sockets(site: Pysupervise, app: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(site.sockets(app)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"pysupervise did not start {count} workers for {app} in {timeout} s")
        time.sleep(0.1)


def nginx_processes() -> list[psutil.Process]:
    """This benchmark's nginx master and workers (it starts exactly one nginx)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if process.name().startswith("nginx"):
                found.append(process)
    return found


class Results:
    """Every round's measurements of each target, and the table of their medians."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.hello: dict[str, list[HelloRun]] = {name: [] for name in names}
        self.download_mb_per_s: dict[str, list[float]] = {name: [] for name in names}
        self.download_p99_ms: dict[str, list[float]] = {name: [] for name in names}
        self.errors: dict[str, int] = dict.fromkeys(names, 0)

    def add(self, name: str, hello: HelloRun, mb_per_s: float, download: WrkResult) -> None:
        self.hello[name].append(hello)
        self.download_mb_per_s[name].append(mb_per_s)
        self.download_p99_ms[name].append(download.p99_ms)
        self.errors[name] += hello.errors + download.errors

    def _hello(self, field: str) -> Callable[[str], float]:
        return lambda name: median([getattr(run, field) for run in self.hello[name]])

    def print_table(self, connections: int, download_connections: int) -> None:
        rows = [
            (f"hello world req/s, {connections} connections", self._hello("rps"), "{:,.0f}"),
            ("hello world p99, ms", self._hello("p99_ms"), "{:.1f}"),
            ("CPU µs per request: front (proxy)", self._hello("front_us"), "{:.1f}"),
            ("CPU µs per request: app server", self._hello("app_server_us"), "{:.1f}"),
            ("CPU µs per request: whole stack", self._hello("stack_us"), "{:.1f}"),
            ("CPU µs per request: wrk itself", self._hello("wrk_us"), "{:.1f}"),
            (f"1 MB downloads MB/s, {download_connections} connections",
             lambda name: median(self.download_mb_per_s[name]), "{:,.0f}"),
            ("1 MB downloads p99, ms", lambda name: median(self.download_p99_ms[name]), "{:.1f}"),
        ]
        print(f"| measurement | {' | '.join(self.names)} | pysupervise / {REFERENCE} |")
        print("|---" * (len(self.names) + 2) + "|")
        for label, value, form in rows:
            cells = [form.format(value(name)).replace(",", " ") for name in self.names]
            print(f"| {label} | {' | '.join(cells)} | {value('pysupervise') / value(REFERENCE):.2f}× |")
        print("(req/s and MB/s: higher is better; p99 and CPU: lower is better)")
        print("failed or non-2xx responses: " + ", ".join(f"{name} {self.errors[name]}" for name in self.names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--download-connections", type=int, default=16)
    parser.add_argument("--no-gunicorn-alone", action="store_true", help="skip gunicorn on a TCP port, no proxy")
    args = parser.parse_args()
    print(f"gunicorn -k {uvicorn_worker_class()} -w {args.workers}; pysupervise workers = {args.workers}", flush=True)
    with contextlib.ExitStack() as stack:
        site = stack.enter_context(pysupervise_site(bench_app(APP, args.workers), own_session=True))
        behind_nginx = stack.enter_context(gunicorn_uvicorn(APP, args.workers, unix_socket=True, own_session=True))
        nginx_port = stack.enter_context(nginx_in_front_of([behind_nginx.socket], own_session=True))
        alone = None if args.no_gunicorn_alone else stack.enter_context(
            gunicorn_uvicorn(APP, args.workers, unix_socket=False, own_session=True))
        wait_for_sockets(site, "bench", args.workers)
        ports = {"pysupervise": site.port, REFERENCE: nginx_port, **({"gunicorn alone": alone.port} if alone else {})}
        for name, port in ports.items():
            check_answers(name, port)
            wrk(port, seconds=1, connections=args.connections)  # warm up pools and code paths
        # Process trees once everything has started (nginx forks its workers after it listens).
        master = process_tree(site.process.pid)
        targets = [Target("pysupervise", site.port, master[:1], master[1:]),
                   Target(REFERENCE, nginx_port, nginx_processes(), process_tree(behind_nginx.process.pid))]
        if alone:
            targets.append(Target("gunicorn alone", alone.port, [], process_tree(alone.process.pid)))
        results = Results([target.name for target in targets])
        for round_number in range(args.rounds):
            for target in targets if round_number % 2 == 0 else reversed(targets):
                run = measure_hello(target, args.seconds, args.connections)
                mb_per_s, download = download_mb_per_second(target, args.seconds, args.download_connections)
                results.add(target.name, run, mb_per_s, download)
                print(f"  round {round_number + 1} {target.name:15s} hello {run.rps:8.0f} req/s "
                      f"p99 {run.p99_ms:6.1f} ms stack {run.stack_us:6.1f} µs/req (front {run.front_us:5.1f}) "
                      f"wrk {run.wrk_us:5.1f}  1 MB {mb_per_s:6.0f} MB/s p99 {download.p99_ms:6.1f} ms", flush=True)
    print(f"\nmedians of {args.rounds} alternating rounds of {args.seconds} s, {args.workers} workers each:")
    results.print_table(args.connections, args.download_connections)


if __name__ == "__main__":
    main()
