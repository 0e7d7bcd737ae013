"""The proxy's own Python per hello-world request, without sockets: µs per request and where it goes.

Drives a real ClientConnection, Exchange and UpstreamConnection through in-memory transports (a
request in, the worker's response in, the client's bytes out), with the access log on, so the
number is what pysupervise's Python (and httptools) costs per request, free of the kernel, uvloop
and the 2-core machine's noise. The wrk benchmarks say whether a change pays end to end; this
one says by how much the Python got cheaper, within a run of seconds.

    python3 benchmarks/hot_path.py [--requests 200000] [--profile]

It measures whichever request path is installed: the compiled one when setup.py built it, the .py files with
PYSUPERVISE_NO_EXTENSIONS=1. cProfile sees only Python functions, so --profile wants the latter (or `perf`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pysupervise.config import parse_config  # noqa: E402
from pysupervise.logs.access_log import AccessLog  # noqa: E402
from pysupervise.proxy.backend import AppBackend  # noqa: E402
from pysupervise.proxy.client import ClientConnection  # noqa: E402
from pysupervise.proxy.endpoint import Endpoint  # noqa: E402
from pysupervise.proxy.routing import Route  # noqa: E402
from pysupervise.proxy.server import ProxyServer  # noqa: E402
from pysupervise.proxy.upstream import UpstreamConnection  # noqa: E402

# What wrk sends, and what an aiohttp worker answers to it.
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n"
            b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\nServer: Python/3.11 aiohttp/3.9.5\r\n\r\nhello\n")


class MemoryTransport(asyncio.Transport):
    """Takes writes and drops them (counting bytes); reports itself open and never full."""

    def __init__(self, peer: object = None) -> None:
        super().__init__()
        self.peer = peer
        self.written = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


class _Unscheduled:
    """A loop for the WriteCork that schedules nothing (a deque that keeps nothing): run() ends each pass itself."""

    call_soon = collections.deque(maxlen=0).append


async def setup(log_dir: Path) -> tuple[ProxyServer, ClientConnection, UpstreamConnection, MemoryTransport]:
    settings = parse_config('[apps.bench]\napp = "m:a"\n', log_dir / "supervisor.toml", "supervisor.toml").proxy
    server = ProxyServer(settings, str(log_dir / "spill"))
    backend = AppBackend("bench", queue_limit=1000, queue_timeout=30, upstream_timeout=60,
                         access_log=AccessLog(log_dir / "access.log"))
    endpoint = Endpoint("bench/0", str(log_dir / "w.sock"), capacity=100)
    backend.dispatcher.set_endpoints([endpoint])
    server.routes.replace([Route("/", backend)])
    upstream = UpstreamConnection(endpoint)
    upstream.connection_made(MemoryTransport())
    endpoint.give_back(upstream)
    client = ClientConnection(server)
    client_transport = MemoryTransport(("127.0.0.1", 40000))
    client.connection_made(client_transport)
    return server, client, upstream, client_transport


def run(server: ProxyServer, client: ClientConnection, upstream: UpstreamConnection, count: int) -> None:
    to_proxy = client.data_received
    from_worker = upstream.data_received
    # The end of a loop pass, once per request (client/cork.py). Under load a pass ends after many requests, and
    # the one call_soon that schedules it is shared by them: left out here (_Unscheduled), as the loop's own cost.
    server.cork.loop = _Unscheduled()
    pass_ends = server.cork.release
    for _ in range(count):
        to_proxy(REQUEST)
        pass_ends()
        from_worker(RESPONSE)
        pass_ends()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions (slows it down)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server, client, upstream, transport = await setup(Path(folder))
        run(server, client, upstream, 1000)  # warm up
        expected = transport.written // 1000
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run, server, client, upstream, args.requests)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            return
        times = []
        for _ in range(args.rounds):
            start = time.process_time()
            run(server, client, upstream, args.requests)
            server._sweep()  # the access log's flush, as every 0.25 s (the lines of a run, at once)
            times.append((time.process_time() - start) / args.requests * 1e6)
        times.sort()
        print(f"{times[len(times) // 2]:.2f} µs per request (median of {args.rounds}; min {times[0]:.2f}), "
              f"{expected} bytes to the client each")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
