"""A master stalled in the middle of a loop turn (starved of CPU, stopped, paging) wakes with its timers due before
it reads: the sweep that comes first must not close, as silent, a client whose request is already in its socket.

An in-process proxy on uvloop (libuv runs due timers before it polls for I/O, as in the master): the stall is a
blocking sleep in one of the loop's I/O callbacks, past the connection's deadline, while the request arrives."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import uvloop

from pysupervise.config import parse_config
from pysupervise.periodic import TaskErrors
from pysupervise.proxy.server import ProxyServer

REQUEST = b"GET /nothing-here HTTP/1.1\r\nHost: a\r\n\r\n"


def proxy_settings(tmp_path: Path, keepalive_timeout: float):
    text = f'[proxy]\nprocesses = 1\nheader_timeout = 0.5\nkeepalive_timeout = {keepalive_timeout}\n' \
           '[apps.a]\napp = "m:a"\nroute = "/a"\n'
    return parse_config(text, tmp_path / "supervisor.toml", "supervisor.toml").proxy


async def until(condition, what: str, timeout: float = 10.0) -> None:
    """Lets the loop run until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def read_status(sock: socket.socket) -> bytes:
    """The status line the proxy answers with (b"" if it closed or reset the connection instead)."""
    loop = asyncio.get_running_loop()
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        return b""
    return data.split(b"\r\n", 1)[0]


async def stall_while(send, seconds: float) -> None:
    """The master's loop blocked in the middle of a turn while `send()` sends a request: nothing is read, every
    timer falls due. Blocked in an I/O callback, as a master is stopped or starved mostly while it handles
    events: the loop's next turn runs its due timers, the sweep among them, before it polls for I/O again."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    stalled = loop.create_future()

    def on_readable() -> None:
        loop.remove_reader(ours.fileno())
        send()
        time.sleep(seconds)  # the stall under test, not a wait for something to happen
        stalled.set_result(None)

    try:
        loop.add_reader(ours.fileno(), on_readable)
        theirs.send(b"!")
        await stalled
    finally:
        ours.close()
        theirs.close()


async def request_during_a_stall(tmp_path: Path, keepalive_timeout: float, parked: bool) -> list[bytes]:
    """A kept-alive connection (parked or not) gets a request while the loop stalls past its deadline."""
    server = ProxyServer(proxy_settings(tmp_path, keepalive_timeout), str(tmp_path), TaskErrors())
    port = await server.start("127.0.0.1", 0)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    try:
        answers = []
        sock.sendall(REQUEST)  # a first request: the connection is kept alive after its 404
        answers.append(await read_status(sock))
        if parked:
            await until(lambda: len(server.parking) == 1, "the idle connection to be parked")
        else:
            await until(lambda: len(server.idle) == 1, "the connection to wait for its next request")
        await stall_while(lambda: sock.sendall(REQUEST), keepalive_timeout + 0.5)
        answers.append(await read_status(sock))
        return answers
    finally:
        sock.close()
        await server.drain(1)


def test_a_request_that_came_during_a_stall_is_answered_not_timed_out(tmp_path):
    answers = uvloop.run(request_during_a_stall(tmp_path, keepalive_timeout=0.5, parked=False))
    assert answers == [b"HTTP/1.1 404 Not Found"] * 2


def test_a_parked_connection_whose_request_came_during_a_stall_is_woken_not_closed(tmp_path):
    answers = uvloop.run(request_during_a_stall(tmp_path, keepalive_timeout=2.0, parked=True))
    assert answers == [b"HTTP/1.1 404 Not Found"] * 2


def test_a_fresh_connection_whose_first_request_came_during_a_stall_is_answered(tmp_path):
    async def scenario() -> bytes:
        server = ProxyServer(proxy_settings(tmp_path, 5.0), str(tmp_path), TaskErrors())
        port = await server.start("127.0.0.1", 0)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        try:
            await until(lambda: len(server.connections) == 1, "the connection to be accepted")
            await stall_while(lambda: sock.sendall(REQUEST), 1.0)  # past header_timeout (0.5 s) since accepted
            return await read_status(sock)
        finally:
            sock.close()
            await server.drain(1)

    assert uvloop.run(scenario()) == b"HTTP/1.1 404 Not Found"
