"""pysupervise vs nginx (same worker sockets, upstream keep-alive) vs the workers sharing a port directly.

Three measurements, each alternating the targets over several rounds, printing medians and ratios:
  1. hello-world requests/s with 64 keep-alive connections, also through benchmarks/floor_proxy.py
     (the cheapest proxy uvloop can run, no features: the floor under any Python proxy);
  2. the same with a 2000-connection burst;
  3. 100 MB download and upload throughput (curl), MB/s.
Not a test: the numbers depend on the machine (this one has 2 noisy cores); compare only within one run.

    python3 benchmarks/proxy_throughput.py [--rounds 5] [--seconds 5] [--skip-burst] [--skip-transfer]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (bench_app, direct_workers, floor_proxy_in_front_of, median,  # noqa: E402
                                nginx_in_front_of, pysupervise_site, require, wrk)

APP = "benchmarks.transfer_app:create_app"
TRANSFER_BYTES = 100 * 1024 * 1024


def requests_per_second(ports: dict[str, int], rounds: int, seconds: int, connections: int) -> dict[str, float]:
    results: dict[str, list] = {name: [] for name in ports}
    for name, port in ports.items():
        wrk(port, seconds=1, connections=connections)  # warm up pools and code paths
    for round_number in range(rounds):
        order = list(ports) if round_number % 2 == 0 else list(reversed(ports))
        for name in order:
            result = wrk(ports[name], seconds=seconds, connections=connections, threads=1 if connections < 500 else 2)
            results[name].append(result)
            print(f"  round {round_number + 1} {name:12s} {result.requests_per_second:9.0f} req/s  "
                  f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}", flush=True)
    rps = {name: median([r.requests_per_second for r in runs]) for name, runs in results.items()}
    for name in ports:
        p99 = median([r.p99_ms for r in results[name]])
        errors = sum(r.errors for r in results[name])
        print(f"  median {name:12s} {rps[name]:9.0f} req/s   p99 {p99:7.2f} ms   errors {errors}")
    return rps


def curl_speed(port: int, upload: Path | None) -> float:
    """MB/s for one 100 MB download (upload=None) or upload of the given file."""
    curl = require("curl", "curl")
    if upload is None:
        args = [curl, "-s", "-o", "/dev/null", "-w", "%{speed_download}",
                f"http://127.0.0.1:{port}/download?size={TRANSFER_BYTES}"]
    else:
        args = [curl, "-s", "-o", "/dev/null", "-w", "%{speed_upload}", "-T", str(upload),
                f"http://127.0.0.1:{port}/upload"]
    return float(subprocess.run(args, capture_output=True, text=True, check=True).stdout) / 1e6


def transfers(ports: dict[str, int], rounds: int, upload_file: Path) -> dict[str, dict[str, float]]:
    speeds: dict[str, dict[str, list[float]]] = {name: {"download": [], "upload": []} for name in ports}
    for round_number in range(rounds):
        order = list(ports) if round_number % 2 == 0 else list(reversed(ports))
        for name in order:
            speeds[name]["download"].append(curl_speed(ports[name], None))
            speeds[name]["upload"].append(curl_speed(ports[name], upload_file))
    result = {name: {k: median(v) for k, v in s.items()} for name, s in speeds.items()}
    for name in ports:
        print(f"  median {name:12s} download {result[name]['download']:7.0f} MB/s   "
              f"upload {result[name]['upload']:7.0f} MB/s")
    return result


def ratios(label: str, values: dict[str, float]) -> None:
    def ratio(a: str, b: str) -> str:
        # A target with no successful response at all has no meaningful ratio.
        return f"{values[a] / values[b]:.2f}x" if values[b] else "n/a (no successful responses)"

    print(f"  {label}: pysupervise/nginx = {ratio('pysupervise', 'nginx')}   "
          f"pysupervise/direct = {ratio('pysupervise', 'direct')}   nginx/direct = {ratio('nginx', 'direct')}")
    if "floor" in values:
        print(f"  {' ' * len(label)}  floor/nginx = {ratio('floor', 'nginx')}   "
              f"pysupervise/floor = {ratio('pysupervise', 'floor')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (default auto)")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--skip-transfer", action="store_true")
    args = parser.parse_args()
    # A 2000-connection burst queues ~1800 requests at once; nginx has no queue at all.
    apps = bench_app(APP, args.workers, "queue_limit = 10000")
    summary: list[tuple[str, dict[str, float]]] = []
    with pysupervise_site(apps) as site, direct_workers(APP, args.workers) as direct_port:
        def targets() -> contextlib.AbstractContextManager[int]:
            # A fresh nginx per phase: after a burst it marks both workers failed for 10 s (fail_timeout).
            return nginx_in_front_of(site.sockets("bench"), args.nginx_workers)

        with targets() as nginx_port, floor_proxy_in_front_of(site.sockets("bench")) as floor_port:
            ports = {"pysupervise": site.port, "nginx": nginx_port, "floor": floor_port, "direct": direct_port}
            print(f"hello world, {args.connections} connections, {args.workers} workers:")
            summary.append((f"hello {args.connections} conns req/s",
                            requests_per_second(ports, args.rounds, args.seconds, args.connections)))
        if not args.skip_burst:
            with targets() as nginx_port:
                ports = {"pysupervise": site.port, "nginx": nginx_port, "direct": direct_port}
                print(f"hello world, 2000-connection burst, {args.workers} workers (successful responses/s):")
                summary.append(("hello 2000 conns req/s", requests_per_second(
                    ports, max(args.rounds // 2, 1), args.seconds, 2000)))
        if not args.skip_transfer:
            upload_file = Path("/tmp/pysupervise-bench-upload.bin")
            upload_file.write_bytes(b"u" * TRANSFER_BYTES)
            try:
                with targets() as nginx_port:
                    ports = {"pysupervise": site.port, "nginx": nginx_port, "direct": direct_port}
                    print("100 MB transfers (curl):")
                    speeds = transfers(ports, max(args.rounds // 2, 1), upload_file)
            finally:
                upload_file.unlink()
            summary.append(("download MB/s", {n: s["download"] for n, s in speeds.items()}))
            summary.append(("upload MB/s", {n: s["upload"] for n, s in speeds.items()}))
    print("\nratios (medians):")
    for label, values in summary:
        ratios(label, values)


if __name__ == "__main__":
    main()
