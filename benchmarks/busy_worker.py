"""A worker kept busy by one client: everyone else's latency, pysupervise (one front; two fronts) vs nginx.

Apps have endpoints that hold their worker: CPU-bound work, or a blocking call in an async handler. One client
calling such an endpoint in a loop keeps one of the 2 workers' event loops blocked nearly all the time. A proxy
that knows which worker is busy sends everyone else to the other one; round robin (nginx's default upstream
balancing) sends every other request into the blocked worker, where it waits for the block to end.

Each round runs, in turn (alternating the order), pysupervise with `processes = 1`, nginx in front of the very
same 2 workers (benchmarks/transfer_app.py), and pysupervise with `processes = 2` and 2 workers of its own. For
each: one attacker thread asks /block?seconds=B (time.sleep in the handler) on a keep-alive connection, again as
soon as it is answered; `--probers` threads each ask / on a keep-alive connection of their own (several
connections, so that both of a two-front site's fronts get some), one after another, for `--seconds`. Prints the
probes' p50, p99 and max latency and the share slower than 50 ms, as medians over the rounds. Everything is on
127.0.0.1. Not a test: compare numbers only within one run.

    python3 benchmarks/busy_worker.py [--rounds 3] [--seconds 5] [--probers 8] [--block 0.2]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, median, nginx_in_front_of, pysupervise_site  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
SLOW_MS = 50.0


class Asker(threading.Thread):
    """Asks `path` on one keep-alive connection, one request after another, until stopped; keeps each latency."""

    def __init__(self, port: int, path: str) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.latencies_ms: list[float] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stopping.is_set():
                start = time.perf_counter()
                try:
                    conn.request("GET", self.path)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if ok:
                    self.latencies_ms.append((time.perf_counter() - start) * 1000)
                else:
                    self.failures += 1
        finally:
            conn.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def under_attack(port: int, args: argparse.Namespace) -> dict[str, float]:
    """Probe latencies while one client keeps a worker blocked."""
    warm = Asker(port, "/")
    warm.start()
    time.sleep(0.5)  # warm-up: pooled connections, rates
    warm.stopping.set()
    warm.join()
    attacker = Asker(port, f"/block?seconds={args.block:g}")
    probers = [Asker(port, "/") for _ in range(args.probers)]
    attacker.start()
    for prober in probers:
        prober.start()
    time.sleep(args.seconds)  # the measurement's duration: every asker runs that long
    for asker in [attacker, *probers]:
        asker.stopping.set()
    for asker in [attacker, *probers]:
        asker.join(30)
    latencies = [ms for prober in probers for ms in prober.latencies_ms]
    return {"p50 ms": percentile(latencies, 0.5), "p99 ms": percentile(latencies, 0.99),
            "max ms": max(latencies, default=float("nan")),
            f"over {SLOW_MS:g} ms %": 100 * sum(ms > SLOW_MS for ms in latencies) / max(1, len(latencies)),
            "probes": len(latencies), "failures": sum(p.failures for p in probers) + attacker.failures,
            "blocks": len(attacker.latencies_ms)}


@contextlib.contextmanager
def targets(workers: int) -> Iterator[dict[str, int]]:
    with contextlib.ExitStack() as stack:
        one = stack.enter_context(pysupervise_site(bench_app(APP, workers), own_session=True))
        two = stack.enter_context(pysupervise_site(bench_app(APP, workers), "processes = 2", own_session=True))
        nginx = stack.enter_context(nginx_in_front_of(one.sockets("bench"), own_session=True))
        yield {"pysupervise": one.port, "pysupervise, processes = 2": two.port, "nginx": nginx}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--probers", type=int, default=8)
    parser.add_argument("--block", type=float, default=0.2, help="seconds each attack request blocks its worker")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    with targets(2) as ports:
        names = list(ports)
        for round_number in range(args.rounds):
            order = names if round_number % 2 == 0 else names[::-1]
            for name in order:
                result = under_attack(ports[name], args)
                results.setdefault(name, []).append(result)
                print(f"  round {round_number + 1} {name:28} " + "  ".join(
                    f"{key} {value:.1f}" for key, value in result.items()), flush=True)
    print(f"medians of {args.rounds} rounds, {args.probers} probing connections, one client blocking a worker "
          f"{args.block:g} s per request:")
    for name in names:
        keys = results[name][0].keys()
        print(f"{name:28} " + "  ".join(f"{key} {median([r[key] for r in results[name]]):.1f}" for key in keys))


if __name__ == "__main__":
    main()
