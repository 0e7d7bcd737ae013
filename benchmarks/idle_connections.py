"""Memory per idle keep-alive connection: pysupervise's master vs nginx's workers.

Opens N client connections (5000 by default) that each make one hello-world request and then sit
idle, keep-alive, and reads the proxy's RSS before, while they are open, and after they are
closed: the pysupervise master, or the sum of nginx's worker processes (the ones that hold the
connections). Then, with the first N still open and idle, it opens N more the same way and reads
what those cost ("second wave"): by then the allocators hold the memory a burst of N connecting
clients left behind, as a proxy that has served a while does, so the second wave shows what an
idle connection keeps rather than what its arrival took. Both proxies sit in front of the same 2 aiohttp workers of
benchmarks/transfer_app.py. Memory once taken is partly kept for reuse by either proxy (nginx
allocates its connection structures up front), so each round starts a fresh pysupervise and a
fresh nginx; the order alternates and the medians are printed.

    python3 benchmarks/idle_connections.py [--connections 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, median, nginx_in_front_of, pysupervise_site  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# Long enough that neither proxy closes an idle connection during a round.
KEEPALIVE_SECONDS = 300
# How long RSS is left to settle after the connections open or close.
SETTLE_SECONDS = 2.0


def rss(processes: list[psutil.Process]) -> int:
    return sum(process.memory_info().rss for process in processes)


async def open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` connections, each having made one request and read its whole answer."""
    semaphore = asyncio.Semaphore(200)  # the backlogs need not hold them all at once

    async def one() -> asyncio.StreamWriter:
        async with semaphore:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            return writer

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def measure_once(port: int, processes: list[psutil.Process], count: int) -> tuple[int, int, int, int]:
    before = rss(processes)
    writers = await open_idle(port, count)
    await asyncio.sleep(SETTLE_SECONDS)
    during = rss(processes)
    writers += await open_idle(port, count)
    await asyncio.sleep(SETTLE_SECONDS)
    second_wave = rss(processes)
    await close_all(writers)
    await asyncio.sleep(SETTLE_SECONDS)
    return before, during, second_wave, rss(processes)


def measure(port: int, processes: list[psutil.Process], count: int) -> tuple[int, int, int, int]:
    """(RSS before, while `count` idle connections are open, with `count` more, after all closed), in bytes."""
    return asyncio.run(measure_once(port, processes, count))


def raise_fd_limit(connections: int) -> None:
    """This process holds one end of every connection, the proxies the other (they inherit the limit)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4 * connections + 1000, hard), hard))


def idle_round(name: str, connections: int) -> tuple[int, int, int, int]:
    """A fresh pysupervise and nginx in front of the same workers; (RSS before, with `connections` idle, with
    twice as many, after they closed) of `name`'s proxy: the pysupervise master, or nginx's worker processes."""
    proxy_toml = f"max_connections = {2 * connections + 1000}\nkeepalive_timeout = {KEEPALIVE_SECONDS}"
    with pysupervise_site(bench_app(APP, 2), proxy_toml, own_session=True) as site, \
            nginx_in_front_of(site.sockets("bench"), keepalive_timeout=KEEPALIVE_SECONDS,
                              own_session=True) as nginx_port:
        if name == "pysupervise":
            port, processes = site.port, [psutil.Process(site.process.pid)]
        else:
            port, processes = nginx_port, [p for p in psutil.Process().children(recursive=True)
                                           if p.name().startswith("nginx")
                                           and "worker process" in " ".join(p.cmdline())]
        measure(port, processes, 100)  # warm up: pooled worker connections, code paths
        return measure(port, processes, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    raise_fd_limit(args.connections)
    rows: dict[str, list[tuple[int, int, int, int]]] = {"pysupervise": [], "nginx": []}
    count = args.connections
    for round_number in range(args.rounds):
        order = list(rows) if round_number % 2 == 0 else list(reversed(rows))
        for name in order:
            before, during, second_wave, after = idle_round(name, count)
            rows[name].append((before, during, second_wave, after))
            print(f"  round {round_number + 1} {name:12s} RSS {before / 2**20:6.1f} MiB → {during / 2**20:6.1f} MiB "
                  f"with {count} idle → {second_wave / 2**20:6.1f} MiB with {2 * count} → "
                  f"{after / 2**20:6.1f} MiB after closing  ({(during - before) / count / 1024:.2f} KiB per "
                  f"connection; second wave {(second_wave - during) / count / 1024:.2f})", flush=True)
    per_connection, second_wave_cost = {}, {}
    for name, measured in rows.items():
        per_connection[name] = median([(d - b) / count for b, d, _s, _a in measured])
        second_wave_cost[name] = median([(s - d) / count for _b, d, s, _a in measured])
        left = median([a - b for b, _d, _s, a in measured])
        print(f"{name:12s} {per_connection[name] / 1024:6.2f} KiB per idle connection, "
              f"{second_wave_cost[name] / 1024:6.2f} KiB in the second wave; "
              f"{left / 2**20:+.1f} MiB left after they closed (median of {len(measured)})")
    print(f"pysupervise / nginx: {per_connection['pysupervise'] / per_connection['nginx']:.2f}× "
          f"(second wave {second_wave_cost['pysupervise'] / second_wave_cost['nginx']:.2f}×)")


if __name__ == "__main__":
    main()
