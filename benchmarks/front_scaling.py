"""How far the front scales: requests/s and each front process's CPU as the worker count grows, for
`[proxy] processes = 1, 2, ...` side by side (hello world, access log on).

For each worker count, one site per `processes` value runs; the rounds alternate between them and the medians
are printed. A front at ~100% of a core is the ceiling: from there more workers add nothing unless another
front process takes part of the load (README "Where the front saturates").
Not a test: the numbers depend on the machine; compare only within one run.

    python3 benchmarks/front_scaling.py [--processes 1,2] [--workers 1,2] [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, median, pysupervise_site, wrk  # noqa: E402

APP = "benchmarks.transfer_app:create_app"


def cpu_seconds(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return times.user + times.system
    return 0.0


def parts_of(master: psutil.Process) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(the fronts: the master first, then its front processes; the workers)."""
    fronts, workers = [master], []
    for child in master.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            if "fronts.front_main" in command:
                fronts.append(child)
            elif "pysupervise.worker" in command:
                workers.append(child)
    return fronts, workers


def one_round(port: int, master: psutil.Process, seconds: int, connections: int, threads: int) -> dict[str, object]:
    fronts, workers = parts_of(master)
    before = [cpu_seconds(p) for p in fronts], sum(cpu_seconds(p) for p in workers)
    started = time.monotonic()
    result = wrk(port, seconds=seconds, connections=connections, threads=threads)
    wall = time.monotonic() - started
    front_cpu = [(cpu_seconds(p) - b) / wall * 100 for p, b in zip(fronts, before[0])]
    worker_cpu = (sum(cpu_seconds(p) for p in workers) - before[1]) / wall * 100
    requests = result.requests_per_second * seconds
    front_us = sum(cpu_seconds(p) - b for p, b in zip(fronts, before[0])) / max(requests, 1) * 1e6
    return {"rps": result.requests_per_second, "fronts": front_cpu, "workers": worker_cpu, "front_us": front_us,
            "errors": result.errors}


def scaling_rows(counts: list[int], worker_counts: list[int], rounds: int, seconds: int, connections: int,
                 threads: int) -> list[str]:
    """One table row per (workers, processes): medians of `rounds` alternating rounds."""
    lines = [f"{'workers':>7} {'processes':>9} {'req/s':>9} {'front µs/req':>12}  front CPU % (master first)   "
             f"workers CPU %"]
    print(lines[0], flush=True)
    for workers in worker_counts:
        with contextlib.ExitStack() as stack:
            sites = {n: stack.enter_context(pysupervise_site(bench_app(APP, workers), f"processes = {n}",
                                                             own_session=True)) for n in counts}
            masters = {n: psutil.Process(site.process.pid) for n, site in sites.items()}
            for site in sites.values():
                wrk(site.port, seconds=1, connections=connections, threads=threads)  # warm up
            rows: dict[int, list[dict[str, object]]] = {n: [] for n in counts}
            for round_number in range(rounds):
                for n in (counts if round_number % 2 == 0 else list(reversed(counts))):
                    rows[n].append(one_round(sites[n].port, masters[n], seconds, connections, threads))
            for n in counts:
                runs = rows[n]
                fronts = [median([r["fronts"][i] for r in runs]) for i in range(len(runs[0]["fronts"]))]
                errors = sum(r["errors"] for r in runs)
                line = (f"{workers:>7} {n:>9} {median([r['rps'] for r in runs]):>9.0f} "
                        f"{median([r['front_us'] for r in runs]):>12.1f}  "
                        f"{' '.join(f'{c:5.0f}' for c in fronts):28s} {median([r['workers'] for r in runs]):6.0f}"
                        f"{f'   errors {errors}' if errors else ''}")
                lines.append(line)
                print(line, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", default="1,2", help="front process counts to compare (comma-separated)")
    parser.add_argument("--workers", default="1,2", help="worker counts to step through (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = parser.parse_args()
    scaling_rows([int(n) for n in args.processes.split(",")], [int(n) for n in args.workers.split(",")],
                 args.rounds, args.seconds, args.connections, args.threads)


if __name__ == "__main__":
    main()
