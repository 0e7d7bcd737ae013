"""A slowloris at the connection limit: how long a normal client waits, pysupervise vs nginx.

The attack fills every connection slot with a request head sent a byte at a time (a new byte every
half second, so no header deadline is near); an attacker whose connection is closed connects again.
Then a normal client sends a whole GET and the time to
its answer is measured (up to --wait seconds). pysupervise runs with `max_connections = N`, nginx
with one worker process and `worker_connections = N`, and twice as many attackers as slots. Both sit in front of the
same 2 aiohttp workers, with their default header timeouts (pysupervise 10 s, nginx 60 s).

    python3 benchmarks/slowloris.py [--kind head|body] [--connections 200] [--attackers 400] [--wait 15]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, nginx_in_front_of, pysupervise_site  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
# What each attacker sends before it trickles a byte every half second: a head that never ends, or (--body, the
# "R-U-Dead-Yet" attack) a whole head announcing a body that never ends.
STARTS = {"head": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
          "body": b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n"}


async def trickle(port: int, start: bytes, stop: asyncio.Event) -> None:
    """One attacker: `start`, then a byte every half second; closed, it connects again at once."""
    while not stop.is_set():
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            writer.write(start)
            while not stop.is_set():
                await asyncio.sleep(0.5)
                writer.write(b"a")
                await writer.drain()
        except OSError:
            pass  # closed by the proxy: connect again
        finally:
            writer.close()


async def normal_request(port: int, wait: float) -> tuple[float, str]:
    """Seconds until a whole GET is answered, and its status line (or what went wrong)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), wait)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), wait - (time.monotonic() - started))
        writer.close()
        return time.monotonic() - started, line.decode().strip() or "closed without an answer"
    except (asyncio.TimeoutError, OSError) as exc:
        return time.monotonic() - started, f"no answer ({type(exc).__name__})"


async def attack(port: int, start: bytes, attackers_count: int, wait: float) -> tuple[float, str]:
    stop = asyncio.Event()
    attackers = [asyncio.create_task(trickle(port, start, stop)) for _ in range(attackers_count)]
    await asyncio.sleep(2.0)  # every slot taken, every head older than a second
    try:
        return await normal_request(port, wait)
    finally:
        stop.set()
        await asyncio.gather(*attackers, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--attackers", type=int, default=400, help="attacking connections (more than the slots)")
    parser.add_argument("--wait", type=float, default=15.0)
    parser.add_argument("--kind", choices=sorted(STARTS), default="head", help="what trickles: a head or a body")
    args = parser.parse_args()
    proxy_toml = f"processes = 1\nmax_connections = {args.connections}"
    with pysupervise_site(bench_app(APP, 2), proxy_toml) as site, \
            nginx_in_front_of(site.sockets("bench"), worker_processes="1",
                              worker_connections=args.connections) as nginx_port:
        for name, port in (("pysupervise", site.port), ("nginx", nginx_port)):
            seconds, answer = asyncio.run(attack(port, STARTS[args.kind], args.attackers, args.wait))
            print(f"{name:12s} a normal GET while {args.attackers} clients trickling a {args.kind} hit "
                  f"{args.connections} slots: "
                  f"{answer!r} after {seconds:.2f} s", flush=True)


if __name__ == "__main__":
    main()
