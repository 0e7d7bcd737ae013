"""A worker as the proxy sees it: its Unix socket, its request slots and its idle pooled connections."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable, Protocol

from pysupervise.proxy.upstream import UpstreamConnection
from pysupervise.proxy.tunnel.websocket_close import GOING_AWAY

if TYPE_CHECKING:
    from pysupervise.proxy.exchange import Exchange


class EndpointWatcher(Protocol):
    def endpoint_retired(self, endpoint: "Endpoint") -> None: ...

    def close_tunnels_elsewhere(self, endpoint: "Endpoint", code: int, then: Callable[[], None] | None) -> None: ...


class Endpoint:
    """Owned by the supervisor (it creates and retires them); used by the proxy to reach one worker."""

    __slots__ = ("label", "slot", "socket_path", "capacity", "in_flight", "served", "idle", "alive", "diagnostics",
                 "tunnels", "awaiting", "last_progress", "stalled", "unresponsive", "_overdue_pending", "recycle_after",
                 "on_recycle", "_loop", "_drained", "_on_retire", "worker_slots", "held_elsewhere", "in_flight_elsewhere",
                 "watcher", "ask_diagnostics", "__weakref__")

    def __init__(self, label: str, socket_path: str, capacity: int, slot: int = 0,
                 diagnostics: Callable[[], str] | None = None) -> None:
        self.label = label
        self.slot = slot
        self.socket_path = socket_path
        self.capacity = capacity
        self.in_flight = 0
        self.served = 0
        self.idle: list[UpstreamConnection] = []
        self.alive = True
        # Returns the worker's recent stderr, shown on error pages to loopback clients.
        self.diagnostics = diagnostics
        # In a front process, where only the master has the worker's stderr: asks the master for it, and calls the
        # function it is given with the answer (fronts/mirror.py). None where `diagnostics` knows it.
        self.ask_diagnostics: Callable[[Callable[[str], None]], None] | None = None
        # Open websocket/upgrade tunnels, so a drain deadline can close them cleanly.
        self.tunnels: set[Exchange] = set()
        # Requests sent and not yet answered, and when this worker last made progress on them.
        self.awaiting = 0
        self.last_progress = 0.0
        # A request to it timed out and it has answered nothing since.
        self.stalled = False
        # ...and a request sent after that timed out too: every request on it is overdue and new ones get no
        # response head. The supervisor's rule for workers it cannot probe (`command` apps).
        self.unresponsive = False
        # Requests already waiting when it stalled: requests time out in the order they were sent, so once
        # these are out of the way, the next timeout is of a request sent after the stall began.
        self._overdue_pending = 0
        # max_requests recycling: after this many answers, on_recycle is called once (0 = never).
        self.recycle_after = 0
        self.on_recycle: Callable[[], None] | None = None
        self._loop = asyncio.get_running_loop()
        self._drained: asyncio.Future[None] | None = None
        self._on_retire: list[Callable[[], None]] = []
        # With more front processes ([proxy] processes): the worker's own slots (`capacity` is then this front's
        # share), how many other fronts may still send it requests, and how many they have in flight.
        self.worker_slots = capacity
        self.held_elsewhere = 0
        self.in_flight_elsewhere = 0
        # Told when the worker is retired or its tunnels are closed, to tell the other fronts (fronts.publisher).
        self.watcher: EndpointWatcher | None = None

    def __repr__(self) -> str:
        return f"<Endpoint {self.label} in_flight={self.in_flight} alive={self.alive}>"

    # -- pooled connections -------------------------------------------------------------------

    def take_idle(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()  # newest first: the warmest connection
            if conn.usable:
                return conn
        return None

    def give_back(self, conn: UpstreamConnection) -> None:
        if self.alive and conn.usable:
            conn.idle_since = self._loop.time()
            self.idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: UpstreamConnection) -> None:
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def open_connection(self, exchange: "Exchange") -> None:
        """Connect a new pooled connection; the exchange hears back through connected/connect_failed."""
        task = self._loop.create_task(
            self._loop.create_unix_connection(lambda: UpstreamConnection(self), self.socket_path))

        def done(fut: asyncio.Future) -> None:
            if fut.cancelled():
                exchange.connect_failed(ConnectionError("connect cancelled"))
            elif fut.exception() is not None:
                exchange.connect_failed(fut.exception())
            else:
                exchange.connected(fut.result()[1])

        task.add_done_callback(done)

    def close_idle(self, older_than: float | None = None) -> None:
        """Close idle connections (all, or those idle since before `older_than`)."""
        keep = []
        for conn in self.idle:
            if older_than is None or conn.idle_since < older_than:
                conn.close()
            else:
                keep.append(conn)
        self.idle = keep

    # -- accounting used by exchanges --------------------------------------------------------

    def request_sent(self, now: float) -> None:
        if self.awaiting == 0:
            self.last_progress = now
        self.awaiting += 1

    def request_answered(self, now: float, answered: bool, timed_out: bool = False) -> None:
        """A request stopped waiting: `answered` if the worker sent a response (that alone is progress)."""
        self.awaiting -= 1
        if answered:
            self.last_progress = now
            self.stalled = self.unresponsive = False
        elif not timed_out:
            return  # the client left, or the connection broke: no evidence either way
        elif not self.stalled:
            self.stalled = True
            self._overdue_pending = self.awaiting
        elif self._overdue_pending:
            self._overdue_pending -= 1
        else:
            self.unresponsive = True

    def answered_one_more(self) -> None:
        self.served += 1
        if self.recycle_after and self.served >= self.recycle_after and self.on_recycle is not None:
            recycle, self.on_recycle = self.on_recycle, None
            recycle()

    def close_tunnels(self, code: int = GOING_AWAY, then: Callable[[], None] | None = None) -> None:
        """End every open tunnel, with a websocket close frame (`code`) where possible: 1001 at a drain deadline,
        1011 before a hung worker is killed. The other front processes' tunnels too: `then` runs once they have
        all said so (or after a second), so a kill that follows cannot beat their close frames."""
        for exchange in list(self.tunnels):
            exchange.close_tunnel(code)
        if self.watcher is not None:
            self.watcher.close_tunnels_elsewhere(self, code, then)
        elif then is not None:
            then()

    async def close_tunnels_everywhere(self, code: int = GOING_AWAY) -> None:
        closed = self._loop.create_future()
        self.close_tunnels(code, then=lambda: closed.done() or closed.set_result(None))
        await closed

    # -- lifecycle ----------------------------------------------------------------------------

    def retire(self) -> None:
        """No new requests from now on; idle pooled connections are closed at once."""
        self.alive = False
        self.close_idle()
        if self.watcher is not None:
            self.watcher.endpoint_retired(self)
        self._maybe_drained()
        callbacks, self._on_retire = self._on_retire, []
        for callback in callbacks:
            callback()

    def call_when_retired(self, callback: Callable[[], None], timeout: float) -> None:
        """Run `callback` once: when the worker is retired (e.g. its exit was seen) or after `timeout`."""
        if not self.alive:
            callback()
            return
        done = False

        def once() -> None:
            nonlocal done
            if not done:
                done = True
                # After a timeout the worker is usually still alive (it dropped one connection): the list must
                # not keep this, and the exchange it holds, for the worker's whole life.
                if once in self._on_retire:
                    self._on_retire.remove(once)
                callback()

        self._on_retire.append(once)
        self._loop.call_later(timeout, once)

    def slot_released(self) -> None:
        self.in_flight -= 1
        if not self.alive and self.in_flight == 0:
            self._maybe_drained()

    def add_served(self, count: int) -> None:
        """Answers given by another front process (they count towards max_requests too)."""
        self.served += count - 1
        self.answered_one_more()

    def held_elsewhere_changed(self, fronts: int) -> None:
        self.held_elsewhere = fronts
        if not self.alive:
            self._maybe_drained()

    def _maybe_drained(self) -> None:
        if self.in_flight == 0 and self.held_elsewhere == 0 and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drained(self) -> None:
        """Wait until a retired endpoint has nothing in flight (requests and tunnels), in any front process."""
        if self.in_flight == 0 and self.held_elsewhere == 0:
            return
        if self._drained is None:
            self._drained = self._loop.create_future()
        await asyncio.shield(self._drained)
