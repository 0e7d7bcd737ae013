"""What a client connection drops while it is idle between requests: its parser, and after a while its transport."""

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
    must_close: bool
    reading_paused: bool
    write_paused: bool
    parked_fd: int
    old_transport_lost: bool

    def rest(self) -> None:
        """Drop what only a request in progress needs (the connection is idle, between two requests)."""
        if self.request is None and self.tunnel is None and not self.upgrade_pending:
            self.parser = None  # at a message boundary: a fresh parser is the same parser
            self.raw_target = None

    def park(self) -> None:
        """Idle for a while: hand the socket to the server's ParkingLot and drop the transport (parking.py)."""
        transport = self.transport
        if (transport is None or self.request is not None or self.active is not None or self.pending
                or self.tunnel is not None or self.upgrade_pending or self.broken or self.must_close
                or self.reading_paused or self.write_paused or transport.is_closing()
                or transport.get_write_buffer_size()):
            return  # only a connection with nothing in flight either way: its transport holds no byte
        fd = self.server.parking.park(self, transport)
        if fd < 0:
            return
        self.server.transports_dropped += 1
        self.rest()
        self.parked_fd = fd
        self.old_transport_lost = True
        self.transport = None
        transport.abort()  # closes the transport's descriptor only: the parked duplicate keeps the connection

    def woken(self) -> None:
        """The ParkingLot is giving the socket a new transport (connection_made follows)."""
        self.parked_fd = -1

    def unparked(self, failure: BaseException | None) -> None:
        """The socket could not get a transport again: the connection is gone."""
        self.connection_lost(None)  # type: ignore[attr-defined]

    def _close_parked(self) -> None:
        fd, self.parked_fd = self.parked_fd, -1
        self.server.parking.discard(fd)
        self.connection_lost(None)  # type: ignore[attr-defined]
