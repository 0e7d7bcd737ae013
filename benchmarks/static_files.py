"""Static files: pysupervise's static folders against nginx serving the same folder (sendfile on).

One alternating run: wrk downloads a 1 MB and a 10 MB file over --connections keep-alive connections from each
server, and prints MB/s, the server's CPU (user + system) per MB and the ratios, as medians. `--base PATH` adds
pysupervise from another checkout (a worktree of an older commit) to the same rounds, to show what a change to
the static path is worth. wrk and the servers share the machine's cores: compare numbers within one run only.

    python3 benchmarks/static_files.py [--rounds 5] [--seconds 4] [--connections 16] [--base /path/to/worktree]
                                       [--only small.bin] [--only one.bin] [--only ten.bin]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, free_port, median, pysupervise_site, running_nginx, wrk  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
# A small file (read whole with its open, one write) and two that go out with sendfile().
FILES = (("4 KB file", "small.bin", 4096), ("1 MB file", "one.bin", 1024 * 1024),
         ("10 MB file", "ten.bin", 10 * 1024 * 1024))


@contextlib.contextmanager
def nginx_serving(folder: Path) -> Iterator[int]:
    """nginx answering /files/ from `folder` with sendfile, as its static-file guides set it up."""
    port = free_port()
    http = f"""
        sendfile on;
        tcp_nopush on;
        server {{
            listen 127.0.0.1:{port} reuseport;
            location /files/ {{ alias {folder}/; }}
        }}
    """
    with running_nginx(port, http, own_session=True):
        yield port


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--base", type=Path, help="also pysupervise from this checkout, as 'base'")
    parser.add_argument("--only", choices=[name for _, name, _ in FILES], action="append",
                        help="download only this file (repeatable); all three by default")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="psb-static-", dir="/tmp"))
    for _, name, size in FILES:
        (folder / name).write_bytes(os.urandom(size))
    apps = bench_app(APP, 1, f'static = {{ "/files" = "{folder}" }}')
    with contextlib.ExitStack() as stack:
        site = stack.enter_context(pysupervise_site(apps, own_session=True))
        nginx = stack.enter_context(nginx_serving(folder))
        nginx_master = next(p for p in psutil.Process().children() if p.name() == "nginx")
        servers = {"pysupervise": (site.port, lambda: [psutil.Process(site.process.pid)]),
                   "nginx": (nginx, nginx_master.children)}
        if args.base is not None:
            base = stack.enter_context(pysupervise_site(apps, own_session=True, repo=args.base.resolve()))
            servers["base"] = (base.port, lambda: [psutil.Process(base.process.pid)])
        mbps: dict[str, dict[str, list[float]]] = {}
        cpu_ms: dict[str, dict[str, list[float]]] = {}
        for label, name, size in FILES:
            if args.only and name not in args.only:
                continue
            path = f"/files/{name}"
            print(f"{label}, {args.connections} connections:", flush=True)
            mbps[label] = {server: [] for server in servers}
            cpu_ms[label] = {server: [] for server in servers}
            for port, _ in servers.values():
                wrk(port, path, seconds=1, connections=args.connections)  # warm up: page cache, pools
            for round_number in range(args.rounds):
                order = list(servers)[round_number % len(servers):] + list(servers)[:round_number % len(servers)]
                for server in order:
                    port, processes = servers[server]
                    before = cpu_seconds(processes())
                    result = wrk(port, path, args.seconds, args.connections)
                    megabytes = result.requests_per_second * args.seconds * size / 1e6
                    mbps[label][server].append(megabytes / args.seconds)
                    cpu_ms[label][server].append((cpu_seconds(processes()) - before) * 1000 / megabytes)
                    print(f"  round {round_number + 1} {server:12s} {mbps[label][server][-1]:8.0f} MB/s  "
                          f"server CPU {cpu_ms[label][server][-1]:5.3f} ms/MB  errors {result.errors}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    print("\nmedians:")
    for label in mbps:
        for server in mbps[label]:
            print(f"  {label:12s} {server:12s} {median(mbps[label][server]):8.1f} MB/s  "
                  f"{median(cpu_ms[label][server]):6.3f} ms of CPU per MB")
        ours, theirs = median(mbps[label]["pysupervise"]), median(mbps[label]["nginx"])
        print(f"  {label:12s} pysupervise / nginx: {ours / theirs:.2f}× MB/s, "
              f"{median(cpu_ms[label]['nginx']) / median(cpu_ms[label]['pysupervise']):.2f}× CPU per MB "
              f"(nginx / pysupervise)")
        if "base" in mbps[label]:
            print(f"  {label:12s} pysupervise / base: {ours / median(mbps[label]['base']):.2f}× MB/s, "
                  f"{median(cpu_ms[label]['base']) / median(cpu_ms[label]['pysupervise']):.2f}× CPU per MB "
                  f"(base / pysupervise)")


if __name__ == "__main__":
    main()
