"""The public listener: admits clients up to max_connections (closing idle ones to make room), sweeps deadlines,
and drains on stop."""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import socket
from typing import TYPE_CHECKING

from pysupervise.periodic import PeriodicTask, TaskErrors
from pysupervise.proxy.body import SpillFolder
from pysupervise.proxy.client import ClientConnection
from pysupervise.proxy.client.cork import WriteCork
from pysupervise.proxy.client.error_answers import CONNECTIONS
from pysupervise.proxy.client.deadlines import KEEPALIVE
from pysupervise.proxy.client.parking import PARK_AFTER, PARKING, ParkingLot
from pysupervise.proxy.client.room import RoomMaker
from pysupervise.proxy.forwarded import TrustedProxies, ValidHosts
from pysupervise.proxy.memory.budget import BufferBudget
from pysupervise.proxy.memory.heap import CHeap, HeapTrimmer
from pysupervise.proxy.routing import AdminRoutes, HealthRoute, RouteTable, RoutingHold
from pysupervise.proxy.static.file_work import FileWork

if TYPE_CHECKING:
    from pysupervise.config import ProxySettings
    from pysupervise.proxy.exchange import Exchange
    from pysupervise.proxy.request import ProxyRequest

# How often deadlines (timeouts, queue waits, idle pooled connections) are checked.
SWEEP_INTERVAL = 0.25
# Most connections taken from the backlog per wake-up (libuv's own accept loop works the same way).
_ACCEPT_BATCH = 256
# Names of the server's background tasks in errors and metrics.
SWEEPER, ACCEPT = "proxy-sweeper", "proxy-accept"
# Transports closed (connections closed or parked) that make the sweeper hand free heap pages to the OS (each
# left ~1.3 KiB in the heap, spread among what lives on: too little for the heap trimmer's growth rule).
_TRIM_AFTER_TRANSPORTS = 1000


class ProxyServer:
    """Owns every client connection; the route table is replaced by the supervisor as apps change."""

    __slots__ = ("settings", "trusted_proxies", "task_errors", "spill_dir", "loop", "routes", "admin_routes",
                 "health_route", "worker_header", "connections", "idle", "parking", "room", "slow_requests", "port",
                 "default_host", "valid_hosts", "_request_prefix", "_request_counter", "_sockets", "_accepting",
                 "_sweeper", "_adopting", "_room", "_waiting_for_room", "_stopping", "heap_trimmer",
                 "transports_dropped", "buffer_budget", "read_ahead", "routing_hold", "cork", "file_work")

    def __init__(self, settings: "ProxySettings", spill_dir: str, task_errors: TaskErrors | None = None) -> None:
        self.settings = settings
        self.trusted_proxies = TrustedProxies(settings.trusted_proxies)
        self.task_errors = task_errors or TaskErrors()
        self.spill_dir = SpillFolder(spill_dir, self.task_errors)
        self.loop = asyncio.get_running_loop()
        self.file_work = FileWork(self.loop)  # static files' open, read and sendfile: a hung disk holds no loop
        self.routes = RouteTable()
        # The admin pages, for admin clients only (the supervisor hands in the rule and the admin app's backend).
        self.admin_routes = AdminRoutes()
        # The load balancers' health page, answered here (the supervisor hands in what it says).
        self.health_route: HealthRoute | None = None
        # debug_header = true: "X-Pysupervise-Worker: <host_id>/" before a worker's label (the supervisor names it).
        self.worker_header = b"X-Pysupervise-Worker: "
        self.connections: set[ClientConnection] = set()
        # Connections waiting for a request that has not begun, oldest first (a dict keeps insertion order).
        self.idle: dict[ClientConnection, None] = {}
        # Connections idle for PARK_AFTER seconds keep only their socket, watched by one epoll.
        self.parking = ParkingLot(self.loop, self.task_errors, self._adopt, self._parked_closed)
        # Who gives up a slot at max_connections; connections track requests split across reads in `slow_requests`.
        self.room = RoomMaker(self.connections, self.idle, self.parking)
        self.slow_requests = self.room.slow_requests
        self.port = 0
        self.default_host = b"localhost"
        self.valid_hosts = ValidHosts()
        self._request_prefix = os.urandom(4).hex().encode()
        self._request_counter = itertools.count(1)
        self._sockets: list[socket.socket] = []
        self._accepting: list[asyncio.Task] = []
        self._sweeper = PeriodicTask(SWEEPER, SWEEP_INTERVAL, self._sweep, self.task_errors)
        self._adopting = 0
        self._room = asyncio.Event()
        self._room.set()
        self._waiting_for_room = False
        self._stopping = False
        # Freed body memory goes back to the OS once a load has passed (glibc keeps it otherwise).
        self.heap_trimmer = HeapTrimmer(CHeap())
        self.transports_dropped = 0  # since the last trim
        # Bodies and responses held in memory over all clients, against buffer_memory_total (memory/budget.py).
        self.buffer_budget = BufferBudget()
        # Requests parsed and waiting behind the one being answered on their connection, over all connections.
        self.read_ahead = 0
        # Small writes of a loop pass, sent together at its end (client/cork.py).
        self.cork = WriteCork(self.loop, self.task_errors)
        # Set while the front processes switch route tables together: new requests wait in it to be routed.
        self.routing_hold: RoutingHold | None = None

    # -- listening ----------------------------------------------------------------------------

    async def bind(self, host: str, port: int, backlog: int = 2048, main: bool = True,
                   reuse_port: bool = False) -> int:
        """Bind a listening socket (so a taken port fails early); returns the port (useful with 0).

        The main one is the site's address (`port`, the Host of requests that name none); others, such as the
        host's own loopback address for its admin pages, are served alike. `reuse_port`: other front processes
        bind the same address (`listening_twin`)."""
        infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _type, _proto, _name, address = infos[0]
        sock = _listening_socket(family, address, backlog, reuse_port)
        self._sockets.append(sock)
        bound = sock.getsockname()[1]
        if main:
            self.port = bound
            shown_host = f"[{host}]" if ":" in host else host
            self.default_host = f"{shown_host}:{self.port}".encode()
        return bound

    def listening_twin(self, backlog: int = 2048) -> socket.socket:
        """One more socket on the main address (SO_REUSEPORT), for another front: the kernel spreads clients."""
        main = self._sockets[0]
        return _listening_socket(main.family, main.getsockname(), backlog, reuse_port=True)

    def adopt_listening(self, sock: socket.socket, default_host: bytes, port: int) -> None:
        """A front process's main socket, bound by the master (`listening_twin`)."""
        self._sockets.append(sock)
        self.port = port
        self.default_host = default_host

    def bound_addresses(self) -> list[str]:
        """The IP address each listening socket is bound to, main first."""
        return [sock.getsockname()[0] for sock in self._sockets]

    def serve(self) -> None:
        """Start accepting on every bound socket; until now clients waited in the kernel backlog."""
        for sock in self._sockets:
            self._accepting.append(self.loop.create_task(self._accept_loop(sock)))
        self.task_errors.register(ACCEPT)
        self.task_errors.register(CONNECTIONS)
        self.heap_trimmer.heap.tune_for_bodies()
        self._sweeper.start()

    async def start(self, host: str, port: int) -> int:
        port = await self.bind(host, port)
        self.serve()
        return port

    async def _accept_loop(self, sock: socket.socket) -> None:
        while not self._stopping:
            try:
                await self._accept_some(sock)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not stop the site from taking clients
                self.task_errors.report(ACCEPT, exc)
                await asyncio.sleep(0.1)

    async def _accept_some(self, sock: socket.socket) -> None:
        if not self._has_room() and not self.room.has_candidates():
            # Every connection has a request in progress: leave new clients in the kernel's backlog until a
            # connection closes or goes idle.
            await self._wait_for_room()
            return
        try:
            conn, _address = await self.loop.sock_accept(sock)
        except OSError as exc:
            await self._accept_failed(exc)
            return
        await self._admit(conn)
        # Drain what else waits in the backlog now: one accept per loop turn would let a burst of
        # thousands of clients trickle in over seconds while the loop is busy serving.
        for _ in range(_ACCEPT_BATCH):
            if self._stopping or (not self._has_room() and not self.room.has_candidates()):
                return
            try:
                conn, _address = sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                await self._accept_failed(exc)
                return
            await self._admit(conn)

    def _has_room(self) -> bool:
        return self.connection_count() + self._adopting < self.settings.max_connections

    @property
    def closed_for_room(self) -> int:
        """Connections closed to admit new clients at max_connections."""
        return self.room.closed_for_room

    def connection_count(self) -> int:
        """Open client connections, parked ones included."""
        return len(self.connections) + len(self.parking)

    def idle_count(self) -> int:
        """Open client connections waiting for a request, parked ones included."""
        return len(self.idle) + len(self.parking)

    async def _admit(self, conn: socket.socket) -> None:
        """Adopt an accepted client, closing the oldest idle connection first when at max_connections."""
        try:
            while not self._has_room() and not self.room.close_one(self.loop.time()):
                # The idle connections we counted on took requests meanwhile: this client waits for room.
                await self._wait_for_room()
        except BaseException:
            conn.close()
            raise
        self._adopt(conn)

    async def _wait_for_room(self) -> None:
        self._room.clear()
        self._waiting_for_room = True
        try:
            await self._room.wait()
        finally:
            self._waiting_for_room = False

    async def _accept_failed(self, exc: OSError) -> None:
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            self.task_errors.report(ACCEPT, exc, "cannot accept connections (retrying shortly)")
            await asyncio.sleep(0.1)

    def _adopt(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._adopting += 1  # holds a slot until connection_opened counts it in `connections`
        task = self.loop.create_task(self.loop.connect_accepted_socket(lambda: ClientConnection(self), conn))

        def adopted(done: asyncio.Task) -> None:
            if done.cancelled() or done.exception() is not None:
                self._adopting -= 1  # never opened
                conn.close()
                self._room.set()

        task.add_done_callback(adopted)

    def _sweep(self) -> None:
        """One pass over every deadline. A part that fails is reported and the other parts still run: one
        broken connection or app must not stop the timeouts of all the others."""
        now = self.loop.time()
        if self.transports_dropped >= _TRIM_AFTER_TRANSPORTS:
            # Counted before this sweep parks more: libuv frees a closed transport's handle a loop turn after
            # its close, so trimming right after parking would find the heap still full.
            self.transports_dropped = 0
            self.heap_trimmer.heap.trim()
        for conn in [c for c in self.connections if c.deadline_kind and c.deadline <= now]:
            try:
                conn.deadline_passed()
            except Exception as exc:
                self.task_errors.report(SWEEPER, exc)
                conn.abort()  # its deadline would fail again every sweep
        self.parking.expire(now)
        self._park_idle(now)
        idle_before = now - self.settings.upstream_idle_timeout
        for backend in {target.backend for target in (*self.routes.targets(), *self.admin_routes.targets())}:
            try:
                if backend.access_log is not None:
                    backend.access_log.flush()
            except Exception as exc:
                self.task_errors.report(SWEEPER, exc)
            try:
                backend.dispatcher.expire(now)
                for endpoint in backend.dispatcher.endpoints:
                    if endpoint.idle:
                        endpoint.close_idle(older_than=idle_before)
            except Exception as exc:
                self.task_errors.report(SWEEPER, exc)
        self.heap_trimmer.check(now, self.buffer_budget.used)
        if self._waiting_for_room and self.slow_requests:
            self._room.set()  # a client waits for room: a slow request may have trickled in long enough by now

    def _park_idle(self, now: float) -> None:
        """Idle keep-alive connections may wait for minutes: they keep no parser meanwhile (one that is busy
        again by the next sweep pays a parser's creation, ~0.6 µs), and after PARK_AFTER no transport either."""
        park_before = now - PARK_AFTER
        settings = self.settings
        for conn in list(self.idle):  # parking takes a connection out of `idle`
            idle_for = settings.keepalive_timeout if conn.deadline_kind == KEEPALIVE else settings.header_timeout
            try:
                if conn.deadline - idle_for <= park_before:
                    conn.park()
                elif conn.parser is not None:
                    conn.rest()
            except Exception as exc:  # e.g. EMFILE on the descriptor's duplicate: the next sweep tries again
                self.task_errors.report(PARKING, exc)
                return

    # -- routing ------------------------------------------------------------------------------

    def route(self, request: ProxyRequest) -> None:
        """Set where `request` goes: the health page and the admin pages first, for the clients allowed them
        (everyone else is routed as if they did not exist), then the apps' routes; None is a 404."""
        health_route = self.health_route
        special = health_route.match(request, self.admin_routes) if health_route is not None else None
        if special is None:
            special = self.admin_routes.match(request)
        if special is not None:
            request.target = special
        else:
            found = self.routes.lookup(request.host, request.url)
            if found is not None:
                request.target, request.mount_header = found

    def hold_routing(self, limit: float) -> None:
        """New requests wait unrouted until release_routing(), or for `limit` seconds at most (a master that never
        says the switch is done must not stall the site)."""
        if self.routing_hold is None:
            hold = self.routing_hold = RoutingHold()
            self.loop.call_later(limit, self._release_hold, hold)

    def release_routing(self) -> None:
        if self.routing_hold is not None:
            self._release_hold(self.routing_hold)

    def _release_hold(self, hold: RoutingHold) -> None:
        if self.routing_hold is hold:
            self.routing_hold = None
            hold.release()

    # -- used by connections ------------------------------------------------------------------

    def new_request_id(self) -> bytes:
        # A random per-process prefix plus a counter: unique, and far cheaper than a uuid per request.
        return b"%s-%x" % (self._request_prefix, next(self._request_counter))

    def connection_opened(self, conn: ClientConnection) -> None:
        self.connections.add(conn)
        self._adopting -= 1  # now, not a loop turn later: counted twice, a burst at the limit closed clients
        if self._stopping:
            conn.shutdown()

    def connection_parked(self, conn: ClientConnection) -> None:
        """`conn`'s socket is in the ParkingLot now, still counted; the object and its transport are dropped."""
        self.transports_dropped += 1
        self.connections.discard(conn)
        self.idle.pop(conn, None)

    def _parked_closed(self) -> None:
        if self._has_room():
            self._room.set()

    def connection_closed(self, conn: ClientConnection) -> None:
        self.transports_dropped += 1
        self.connections.discard(conn)
        self.idle.pop(conn, None)
        if self.connection_count() < self.settings.max_connections:
            self._room.set()

    def went_idle(self, conn: ClientConnection) -> None:
        """`conn` waits for a request that has not begun; at max_connections it may be closed to admit a client."""
        self.idle[conn] = None
        if self._waiting_for_room:
            self._room.set()

    def exchange_finished(self, exchange: "Exchange", conn: ClientConnection) -> None:
        exchange.account(self.loop.time())

    # -- stopping -----------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        self._stopping = True
        for task in self._accepting:
            task.cancel()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    async def drain(self, timeout: float) -> None:
        """Let in-flight requests finish (up to `timeout`), closing connections as they go idle."""
        self.stop_accepting()
        self.parking.close()  # idle: closed at once, as idle connections are below
        for conn in list(self.connections):
            # Websockets never end by themselves: close them now (with a close frame), not at the deadline.
            if conn.tunnel is not None:
                conn.tunnel.close_tunnel()
            conn.shutdown()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()
        self.parking.close()
        self._sweeper.stop()


def _listening_socket(family: socket.AddressFamily, address: tuple, backlog: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
