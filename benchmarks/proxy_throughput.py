"""Hello-world requests/s: pysupervise vs nginx (same worker sockets, upstream keep-alive) vs direct workers.

Runs the three side by side, alternating, several rounds; prints medians and ratios. Not a test:
the numbers depend on the machine (this one has 2 noisy cores), so compare only within one run.

    python3 benchmarks/proxy_throughput.py [--rounds 5] [--seconds 5] [--connections 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import direct_workers, median, nginx_in_front_of, pysupervise_site, wrk  # noqa: E402

APP = "sample_apps.hello.app:create_app"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (default auto)")
    args = parser.parse_args()
    apps = f"""
        [apps.hello]
        app = "{APP}"
        dir = "{{repo}}"
        route = "/"
        workers = {args.workers}
        """
    results: dict[str, list] = {"pysupervise": [], "nginx": [], "direct": []}
    with pysupervise_site(apps) as site, nginx_in_front_of(site.sockets("hello"), args.nginx_workers) as nginx_port, \
            direct_workers(APP, args.workers) as direct_port:
        ports = {"pysupervise": site.port, "nginx": nginx_port, "direct": direct_port}
        for name, port in ports.items():
            wrk(port, seconds=1, connections=args.connections)  # warm up pools and code paths
        for round_number in range(args.rounds):
            order = list(ports) if round_number % 2 == 0 else list(reversed(ports))
            for name in order:
                result = wrk(ports[name], seconds=args.seconds, connections=args.connections)
                results[name].append(result)
                print(f"round {round_number + 1} {name:12s} {result.requests_per_second:9.0f} req/s  "
                      f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}",
                      flush=True)
    rps = {name: median([r.requests_per_second for r in runs]) for name, runs in results.items()}
    p99 = {name: median([r.p99_ms for r in runs]) for name, runs in results.items()}
    print(f"\nmedian of {args.rounds} rounds, {args.connections} connections, {args.workers} workers:")
    for name in results:
        print(f"  {name:12s} {rps[name]:9.0f} req/s   p99 {p99[name]:6.2f} ms")
    print(f"  pysupervise / nginx  = {rps['pysupervise'] / rps['nginx']:.2f}x")
    print(f"  pysupervise / direct = {rps['pysupervise'] / rps['direct']:.2f}x")
    print(f"  nginx / direct       = {rps['nginx'] / rps['direct']:.2f}x")


if __name__ == "__main__":
    main()
