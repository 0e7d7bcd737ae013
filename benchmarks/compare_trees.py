"""Hello world through this checkout's pysupervise and another's (an older commit in a git worktree), side by side.

Whether a change to the request path pays shows only against the tree before it in the same run: between runs
this 2-core machine's numbers swing more than most changes move them. Each tree runs its own master with its
own 2 aiohttp workers (benchmarks/transfer_app.py), every server in a session of its own; wrk (64 keep-alive
connections) alternates between them round by round. Prints, as medians, requests/s, the CPU µs per request of
the master plus its workers, wrk's p50 and p99 latency, and how idle the machine's cores were (a single front
leaves them idle while everything waits on its pass: fewer requests/s at the same CPU per request), and this
tree's ratio to the other. With few connections (--connections 4) the machine is not saturated, and the latencies
are what to compare.

    git worktree add /tmp/before HEAD~3
    python3 benchmarks/compare_trees.py /tmp/before [--rounds 8] [--seconds 5] [--proxy "processes = 2"]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import REPO, bench_app, median, pysupervise_site, wrk  # noqa: E402
from benchmarks.headline import APP, cpu_seconds, tree  # noqa: E402


def idle_and_total_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, in clock ticks over all cores: (idle and iowait, everything)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the other checkout (its pysupervise/ and benchmarks/ are used)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--proxy", default="", help='lines for both sites\' [proxy] table, e.g. "processes = 2"')
    args = parser.parse_args()
    trees = {"this": REPO, "other": args.other.resolve()}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    # Latency percentiles (ms), for the light loads where they, not requests/s, say what a change costs.
    p50: dict[str, list[float]] = {name: [] for name in trees}
    p99: dict[str, list[float]] = {name: [] for name in trees}
    idle: dict[str, list[float]] = {name: [] for name in trees}  # % of the machine's CPU time
    with contextlib.ExitStack() as servers:
        sites = {name: servers.enter_context(pysupervise_site(bench_app(APP, 2), args.proxy, own_session=True,
                                                              repo=repo))
                 for name, repo in trees.items()}
        for site in sites.values():
            wrk(site.port, seconds=1, connections=args.connections)  # warm up
        for round_number in range(args.rounds):
            for name in list(trees)[:: 1 if round_number % 2 == 0 else -1]:
                site = sites[name]
                # The master and its workers (fronts too, with processes > 1), as they are now.
                parts = tree(site.process.pid, "pysupervise")
                before = cpu_seconds(parts)
                idle_before, total_before = idle_and_total_ticks()
                result = wrk(site.port, seconds=args.seconds, connections=args.connections)
                idle_after, total_after = idle_and_total_ticks()
                idle[name].append(100 * (idle_after - idle_before) / max(1, total_after - total_before))
                requests = result.requests_per_second * args.seconds
                rates[name].append(result.requests_per_second)
                cpu[name].append((cpu_seconds(parts) - before) / requests * 1e6)
                p50[name].append(result.p50_ms)
                p99[name].append(result.p99_ms)
                print(f"  round {round_number + 1} {name:6s} {rates[name][-1]:9.0f} req/s  {cpu[name][-1]:6.1f} µs  "
                      f"p50 {p50[name][-1]:.3f} ms  p99 {p99[name][-1]:.3f} ms  idle {idle[name][-1]:.1f}%", flush=True)
    for name, repo in trees.items():
        print(f"{name:6s} {median(rates[name]):9.0f} req/s  {median(cpu[name]):6.1f} µs CPU per request  "
              f"p50 {median(p50[name]):.3f} ms  p99 {median(p99[name]):.3f} ms  idle {median(idle[name]):.1f}%  "
              f"({repo})")
    print(f"this / other: {median(rates['this']) / median(rates['other']):.3f}× req/s, "
          f"{median(cpu['other']) / median(cpu['this']):.3f}× CPU per request (above 1: this tree is cheaper)")


if __name__ == "__main__":
    main()
