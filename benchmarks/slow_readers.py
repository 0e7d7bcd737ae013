"""Slow readers: N clients fetch a large response and read it at ~1 KiB/s (or not at all); pysupervise vs nginx.

A proxy that reads responses ahead of slow clients frees the workers at once; one that does not
lets N slow clients hold every worker slot while normal requests wait. What is read ahead must
live somewhere: nginx (proxy_buffering on, its default) keeps a few small buffers per request
in memory and the rest in temp files; pysupervise keeps up to response_buffer_max (1 MiB) per
client in memory and spills the rest to an unlinked file. This measures both, side by side:

  - the latency of normal requests (a small GET on a fresh connection, sequential) without the
    attack and while it holds: median, p99 and failures (errors, timeouts, non-200 such as 503);
  - the proxy's memory: RSS of the pysupervise master, or the sum of nginx's worker processes,
    before the attack, at its peak, and a few seconds after the attackers disconnected.

The attack sockets get a small SO_RCVBUF so that their receive buffers do not absorb the responses.
The proxy's own TCP send buffers still do: Linux grows them up to net.ipv4.tcp_wmem's maximum
(4 MiB) whatever the peer's window: nearly 4 MiB per slow client on this machine, for either
proxy; hence 10 MiB responses, and a row with the machine's TCP buffer memory.
Each round starts a fresh pysupervise with 2 workers of benchmarks/transfer_app.py and a fresh
nginx in front of the very same worker sockets, attacks both in turn (alternating which goes
first) and prints medians over the rounds and the ratios. Everything is on 127.0.0.1 and every
phase ends by itself. Not a test: compare numbers only within one run.

    python3 benchmarks/slow_readers.py [--clients 250] [--size-mib 10] [--read-rate 1024]
                                       [--seconds 20] [--probes 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, median, nginx_in_front_of, pysupervise_site  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
TICK = 0.25  # seconds between two reads of every attack socket
SETTLE = 3.0  # seconds between the attackers leaving and the "after" RSS
PROBE_TIMEOUT = 10.0


def rss_mib(processes: list[psutil.Process]) -> float:
    return sum(p.memory_info().rss for p in processes) / 2**20


def kernel_tcp_mib() -> float:
    """Memory in all TCP socket buffers of the machine (the proxy's send buffers grow to hold megabytes)."""
    lines = Path("/proc/net/sockstat").read_text().splitlines()
    fields = next(line for line in lines if line.startswith("TCP:")).split()
    return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def nginx_workers() -> list[psutil.Process]:
    """The worker processes of the one nginx this script runs at a time (a child of it)."""
    masters = [child for child in psutil.Process().children() if child.name() == "nginx"]
    if len(masters) != 1:
        raise RuntimeError(f"expected one nginx child, found {len(masters)}")
    return masters[0].children()


def probe(port: int) -> float | None:
    """Milliseconds for one small GET on a fresh connection; None when it fails or is not a 200."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return (time.perf_counter() - start) * 1000 if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def connect_attackers(attackers: list[socket.socket], port: int, clients: int, size: int, rcvbuf: int) -> None:
    for i in range(clients):
        sock = socket.socket()
        attackers.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET /download?size={size}&i={i} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        sock.setblocking(False)


def read_some(attackers: list[socket.socket], budget: int, heads: dict[int, bytes]) -> None:
    """Up to `budget` bytes from each attack socket that has any; keeps each one's first bytes (its status)."""
    for sock in attackers:
        if sock.fileno() < 0:
            continue
        try:
            data = sock.recv(budget)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            sock.close()  # the proxy gave up on it
        elif len(heads.get(id(sock), b"")) < 12:
            heads[id(sock)] = heads.get(id(sock), b"") + data


Processes = Callable[[], list[psutil.Process]]


def one_target(port: int, processes: Processes, args: argparse.Namespace) -> dict[str, float]:
    """Baseline probes, then the attack with probes spread over it, then the attackers leave."""
    for _ in range(50):
        probe(port)  # warm up
    result = {"rss before": rss_mib(processes())}
    baseline = [probe(port) for _ in range(args.probes)]
    attackers: list[socket.socket] = []
    heads: dict[int, bytes] = {}
    during: list[float | None] = []
    peak = tcp_peak = 0.0
    try:
        connect_attackers(attackers, port, args.clients, args.size_mib * 2**20, args.rcvbuf)
        start = last_read = time.monotonic()
        spacing = args.seconds / args.probes
        while (now := time.monotonic()) < start + args.seconds:
            if len(during) < args.probes and now >= start + len(during) * spacing:
                during.append(probe(port))
            if (budget := int(args.read_rate * (time.monotonic() - last_read))) > 0:
                read_some(attackers, budget, heads)
                last_read = time.monotonic()
            peak, tcp_peak = max(peak, rss_mib(processes())), max(tcp_peak, kernel_tcp_mib())
            time.sleep(max(0.0, min(TICK, start + len(during) * spacing - time.monotonic())))
    finally:
        for sock in attackers:
            sock.close()
    time.sleep(SETTLE)
    for name, samples in (("baseline", baseline), ("attack", during)):
        ok = sorted(s for s in samples if s is not None)
        result[f"{name} p50"] = median(ok)
        result[f"{name} p99"] = statistics.quantiles(ok, n=100, method="inclusive")[98] if len(ok) > 1 else float("nan")
        result[f"{name} failed"] = len(samples) - len(ok)
    result["rss peak"] = peak
    result["rss after"] = rss_mib(processes())
    result["tcp peak"] = tcp_peak
    result["attack 200s"] = sum(h.startswith(b"HTTP/1.1 200") for h in heads.values())
    return result


ROWS = {  # key in one_target's result: label in the table
    "baseline p50": "normal GET, no attack: median ms",
    "baseline p99": "                       p99 ms",
    "baseline failed": "                       failed (of all rounds)",
    "attack p50": "normal GET under attack: median ms",
    "attack p99": "                         p99 ms",
    "attack failed": "                         failed (of all rounds)",
    "rss before": "proxy RSS before the attack, MiB",
    "rss peak": "          peak during it, MiB",
    "rss after": "          3 s after it, MiB",
    "tcp peak": "kernel TCP buffers, peak during it, MiB",
    "attack 200s": "attackers that got a 200 head",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=250, help="slow clients (default 250)")
    parser.add_argument("--size-mib", type=int, default=10, help="response size each one asks for (default 10)")
    parser.add_argument("--read-rate", type=int, default=1024, help="bytes/s each one reads; 0 = none (default 1024)")
    parser.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF of the attack sockets (default 4096)")
    parser.add_argument("--seconds", type=float, default=20, help="how long each attack holds (default 20)")
    parser.add_argument("--probes", type=int, default=50, help="normal requests per phase (default 50)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"pysupervise": [], "nginx": []}
    for round_number in range(args.rounds):
        with pysupervise_site(bench_app(APP, 2)) as site, nginx_in_front_of(site.sockets("bench")) as nginx_port:
            targets = {"pysupervise": (site.port, lambda: [psutil.Process(site.process.pid)]),
                       "nginx": (nginx_port, nginx_workers)}
            for name in list(targets)[:: 1 if round_number % 2 == 0 else -1]:
                port, processes = targets[name]
                result = one_target(port, processes, args)
                results[name].append(result)
                print(f"round {round_number + 1} {name:11s} " + "  ".join(
                    f"{key} {result[key]:.1f}" for key in ROWS), flush=True)
    rate = f"{args.read_rate} B/s" if args.read_rate else "not reading"
    print(f"\n{args.clients} clients x {args.size_mib} MiB, {rate}, {args.seconds:g} s, 2 workers; "
          f"medians of {args.rounds} rounds")
    print(f"{'':46s}{'pysupervise':>12s}{'nginx':>10s}{'ratio':>8s}")
    for key, label in ROWS.items():
        ps, ng = ((sum if "failed" in key else median)([r[key] for r in results[name]]) for name in results)
        count = "failed" in key or "200s" in key
        ratio = f"{ps / ng:7.2f}x" if ng and not count else ""
        digits = 0 if count else 1
        print(f"{label:46s}{ps:12.{digits}f}{ng:10.{digits}f}{ratio:>8s}")


if __name__ == "__main__":
    main()
