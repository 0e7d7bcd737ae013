"""What a client connection drops while it is idle between requests: its parser, and after a while itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from pysupervise.proxy.client.raw_target import RawTargetFeeder
    from pysupervise.proxy.exchange import Exchange
    from pysupervise.proxy.request import ProxyRequest
    from pysupervise.proxy.server import ProxyServer


class IdleConnection:
    """The idle half of ClientConnection, called by the server's sweeper (parking: see parking.py)."""

    __slots__ = ()

    server: "ProxyServer"
    transport: "asyncio.Transport | None"
    parser: object
    raw_target: "RawTargetFeeder | None"
    request: "ProxyRequest | None"
    active: "Exchange | None"
    tunnel: "Exchange | None"
    pending: list
    upgrade_pending: bool
    broken: bool
    closed: bool
    must_close: bool
    reading_paused: bool
    write_paused: bool
    out: list | None
    deadline: float

    def rest(self) -> None:
        """Drop what only a request in progress needs (the connection is idle, between two requests)."""
        if self.request is None and self.tunnel is None and not self.upgrade_pending:
            self.parser = None  # at a message boundary: a fresh parser is the same parser
            self.raw_target = None

    def park(self) -> bool:
        """Idle for a while: hand the socket to the server's ParkingLot, and end this connection object without
        closing the client's connection (parking.py); False if it is not idle enough or cannot be parked."""
        transport = self.transport
        if (transport is None or self.closed or self.request is not None or self.active is not None
                or self.pending or self.tunnel is not None or self.upgrade_pending or self.broken
                or self.must_close or self.reading_paused or self.write_paused or transport.is_closing()
                or self.out is not None or transport.get_write_buffer_size()):
            return False  # only a connection with nothing in flight either way: its transport holds no byte
        server = self.server
        if not server.parking.park(transport, self.deadline):
            return False
        self.closed = True  # the transport's connection_lost, a loop turn later, has nothing left to do
        server.connection_parked(self)
        self.transport = None
        transport.abort()  # closes the transport's descriptor only: the parked duplicate keeps the connection
        return True
