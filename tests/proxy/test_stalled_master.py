"""A master stalled in the middle of a loop turn (starved of CPU, stopped, paging) wakes with its timers due before
it reads: the sweep that comes first must not close, as silent, a client whose request is already in its socket;
nor may the pings judge a front hung whose answer came during the stall.

An in-process proxy on uvloop (libuv runs due timers before it polls for I/O, as in the master): the stall is a
blocking sleep in one of the loop's I/O callbacks, past the connection's deadline, while the request arrives; or
in a task's step, after which the loop reads before its next turn runs the timers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import AsyncIterator

import uvloop

from pysupervise.config import parse_config
from pysupervise.periodic import TaskErrors
from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.endpoint import Endpoint
from pysupervise.proxy.fronts.fleet import FLEET, FrontFleet
from pysupervise.proxy.fronts.views import FrontHello
from pysupervise.proxy.routing import Route
from pysupervise.proxy.server import ProxyServer
from tests.support.frozen import frozen

REQUEST = b"GET /nothing-here HTTP/1.1\r\nHost: a\r\n\r\n"


def proxy_settings(tmp_path: Path, keepalive_timeout: float, more: str = "processes = 1"):
    text = f'[proxy]\n{more}\nheader_timeout = 0.5\nkeepalive_timeout = {keepalive_timeout}\n' \
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


class HeldWorker:
    """A worker on a Unix socket, in a thread of its own (it runs while the proxy's loop is blocked): it takes one
    request and answers it when `answer()` is called."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen()
        self.has_request = threading.Event()
        self._answer = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self) -> None:
        self._answer.set()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            self.has_request.set()
            if self._answer.wait(30):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes")
                conn.recv(1)  # until the proxy closes or pools the connection (EOF when the test ends)

    def close(self) -> None:
        self._answer.set()
        self.listener.close()
        self._thread.join(5)


def test_a_response_that_came_during_a_stall_is_forwarded_not_timed_out(tmp_path):
    """The worker answers while the proxy's loop is blocked past upstream_timeout: the sweep that runs first on
    waking must not answer 504 for a response that is already in the worker's socket."""
    async def scenario() -> bytes:
        server = ProxyServer(proxy_settings(tmp_path, 5.0), str(tmp_path), TaskErrors())
        backend = AppBackend("a", queue_limit=10, queue_timeout=5, upstream_timeout=1.0)
        backend.dispatcher.set_endpoints([Endpoint("a/0", str(tmp_path / "w.sock"), capacity=1)])
        server.routes.replace([Route("/", backend)])
        worker = HeldWorker(tmp_path / "w.sock")
        port = await server.start("127.0.0.1", 0)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            await until(worker.has_request.is_set, "the request to reach the worker")
            await stall_while(worker.answer, 1.5)  # past the worker's deadline (1 s after the request went to it)
            return await read_status(sock)
        finally:
            sock.close()
            worker.close()
            await server.drain(1)

    assert uvloop.run(scenario()) == b"HTTP/1.1 200 OK"

async def stall_in_a_step(action, seconds: float) -> None:
    """The master's loop blocked in a task's step (where most of its Python runs) while `action()` goes on outside:
    when the step ends the loop polls for I/O, reading what came meanwhile, and only its next turn runs the timers
    that fell due."""
    loop = asyncio.get_running_loop()
    stalled = loop.create_future()

    def step() -> None:
        action()
        time.sleep(seconds)  # the stall under test, not a wait for something to happen
        stalled.set_result(None)

    loop.call_soon(step)
    await stalled


@contextlib.asynccontextmanager
async def fleet_of_two(tmp_path: Path) -> AsyncIterator[tuple[FrontFleet, TaskErrors]]:
    """An in-process master's proxy with one more front, a real process (front_hang_timeout 1 s)."""
    server = ProxyServer(proxy_settings(tmp_path, 5.0, "processes = 2\nfront_hang_timeout = 1"), str(tmp_path),
                         TaskErrors())
    await server.bind("127.0.0.1", 0, reuse_port=True)  # the fronts bind its address too, as the master's do
    server.serve()
    errors = TaskErrors()

    def hello(index: int) -> FrontHello:
        return FrontHello(index, 2, str(tmp_path), server.worker_header, server.default_host, server.port,
                          server.admin_routes.rule, "/health", ())

    fleet = FrontFleet(server, 2, errors, hello, None, lambda pid: None, lambda pid: None)
    await fleet.start()
    try:
        yield fleet, errors
    finally:
        await fleet.drain(1)
        await server.drain(1)


def test_a_front_that_answered_a_ping_while_the_master_was_blocked_is_not_killed_as_hung(tmp_path):
    """A ping goes unanswered (the front is stopped), then the master blocks past the ping's deadline while the front
    wakes and answers. The answer is read before the deadline's timer runs, as a "confirmed" that comes too late for
    the ping's wait: it still shows the front alive, and it is not killed."""
    async def scenario() -> tuple[int | None, int]:
        async with fleet_of_two(tmp_path) as (fleet, errors):
            (front,) = fleet.fronts
            process = front.process
            with frozen(process.pid):
                await until(lambda: front.pinged, "a ping to go out to the stopped front")
                await stall_in_a_step(lambda: os.kill(process.pid, signal.SIGCONT), 2.0)
            resumed = time.monotonic()
            # The late ping is judged at once; a kill would be reported, and the process reaped, by the time a ping
            # sent since has its answer (from the front, or from a restarted one).
            await until(lambda: front.pinged_at > resumed and not front.pinged, "a ping sent since to be answered")
            return process.returncode, errors.counts.get(FLEET, 0)

    assert uvloop.run(scenario()) == (None, 0)


def test_a_switch_names_no_front_late_whose_confirmation_came_while_the_master_was_blocked(tmp_path):
    """A swap or restart names the fronts that did not confirm the new routes in time (stuck ones). A front that did
    confirm, while the master was blocked past the wait, is not one of them."""
    async def scenario() -> list[int]:
        async with fleet_of_two(tmp_path) as (fleet, _errors):
            (front,) = fleet.fronts
            pid = front.process.pid
            with frozen(pid):
                switching = asyncio.ensure_future(fleet.switch(lambda: None))
                await until(lambda: fleet.proxy.routing_hold is not None, "the switch to ask the fronts to hold")
                await stall_in_a_step(lambda: os.kill(pid, signal.SIGCONT), 1.5)  # past the 1 s wait
            return await switching

    assert uvloop.run(scenario()) == []
