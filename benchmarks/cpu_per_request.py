"""Where the CPU goes per hello-world request: the proxy, the workers, the load generator.

The machine is CPU-bound during the hello-world benchmark, so requests/s is set by the sum of
what every process spends per request. This runs the same load (wrk, 64 keep-alive
connections) through pysupervise, nginx, benchmarks/floor_proxy.py (the cheapest uvloop proxy,
one request per worker connection at a time, and pipelined) and straight at the workers, and prints for each the CPU microseconds per request of each part
(user / system), plus the context switches, as medians over alternating rounds.

    python3 benchmarks/cpu_per_request.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (bench_app, direct_workers, floor_proxy_in_front_of, median, nginx_in_front_of,  # noqa: E402
                                parse_wrk, pysupervise_site, require)

APP = "benchmarks.transfer_app:create_app"


@dataclass(frozen=True)
class Usage:
    user: float
    system: float
    switches: int


def group_usage(processes: list[psutil.Process]) -> Usage:
    user = system = 0.0
    switches = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            counts = process.num_ctx_switches()
            user += times.user
            system += times.system
            switches += counts.voluntary + counts.involuntary
    return Usage(user, system, switches)


# How this benchmark's descendants are told apart: by their command lines.
_KINDS: dict[str, Callable[[psutil.Process, str], bool]] = {
    "pysupervise": lambda process, command: "pysupervise start" in command,
    "workers": lambda process, command: "pysupervise.worker" in command,
    "nginx": lambda process, command: process.name().startswith("nginx"),
    "floor": lambda process, command: "floor_proxy.py" in command and "--pipeline" not in command,
    "floor-pipelined": lambda process, command: "floor_proxy.py" in command and "--pipeline" in command,
    "direct": lambda process, command: "direct_workers.py" in command,
}


def processes_of(kind: str) -> list[psutil.Process]:
    """This benchmark's descendants of one kind."""
    matches = _KINDS[kind]
    found = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if matches(process, " ".join(process.cmdline())):
                found.append(process)
    return found


def measure(port: int, parts: dict[str, list[psutil.Process]], seconds: int) -> dict[str, object]:
    """One wrk run; per part, CPU µs per request (user, system) and context switches per request."""
    before = {name: group_usage(processes) for name, processes in parts.items()}
    wrk = subprocess.Popen([require("wrk", "wrk"), "-t1", "-c64", f"-d{seconds}s", "--latency",
                            f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)
    output = wrk.stdout.read()
    _, status, rusage = os.wait4(wrk.pid, 0)
    wrk.returncode = os.waitstatus_to_exitcode(status)
    after = {name: group_usage(processes) for name, processes in parts.items()}
    result = parse_wrk(output)
    requests = result.requests_per_second * seconds
    row: dict[str, object] = {"rps": result.requests_per_second}
    for name in parts:
        row[name] = ((after[name].user - before[name].user) / requests * 1e6,
                     (after[name].system - before[name].system) / requests * 1e6,
                     (after[name].switches - before[name].switches) / requests)
    row["wrk"] = (rusage.ru_utime / requests * 1e6, rusage.ru_stime / requests * 1e6,
                  (rusage.ru_nvcsw + rusage.ru_nivcsw) / requests)
    return row


def report(name: str, rows: list[dict[str, object]]) -> None:
    print(f"{name}: {median([r['rps'] for r in rows]):9.0f} req/s (median of {len(rows)})")
    total_user = total_system = 0.0
    for part in rows[0]:
        if part == "rps":
            continue
        user = median([r[part][0] for r in rows])
        system = median([r[part][1] for r in rows])
        switches = median([r[part][2] for r in rows])
        total_user += user
        total_system += system
        print(f"   {part:12s} {user + system:6.1f} µs/request  (user {user:5.1f}, system {system:5.1f})  "
              f"{switches:5.2f} context switches/request")
    print(f"   {'all':12s} {total_user + total_system:6.1f} µs/request  (user {total_user:5.1f}, "
          f"system {total_system:5.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--shared-session", action="store_true",
                        help="start nginx and the floor proxies in this script's session (and wrk's scheduler "
                             "autogroup), as the earlier runs did; by default each server has a session of its own")
    args = parser.parse_args()
    apps = bench_app(APP, 2)
    own = not args.shared_session
    with pysupervise_site(apps, own_session=own) as site, \
            nginx_in_front_of(site.sockets("bench"), own_session=own) as nginx_port, \
            floor_proxy_in_front_of(site.sockets("bench"), own_session=own) as floor_port, \
            floor_proxy_in_front_of(site.sockets("bench"), pipeline=True, own_session=own) as pipelined_port, \
            direct_workers(APP, 2) as direct_port:
        workers = processes_of("workers")
        targets = {
            "pysupervise": (site.port, {"proxy": processes_of("pysupervise"), "workers": workers}),
            "nginx": (nginx_port, {"proxy": processes_of("nginx"), "workers": workers}),
            "floor": (floor_port, {"proxy": processes_of("floor"), "workers": workers}),
            "floor-pipelined": (pipelined_port, {"proxy": processes_of("floor-pipelined"), "workers": workers}),
            "direct": (direct_port, {"workers": processes_of("direct")}),
        }
        rows: dict[str, list[dict[str, object]]] = {name: [] for name in targets}
        for port, parts in targets.values():
            measure(port, parts, 1)  # warm up pools and code paths
        for round_number in range(args.rounds):
            order = list(targets) if round_number % 2 == 0 else list(reversed(targets))
            for name in order:
                port, parts = targets[name]
                rows[name].append(measure(port, parts, args.seconds))
                print(f"  round {round_number + 1} {name:12s} {rows[name][-1]['rps']:9.0f} req/s", flush=True)
    for name, measured in rows.items():
        report(name, measured)


if __name__ == "__main__":
    main()
