"""Worker CPU per request: the same uvicorn workers, started by pysupervise's master or by hand, behind nginx.

Every target is 2 workers serving the plain ASGI app of benchmarks/asgi_app.py on Unix sockets, with an nginx of
its own in front (harness.nginx_in_front_of), so that only how the workers were started differs:
  pysupervise     started by a pysupervise master: each worker leads a session of its own (start_new_session,
                  which the master's reaper relies on);
  one session     `python -m pysupervise.worker` started by this script, both in one new session (as gunicorn
                  keeps its workers in its own session);
  own sessions    the same, each worker in a new session of its own, as the master starts them;
  wrk's session   the same, workers and their nginx in this script's session, the one wrk runs in;
  pysupervise (nginx in wrk's session)
                  the master's workers again, behind an nginx in wrk's session: the pairing of the probe that
                  first compared them with "wrk's session" (28-35 against 22-26 µs per request);
  gunicorn        `gunicorn -k UvicornWorker -w 2` in a session of its own (--no-gunicorn skips it).
Every nginx runs in a session of its own except those of the two wrk's-session targets. On Linux a new session is
also a new scheduler autogroup (when /proc/sys/kernel/sched_autogroup_enabled is 1 and the processes are in the
root cpu cgroup), and CFS shares the CPU between autogroups first: how the processes of one request's path are
grouped changes how many requests a worker finds per wake-up, hence its CPU per request, without any code of its
own changing.

For each target it prints the worker CPU µs per hello-world request (wrk, 64 keep-alive connections), nginx's,
wrk's own, the workers' voluntary context switches per request (how often they went idle) and requests/s, as
medians of alternating rounds, and the worker CPU as a ratio to "one session". Not a test: compare numbers only
within one run (this machine has 2 noisy cores).

    python3 benchmarks/worker_cost.py [--rounds 5] [--seconds 3] [--no-gunicorn]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.alternatives import (APP, check_answers, cpu_seconds, nginx_processes, wait_for_sockets,  # noqa: E402
                                     wrk_with_cpu)
from benchmarks.harness import (REPO, bench_app, gunicorn_uvicorn, median, nginx_in_front_of, process_tree,  # noqa: E402
                                pysupervise_site, stop_process, wrk)

WORKERS = 2
BASELINE = "one session"
SPLIT = "pysupervise (nginx in wrk's session)"


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    front: list[psutil.Process]
    workers: list[psutil.Process]


@dataclass(frozen=True)
class Run:
    """One wrk run on `/`: CPU µs per successful request, and the workers' voluntary switches per request."""

    rps: float
    worker_us: float
    front_us: float
    wrk_us: float
    idle_per_request: float


def voluntary_switches(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += process.num_ctx_switches().voluntary
    return total


def measure(target: Target, seconds: int, connections: int) -> Run:
    front, workers, idle = cpu_seconds(target.front), cpu_seconds(target.workers), voluntary_switches(target.workers)
    result, wrk_cpu = wrk_with_cpu(target.port, seconds, connections)
    requests = result.requests_per_second * seconds or float("nan")
    return Run(result.requests_per_second, (cpu_seconds(target.workers) - workers) / requests * 1e6,
               (cpu_seconds(target.front) - front) / requests * 1e6, wrk_cpu / requests * 1e6,
               (voluntary_switches(target.workers) - idle) / requests)


def _wait_for_files(paths: list[Path], process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not create {[str(path) for path in paths]}")
        time.sleep(0.05)


@contextlib.contextmanager
def hand_started_workers(sessions: str) -> Iterator[tuple[list[Path], list[psutil.Process]]]:
    """WORKERS runtimes on sockets of their own; `sessions`: "one" (a new one for all), "each", or "inherit"."""
    folder = Path(tempfile.mkdtemp(prefix="worker-cost-", dir="/tmp"))
    sockets = [folder / f"{slot}.sock" for slot in range(WORKERS)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pysupervise.worker", APP]
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        if sessions == "one":
            # A shell leads the session and starts both; its process group is theirs too, so one killpg stops all.
            shell = subprocess.Popen(["sh", "-c", 'for s in "$@"; do PORT="$s" "$0" -m pysupervise.worker '
                                      f'{APP} & done; wait', sys.executable, *map(str, sockets)],
                                     env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
            stack.callback(_stop_group, shell)
            _wait_for_files(sockets, shell)
            workers = psutil.Process(shell.pid).children()
        else:
            processes = [subprocess.Popen(command, env={**env, "PORT": str(path)}, cwd=REPO,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=sessions == "each") for path in sockets]
            for process in processes:
                stack.callback(stop_process, process)
            for process in processes:
                _wait_for_files(sockets, process)
            workers = [psutil.Process(process.pid) for process in processes]
        yield sockets, workers


def _stop_group(leader: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGTERM)
    try:
        leader.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


def sessions_of(processes: list[psutil.Process]) -> str:
    return ", ".join(sorted({f"sid {os.getsid(process.pid)}" for process in processes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-gunicorn", action="store_true")
    args = parser.parse_args()
    with open("/proc/sys/kernel/sched_autogroup_enabled") if os.path.exists(
            "/proc/sys/kernel/sched_autogroup_enabled") else contextlib.nullcontext() as flag:
        print(f"sched_autogroup_enabled: {flag.read().strip() if flag else 'absent'}; "
              f"this script's session: {os.getsid(0)}", flush=True)
    with contextlib.ExitStack() as stack:
        targets: list[Target] = []

        def add(name: str, sockets: list[Path], workers: list[psutil.Process], own_session: bool = True) -> None:
            before = {process.pid for process in nginx_processes()}
            port = stack.enter_context(nginx_in_front_of(sockets, own_session=own_session))
            check_answers(name, port)
            wrk(port, seconds=1, connections=args.connections)  # warm up pools and code paths
            front = [process for process in nginx_processes() if process.pid not in before]
            print(f"  {name:36s} workers {[worker.pid for worker in workers]} ({sessions_of(workers)}), "
                  f"nginx {sessions_of(front)}", flush=True)
            targets.append(Target(name, port, front, workers))

        site = stack.enter_context(pysupervise_site(bench_app(APP, WORKERS)))
        wait_for_sockets(site, "bench", WORKERS)
        site_workers = [process for process in process_tree(site.process.pid)[1:]
                        if "pysupervise.worker" in " ".join(process.cmdline())]
        add("pysupervise", site.sockets("bench"), site_workers)
        add(SPLIT, site.sockets("bench"), site_workers, own_session=False)
        for name, sessions in ((BASELINE, "one"), ("own sessions", "each"), ("wrk's session", "inherit")):
            sockets, workers = stack.enter_context(hand_started_workers(sessions))
            add(name, sockets, workers, own_session=sessions != "inherit")
        if not args.no_gunicorn:
            gunicorn = stack.enter_context(gunicorn_uvicorn(APP, WORKERS, unix_socket=True, own_session=True))
            add("gunicorn", [gunicorn.socket], process_tree(gunicorn.process.pid))
        runs: dict[str, list[Run]] = {target.name: [] for target in targets}
        for round_number in range(args.rounds):
            for target in targets if round_number % 2 == 0 else reversed(targets):
                run = measure(target, args.seconds, args.connections)
                runs[target.name].append(run)
                print(f"  round {round_number + 1} {target.name:36s} {run.rps:7.0f} req/s  workers "
                      f"{run.worker_us:5.1f} µs/req  nginx {run.front_us:5.1f}  wrk {run.wrk_us:4.1f}  "
                      f"idle {run.idle_per_request:.3f}/req", flush=True)
    print(f"\nmedians of {args.rounds} alternating rounds of {args.seconds} s, {WORKERS} workers each "
          f"(gunicorn: its master counts as a worker):")
    print(f"| target | req/s | worker µs/req | nginx µs/req | wrk µs/req | worker idle/req | workers / {BASELINE} |")
    print("|---|---|---|---|---|---|---|")
    baseline = median([run.worker_us for run in runs[BASELINE]])
    for name, results in runs.items():
        worker_us = median([run.worker_us for run in results])
        print(f"| {name} | {median([run.rps for run in results]):,.0f} | {worker_us:.1f} | "
              f"{median([run.front_us for run in results]):.1f} | {median([run.wrk_us for run in results]):.1f} | "
              f"{median([run.idle_per_request for run in results]):.3f} | {worker_us / baseline:.2f}× |"
              .replace(",", " "))


if __name__ == "__main__":
    main()
