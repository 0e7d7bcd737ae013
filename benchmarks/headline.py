"""The numbers issue 18 asks for, from one run: pysupervise vs nginx, then the multi-process front's scaling.

Both proxies sit in front of the same 2 aiohttp workers (benchmarks/transfer_app.py), access logs on for both,
every server in a session of its own (as a service manager starts it). Rounds alternate the order; medians:
  - hello world, 64 keep-alive connections (wrk with 1 thread), and 256 (4 threads, as issue 18 measured too):
    requests/s, and CPU µs per request of the proxy plus the workers;
  - 1 MB downloads (16 connections) and 10 MB uploads (8 connections): MB/s, against nginx as configured above
    and also against nginx with `proxy_buffers 8 64k` ("nginx 64k"): nginx's default buffers are a page each, so
    it moves a large body a page or two per read and write;
  - RSS per idle keep-alive connection, 5 000 of them, on a fresh pysupervise and nginx per round, and for 5 000 more
    opened while the first stay (the "second wave": what an idle connection keeps once the allocators are warm);
  - benchmarks/front_scaling.py's table for `[proxy] processes` 1 and 2 with 1 and 2 workers;
  - with --with-two-fronts, hello world also through a site with `[proxy] processes = 2` (as nginx runs a worker
    process per core here), in the same alternating rounds, with its own 2 workers.
Not a test: compare numbers only within one run.

    python3 benchmarks/headline.py [--rounds 5] [--seconds 5] [--idle-rounds 3] [--skip-scaling] [--with-two-fronts]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.front_scaling import scaling_rows  # noqa: E402
from benchmarks.harness import Pysupervise, bench_app, median, nginx_in_front_of, pysupervise_site, wrk  # noqa: E402
from benchmarks.idle_connections import idle_round, raise_fd_limit  # noqa: E402
from benchmarks.large_bodies import UPLOAD_BYTES, upload_script  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
MB = 1048576
HELLO, HELLO_256 = "hello world, 64 connections", "hello world, 256 connections"
NGINX_64K = "nginx 64k"  # large bodies only


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def workers_of(site: Pysupervise) -> list[psutil.Process]:
    return [p for p in psutil.Process(site.process.pid).children(recursive=True)
            if "pysupervise.worker" in " ".join(p.cmdline())]


def tree(pid: int, matches: str) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *(p for p in root.children(recursive=True) if matches in " ".join(p.cmdline()))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--idle-rounds", type=int, default=3)
    parser.add_argument("--idle-connections", type=int, default=5000)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--with-two-fronts", action="store_true",
                        help="also hello world through a site with [proxy] processes = 2 (its own 2 workers)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="psb-headline-", dir="/tmp"))
    # (label, path, wrk script, connections, wrk threads, bytes per request or None for requests/s)
    workloads = [(HELLO, "/", None, 64, 1, None), (HELLO_256, "/", None, 256, 4, None),
                 ("1 MB downloads", f"/download?size={MB}", None, 16, 1, MB),
                 ("10 MB uploads", "/upload", upload_script(folder), 8, 1, UPLOAD_BYTES)]
    names = ["pysupervise", *(["two fronts"] if args.with_two_fronts else []), "nginx", NGINX_64K]
    rates: dict[str, dict[str, list[float]]] = {label: {name: [] for name in names} for label, *_ in workloads}
    # CPU µs per request, for the requests/s workloads
    cpu: dict[str, dict[str, list[float]]] = {label: {name: [] for name in names} for label, *_ in workloads}
    try:
        with contextlib.ExitStack() as servers:
            site = servers.enter_context(pysupervise_site(bench_app(APP, 2), own_session=True))
            nginx_port = servers.enter_context(nginx_in_front_of(site.sockets("bench"), own_session=True))
            nginx_master = next(p for p in psutil.Process().children(recursive=True) if p.name() == "nginx")
            # name -> (port, the proxy's processes now, the workers behind it)
            workers = workers_of(site)
            nginx_64k = servers.enter_context(nginx_in_front_of(site.sockets("bench"), own_session=True,
                                                                proxy_buffers="8 64k"))
            targets = {"pysupervise": (site.port, lambda: tree(site.process.pid, "fronts.front_main"), workers),
                       "nginx": (nginx_port, lambda: nginx_master.children(), workers),
                       NGINX_64K: (nginx_64k, lambda: [], workers)}
            if args.with_two_fronts:
                two = servers.enter_context(pysupervise_site(bench_app(APP, 2), "processes = 2", own_session=True))
                targets["two fronts"] = (two.port, lambda: tree(two.process.pid, "fronts.front_main"), workers_of(two))
            for label, path, script, connections, threads, size in workloads:
                print(f"{label}, wrk with {threads} thread(s):", flush=True)
                running = [name for name in names if (name != "two fronts" if size else name != NGINX_64K)]
                for name in running:
                    wrk(targets[name][0], path, 1, connections, threads, script)  # warm up
                for round_number in range(args.rounds):
                    for name in running[:: 1 if round_number % 2 == 0 else -1]:
                        port, proxy, workers = targets[name]
                        parts = proxy() + workers
                        before = cpu_seconds(parts)
                        result = wrk(port, path, args.seconds, connections, threads, script)
                        requests = result.requests_per_second * args.seconds
                        rate = result.requests_per_second if size is None else requests * size / 1e6 / args.seconds
                        rates[label][name].append(rate)
                        if size is None:
                            cpu[label][name].append((cpu_seconds(parts) - before) / requests * 1e6)
                        print(f"  round {round_number + 1} {name:12s} {rate:9.0f} {'req/s' if size is None else 'MB/s'}"
                              f"  errors {result.errors}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    raise_fd_limit(args.idle_connections)
    idle: dict[str, list[float]] = {"pysupervise": [], "nginx": []}
    second_wave: dict[str, list[float]] = {"pysupervise": [], "nginx": []}
    print(f"{args.idle_connections} idle keep-alive connections:", flush=True)
    for round_number in range(args.idle_rounds):
        for name in list(idle)[:: 1 if round_number % 2 == 0 else -1]:
            before, during, with_second_wave, _after = idle_round(name, args.idle_connections)
            idle[name].append((during - before) / args.idle_connections / 1024)
            second_wave[name].append((with_second_wave - during) / args.idle_connections / 1024)
            print(f"  round {round_number + 1} {name:12s} {idle[name][-1]:5.2f} KiB per connection "
                  f"(second wave {second_wave[name][-1]:5.2f})", flush=True)
    print("\n| measurement (medians) | pysupervise | nginx | pysupervise / nginx |\n|---|---|---|---|")
    for label, values in rates.items():
        ps_rate, ng_rate = median(values["pysupervise"]), median(values["nginx"])
        if label not in (HELLO, HELLO_256):
            print(f"| {label}, MB/s | {ps_rate:.0f} | {ng_rate:.0f} | **{ps_rate / ng_rate:.2f}×** |")
            tuned = median(values[NGINX_64K])
            print(f"| {label}, MB/s, nginx with proxy_buffers 8 64k | {ps_rate:.0f} | {tuned:.0f} | "
                  f"**{ps_rate / tuned:.2f}×** |")
            continue
        ps_cpu, ng_cpu = median(cpu[label]["pysupervise"]), median(cpu[label]["nginx"])
        print(f"| {label}, req/s | {ps_rate:.0f} | {ng_rate:.0f} | **{ps_rate / ng_rate:.2f}×** |")
        print(f"| {label}, CPU µs per request (proxy + workers) | {ps_cpu:.1f} | {ng_cpu:.1f} | "
              f"**{ng_cpu / ps_cpu:.2f}×** (nginx / pysupervise: above 1 is less CPU) |")
        if args.with_two_fronts:
            two_rate, two_cpu = median(values["two fronts"]), median(cpu[label]["two fronts"])
            print(f"| {label} with processes = 2, req/s | {two_rate:.0f} | {ng_rate:.0f} | "
                  f"**{two_rate / ng_rate:.2f}×** |")
            print(f"| {label} with processes = 2, CPU µs per request | {two_cpu:.1f} | {ng_cpu:.1f} | "
                  f"**{ng_cpu / two_cpu:.2f}×** |")
    ps, ng = median(idle["pysupervise"]), median(idle["nginx"])
    print(f"| RSS per idle keep-alive connection, KiB | {ps:.2f} | {ng:.2f} | {ps / ng:.2f}× |")
    ps, ng = median(second_wave["pysupervise"]), median(second_wave["nginx"])
    print(f"| RSS per idle keep-alive connection, second wave, KiB | {ps:.2f} | {ng:.2f} | {ps / ng:.2f}× |")
    if not args.skip_scaling:
        print("\nfront scaling (hello world, 128 connections, wrk 2 threads):")
        scaling_rows([1, 2], [1, 2], args.rounds, args.seconds, 128, 2)


if __name__ == "__main__":
    main()
