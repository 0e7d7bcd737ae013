"""The cheapest HTTP proxy uvloop can run: a reference point for benchmarks, never for a site.

It forwards bodyless requests that arrive whole in one read and responses framed by
Content-Length, round-robin over pooled worker connections (one request at a time on each, or
with --pipeline several in flight on each of a few), and does nothing else: no request
parsing beyond finding the end of the head, no validation, limits, timeouts, retries, queue
limit, headers, access log or error pages. What it costs per request is the floor under any
proxy written in Python on uvloop; proxy_throughput.py measures it beside pysupervise and nginx
so the distance between them is visible.

    python3 benchmarks/floor_proxy.py PORT SOCKET [SOCKET ...] [--connections N] [--pipeline]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import re

import uvloop

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class WorkerPool:
    """Idle connections to one worker, and the requests waiting for one."""

    def __init__(self) -> None:
        self.idle: list[UpstreamSide] = []
        self.waiting: collections.deque[tuple[ClientSide, bytes]] = collections.deque()

    def add(self, upstream: "UpstreamSide") -> None:
        self.idle.append(upstream)

    def send(self, client: "ClientSide", request: bytes) -> None:
        if self.idle:
            self.idle.pop().forward(client, request)
        else:
            self.waiting.append((client, request))

    def give_back(self, upstream: "UpstreamSide") -> None:
        if self.waiting:
            upstream.forward(*self.waiting.popleft())
        else:
            self.idle.append(upstream)


class PipelinedPool:
    """A few connections to one worker, each carrying any number of requests in flight."""

    def __init__(self) -> None:
        self.connections: list[UpstreamSide] = []
        self._next = 0

    def add(self, upstream: "UpstreamSide") -> None:
        self.connections.append(upstream)

    def send(self, client: "ClientSide", request: bytes) -> None:
        self._next = (self._next + 1) % len(self.connections)
        self.connections[self._next].forward(client, request)

    def give_back(self, upstream: "UpstreamSide") -> None:
        pass  # it stays in rotation


class UpstreamSide(asyncio.Protocol):
    def __init__(self, pool: WorkerPool | PipelinedPool) -> None:
        self.pool = pool
        self.clients: collections.deque[ClientSide] = collections.deque()  # in the order of their requests
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def forward(self, client: "ClientSide", request: bytes) -> None:
        self.clients.append(client)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            length = _CONTENT_LENGTH.search(buffer, 0, head_end + 2)
            if length is None:
                raise ValueError("the floor proxy only forwards responses with a Content-Length")
            end = head_end + 4 + int(length.group(1))
            if len(buffer) < end:
                break
            response, buffer = (buffer, b"") if end == len(buffer) else (buffer[:end], buffer[end:])
            client = self.clients.popleft()
            if not client.transport.is_closing():
                client.transport.write(response)
            self.pool.give_back(self)
        self.buffer = buffer


class ClientSide(asyncio.Protocol):
    def __init__(self, pools: "itertools.cycle[WorkerPool | PipelinedPool]") -> None:
        self.pools = pools

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        next(self.pools).send(self, data)


async def serve(port: int, sockets: list[str], connections: int, pipeline: bool) -> None:
    loop = asyncio.get_running_loop()
    pools = []
    for path in sockets:
        pool = PipelinedPool() if pipeline else WorkerPool()
        for _ in range(connections):
            _, upstream = await loop.create_unix_connection(lambda pool=pool: UpstreamSide(pool), path)
            pool.add(upstream)
        pools.append(pool)
    rotation = itertools.cycle(pools)
    server = await loop.create_server(lambda: ClientSide(rotation), "127.0.0.1", port, backlog=4096)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int)
    parser.add_argument("sockets", nargs="+")
    parser.add_argument("--connections", type=int, help="pooled connections per worker (default 64, 2 with --pipeline)")
    parser.add_argument("--pipeline", action="store_true", help="several requests in flight per worker connection")
    args = parser.parse_args()
    connections = args.connections or (2 if args.pipeline else 64)
    uvloop.run(serve(args.port, args.sockets, connections, args.pipeline))


if __name__ == "__main__":
    main()
