"""Small writes held to the end of the event loop's pass, then sent together.

Under load, one pass of the loop reads many sockets: requests from clients, responses from workers. Sent as each
is read, every write wakes its reader (a worker, or wrk, or a browser) for that one message, often on the core the
proxy is running on. Held until the pass has read them all, the writes leave in a burst once the proxy's work for
the pass is done, and each reader finds more of them on its next wake-up: fewer wake-ups and context switches for
the same number of syscalls (benchmarks/compare_trees.py: about 5% more hello-world requests/s, 8% less CPU per
request for the master and its workers together). When the proxy is not loaded a pass holds one event, so a
write waits for nothing but the end of its own callback.

Only small writes are held: a request with a body of up to 64 KiB or none (Exchange._send, RequestBody.send), and
a client's batched writes up to CORK_MAX bytes (client/writes.py), so no memory piles up past what the transports'
flow control sees. A request for an idle worker is not held (Exchange._send): the worker would wait for nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from pysupervise.periodic import TaskErrors
    from pysupervise.proxy.client.connection import ClientConnection

# A client's batched writes up to this many bytes wait for the end of the pass; larger ones leave at once.
CORK_MAX = 64 * 1024
# Writes that failed at the end of a pass, in the master's TaskErrors (metrics, a log line a minute).
CORK = "proxy-cork"


class WriteCork:
    """One ProxyServer's held writes: sent, worker heads first, from a callback at the end of the loop's pass."""

    __slots__ = ("loop", "errors", "_clients", "_writes", "_spare_clients", "_spare_writes", "_armed")

    def __init__(self, loop: "asyncio.AbstractEventLoop", errors: "TaskErrors") -> None:
        self.loop = loop
        self.errors = errors
        errors.register(CORK)
        self._clients: list[ClientConnection] = []
        self._writes: list[tuple[asyncio.Transport, bytes]] = []
        # The lists of the pass before, emptied: a pass takes them instead of making two new lists.
        self._spare_clients: list[ClientConnection] = []
        self._spare_writes: list[tuple[asyncio.Transport, bytes]] = []
        self._armed = False

    def hold_client(self, conn: "ClientConnection") -> None:
        """Flush `conn` at the end of the pass (its writes wait in conn.out; conn.corked says it is held)."""
        if not self._armed:
            self._arm()
        self._clients.append(conn)

    def hold_write(self, transport: "asyncio.Transport", data: bytes) -> None:
        """Write `data` to `transport` at the end of the pass, unless it is closing by then."""
        if not self._armed:
            self._arm()
        self._writes.append((transport, data))

    def _arm(self) -> None:
        # Callbacks scheduled during a pass run before the loop polls again: after every read of this pass.
        self._armed = True
        self.loop.call_soon(self.release)

    def release(self) -> None:
        """Send everything held. Worker heads first: the workers start on them while clients are written to."""
        self._armed = False
        # What is held from here on (a write that makes a client send again) belongs to the next pass.
        writes, self._writes = self._writes, self._spare_writes
        clients, self._clients = self._clients, self._spare_clients
        for transport, data in writes:
            if not transport.is_closing():
                try:
                    transport.write(data)
                except Exception as exc:  # noqa: BLE001 - the others still go; this one is cut, visibly
                    self.errors.report(CORK, exc, "a held request could not be sent to its worker")
                    transport.abort()  # its exchange hears of it as a worker connection lost (retried or 502)
        for conn in clients:
            try:
                conn.flush()
            except Exception as exc:  # noqa: BLE001
                self.errors.report(CORK, exc, "a held response could not be sent")
                conn.abort()
        writes.clear()
        clients.clear()
        self._spare_writes = writes
        self._spare_clients = clients
