"""While the fronts switch route tables together (proxy/fronts/fleet.py switch), a front holds its new requests
unrouted (ProxyServer.hold_routing): they are routed by the table in force when the hold ends, a client that
leaves meanwhile is forgotten, and a hold that is never released ends by itself.

An in-process proxy: the health page is the route that changes during the hold (a route target the proxy answers
itself), so the test needs no worker."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import time
from pathlib import Path

import uvloop

from pysupervise.config import parse_config
from pysupervise.periodic import TaskErrors
from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.routing import HealthRoute
from pysupervise.proxy.server import ProxyServer

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
EVERYONE = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]


class Healthy:
    def answer(self) -> tuple[int, bytes]:
        return 200, b'{"status":"ok"}'


async def new_server(tmp_path: Path) -> tuple[ProxyServer, int]:
    settings = parse_config('[proxy]\nprocesses = 1\n[apps.a]\napp = "m:a"\nroute = "/a"\n',
                            tmp_path / "supervisor.toml", "supervisor.toml").proxy
    server = ProxyServer(settings, str(tmp_path), TaskErrors())
    return server, await server.start("127.0.0.1", 0)


async def client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def status_line(sock: socket.socket, timeout: float = 10) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while b"\r\n" not in data:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


async def until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def health_route() -> HealthRoute:
    return HealthRoute("/healthz", Healthy(), AppBackend("_admin", queue_limit=1, queue_timeout=1, upstream_timeout=1),
                       EVERYONE)


def test_held_requests_are_routed_by_the_table_in_force_when_the_hold_ends(tmp_path):
    async def scenario() -> tuple[bytes, bytes, bool, tuple[int, int]]:
        server, port = await new_server(tmp_path)
        try:
            before = await client(port)
            before.sendall(HEALTH)
            unrouted = await status_line(before)  # no health page yet: the apps' table has nothing at /healthz
            server.hold_routing(30)
            held, leaving = await client(port), await client(port)
            held.sendall(HEALTH)
            leaving.sendall(HEALTH)
            await until(lambda: len(server.routing_hold.waiting) == 2, "both requests to wait for routing")
            leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            leaving.close()  # a client that gives up while it waits (a reset: gone at once, not half-closed)
            await until(lambda: server.connection_count() == 2, "the leaving client to be gone")
            answered_while_held = await _answered_within(held, 0.3)
            server.health_route = health_route()  # the switch: what the held requests must be routed by
            server.release_routing()
            after = await status_line(held)
            connections = server.connection_count(), server.idle_count()
            before.close()
            held.close()
            return unrouted, after, answered_while_held, connections
        finally:
            await server.drain(1)

    unrouted, after, answered_while_held, connections = uvloop.run(scenario())
    assert unrouted == b"HTTP/1.1 404 Not Found"
    assert not answered_while_held
    assert after == b"HTTP/1.1 200 OK"
    assert connections == (2, 2)  # both kept alive; the client that left is not kept, not even as idle


def test_a_hold_that_is_never_released_ends_by_itself(tmp_path):
    async def scenario() -> tuple[bytes, float]:
        server, port = await new_server(tmp_path)
        try:
            server.health_route = health_route()
            server.hold_routing(0.5)  # a master that never says the switch is done
            started = time.monotonic()
            sock = await client(port)
            sock.sendall(HEALTH)
            answer = await status_line(sock)
            sock.close()
            return answer, time.monotonic() - started
        finally:
            await server.drain(1)

    answer, waited = uvloop.run(scenario())
    assert answer == b"HTTP/1.1 200 OK" and waited < 5
    assert waited >= 0.4  # held until the limit, not answered at once


async def _answered_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the proxy writes anything on `sock` while the loop runs for `seconds` (it must not: a bounded wait
    for something that must not happen)."""
    await asyncio.sleep(seconds)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
