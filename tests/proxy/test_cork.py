"""Small writes held to the end of the loop's pass (proxy/client/cork.py), over real sockets on uvloop: they leave
once the pass is over, in order with what the connection writes next, never lost to a close; a large batch is not
held (the transport's flow control must see it); one failed write costs its own connection only."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from typing import AsyncIterator

import uvloop

from pysupervise.config import parse_config
from pysupervise.periodic import TaskErrors
from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.client import ClientConnection
from pysupervise.proxy.client.cork import CORK, CORK_MAX, WriteCork
from pysupervise.proxy.endpoint import Endpoint
from pysupervise.proxy.routing import Route
from pysupervise.proxy.server import ProxyServer
from pysupervise.proxy.upstream import UpstreamConnection


def nothing_yet(sock: socket.socket) -> bool:
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    return False


async def received(sock: socket.socket, size: int, timeout: float = 10.0) -> bytes:
    """`size` bytes from `sock` (fewer if it closes first), letting the loop run meanwhile."""
    deadline = time.monotonic() + timeout
    data = b""
    while len(data) < size:
        assert time.monotonic() < deadline, f"only {len(data)} of {size} bytes came"
        try:
            piece = sock.recv(size - len(data), socket.MSG_DONTWAIT)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        if not piece:
            break
        data += piece
    return data


@contextlib.asynccontextmanager
async def socket_pairs(count: int) -> AsyncIterator[tuple[list[asyncio.Transport], list[socket.socket]]]:
    """`count` loop transports, each with the plain socket at its other end; all closed at the end."""
    loop = asyncio.get_running_loop()
    transports, peers = [], []
    try:
        for _ in range(count):
            ours, theirs = socket.socketpair()
            peers.append(theirs)
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
            transports.append(transport)
        yield transports, peers
    finally:
        for transport in transports:
            transport.close()
        for peer in peers:
            peer.close()


class FailingTransport:
    """A transport whose write fails (a bug's stand-in): what the cork must contain."""

    def __init__(self) -> None:
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def write(self, data: bytes) -> None:
        raise RuntimeError("this write fails")

    def abort(self) -> None:
        self.aborted = True


def test_held_writes_leave_when_the_pass_ends_in_order_and_not_to_closed_transports():
    async def scenario() -> None:
        errors = TaskErrors()
        cork = WriteCork(asyncio.get_running_loop(), errors)
        async with socket_pairs(3) as ((first, closed, last), peers):
            cork.hold_write(first, b"one ")
            cork.hold_write(closed, b"never")
            cork.hold_write(first, b"two")
            cork.hold_write(last, b"three")
            closed.close()
            assert all(nothing_yet(peer) for peer in peers), "a held write left before the pass ended"
            assert await received(peers[0], 7) == b"one two"
            assert await received(peers[2], 5) == b"three"
            assert await received(peers[1], 5) == b""  # closed before the pass ended: nothing written, no error
            assert errors.counts[CORK] == 0

    uvloop.run(scenario())


def test_a_held_write_that_fails_costs_its_own_connection_only():
    async def scenario() -> None:
        errors = TaskErrors()
        cork = WriteCork(asyncio.get_running_loop(), errors)
        failing = FailingTransport()
        async with socket_pairs(2) as ((before, after), peers):
            cork.hold_write(before, b"before")
            cork.hold_write(failing, b"lost")
            cork.hold_write(after, b"after")
            assert await received(peers[0], 6) == b"before"
            assert await received(peers[1], 5) == b"after"
            assert failing.aborted  # its exchange hears of it as a lost worker connection
            assert errors.counts[CORK] == 1

    uvloop.run(scenario())


@contextlib.asynccontextmanager
async def client_connections(tmp_path: Path, count: int,
                             ) -> AsyncIterator[tuple[ProxyServer, list[socket.socket], list[ClientConnection]]]:
    """A ProxyServer on a real port, `count` client sockets connected to it, and its ClientConnections for them
    (not in the same order)."""
    text = '[proxy]\nprocesses = 1\n[apps.a]\napp = "m:a"\n'
    server = ProxyServer(parse_config(text, tmp_path / "supervisor.toml", "supervisor.toml").proxy, str(tmp_path))
    port = await server.start("127.0.0.1", 0)
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", port)))
            socks[-1].setblocking(False)
        deadline = time.monotonic() + 10
        while len(server.connections) < count:
            assert time.monotonic() < deadline, "the connections were not accepted"
            await asyncio.sleep(0.005)
        yield server, socks, list(server.connections)
    finally:
        for sock in socks:
            sock.close()
        await server.drain(1)


@contextlib.asynccontextmanager
async def client_connection(tmp_path: Path) -> AsyncIterator[tuple[ProxyServer, socket.socket, ClientConnection]]:
    """One client socket connected to a ProxyServer, and the server's ClientConnection for it."""
    async with client_connections(tmp_path, 1) as (server, (sock,), (conn,)):
        yield server, sock, conn


def batch(conn: ClientConnection, *pieces: bytes) -> None:
    """Writes made together, as a worker's read makes them (UpstreamConnection.data_received)."""
    conn.begin_batch()
    for piece in pieces:
        conn.write(piece)
    conn.end_batch()


def test_a_small_batch_waits_for_the_pass_and_a_large_one_leaves_at_once(tmp_path):
    async def scenario() -> None:
        async with client_connection(tmp_path) as (_, sock, conn):
            batch(conn, b"head ", b"body")
            assert nothing_yet(sock)
            assert await received(sock, 9) == b"head body"

            large = b"x" * (CORK_MAX + 1)
            batch(conn, large)
            # Written before the pass ends: the transport's pause_writing must hear of it while the worker
            # is still being read.
            assert not nothing_yet(sock)
            assert await received(sock, len(large)) == large

    uvloop.run(scenario())


def test_what_a_connection_writes_next_goes_after_what_is_held_and_a_close_sends_it_first(tmp_path):
    async def scenario() -> None:
        async with client_connection(tmp_path) as (_, sock, conn):
            batch(conn, b"held ")
            conn.write(b"unbatched ")  # a tunnel's bytes, an error page: after the held ones, at once
            assert await received(sock, 15) == b"held unbatched "
            batch(conn, b"last words")
            conn.close()
            assert await received(sock, 100) == b"last words"  # then the end of the stream

    uvloop.run(scenario())


def test_a_connection_holding_writes_is_not_parked_until_they_leave(tmp_path):
    # Parking drops the transport: what it held would be lost with it.
    async def scenario() -> None:
        async with client_connection(tmp_path) as (server, sock, conn):
            batch(conn, b"an answer")
            assert not conn.park()
            assert await received(sock, 9) == b"an answer"
            assert conn.park() and len(server.parking) == 1

    uvloop.run(scenario())


def test_an_answer_held_when_the_client_half_closes_still_reaches_it(tmp_path):
    # The worker's answer and the client's FIN read in one pass: the exchange is over, so the connection closes
    # at the FIN (eof_received returns False and uvloop closes the transport), before the pass ends.
    async def scenario() -> None:
        async with client_connection(tmp_path) as (_, sock, conn):
            batch(conn, b"the answer")
            if not conn.eof_received():
                conn.transport.close()  # what uvloop does when eof_received says not to keep the connection
            assert await received(sock, 100) == b"the answer"
            assert conn.transport.is_closing()

    uvloop.run(scenario())


def test_a_request_for_an_idle_worker_leaves_at_once_one_for_a_busy_worker_when_the_pass_ends(tmp_path):
    # The idle worker starts on its request on another core while the proxy's pass goes on; a busy one reads the
    # requests of the pass together once it is over.
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with client_connections(tmp_path, 2) as (server, _, clients):
            backend = AppBackend("a", queue_limit=10, queue_timeout=30, upstream_timeout=60)
            endpoint = Endpoint("a/0", str(tmp_path / "w.sock"), capacity=10)
            backend.dispatcher.set_endpoints([endpoint])
            server.routes.replace([Route("/", backend)])
            workers, upstreams = [], []
            try:
                for _ in range(2):  # two pooled connections to the worker, its ends held here
                    ours, theirs = socket.socketpair()
                    workers.append(theirs)
                    _, upstream = await loop.connect_accepted_socket(lambda: UpstreamConnection(endpoint), ours)
                    upstreams.append(upstream)
                    endpoint.give_back(upstream)
                request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
                clients[0].data_received(request)  # as the pass reads it: nothing awaited from the worker yet
                assert [not nothing_yet(worker) for worker in workers].count(True) == 1, "not sent at once"
                assert endpoint.awaiting == 1
                clients[1].data_received(request)
                assert [not nothing_yet(worker) for worker in workers].count(True) == 1, "sent before the pass ended"
                heads = [await received(worker, 4) for worker in workers]
                assert heads == [b"GET ", b"GET "]
            finally:
                for upstream in upstreams:
                    upstream.close()
                for worker in workers:
                    worker.close()

    uvloop.run(scenario())
