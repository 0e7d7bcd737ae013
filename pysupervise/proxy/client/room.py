"""Which connection gives up its slot when a new client arrives at max_connections."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from pysupervise.proxy.client.parking import ParkingLot, transport_has_unread

if TYPE_CHECKING:
    from pysupervise.proxy.client.connection import ClientConnection

# Idle connections still sending a response are passed over when making room; at most this many per admission.
_ROOM_CANDIDATES = 16
# At max_connections, a request head still incomplete after this long may be refused (408) to admit a client:
# browsers send a head in one packet, so a head that trickles in for a second is a slowloris, not a user.
SLOW_HEAD_GRACE = 1.0
# And a body that has come in slower than MIN_BODY_RATE bytes a second, on average, for SLOW_BODY_GRACE seconds
# (the "R-U-Dead-Yet" attack: a byte now and then, each one resetting body_timeout). A phone on GPRS uploads
# several KiB a second.
SLOW_BODY_GRACE = 2.0
MIN_BODY_RATE = 1024


class RoomMaker:
    """Closes the connection that needs its slot least, as nginx reuses its keep-alive connections.

    In order: a parked connection (idle the longest), the oldest idle one, then the oldest request that
    trickles in: a head for SLOW_HEAD_GRACE, or a body slower than MIN_BODY_RATE for SLOW_BODY_GRACE.
    Without that, max_connections clients each sending a byte at a time would keep every other client out
    for header_timeout (a head), or forever (a body: each byte resets body_timeout). nginx 1.22 lets a new
    client in under the first attack too (benchmarks/slowloris.py).
    """

    __slots__ = ("connections", "idle", "parking", "slow_requests", "closed_for_room")

    def __init__(self, connections: "set[ClientConnection]", idle: "dict[ClientConnection, None]",
                 parking: ParkingLot) -> None:
        self.connections = connections
        self.idle = idle
        self.parking = parking
        # Connections whose request did not arrive in one read, with when it began (oldest first).
        self.slow_requests: dict[ClientConnection, float] = {}
        self.closed_for_room = 0

    def has_candidates(self) -> bool:
        return bool(self.idle or self.parking or self.slow_requests)

    def close_one(self, now: float) -> bool:
        """Close one connection to free its slot now; False if none may be closed yet."""
        if self.parking.close_oldest(_ROOM_CANDIDATES) or self._close_oldest_idle() or self._refuse_slow_request(now):
            self.closed_for_room += 1
            return True
        return False

    def _close_oldest_idle(self) -> bool:
        """Only connections waiting for a request that has not begun are candidates; one still writing its
        last response to a slow reader is passed over (moved to the back), so no answer is cut short, and so
        is one whose request is in its socket, not read yet (a client accepted in the same burst as the one
        we make room for: it is not idle, its bytes are on their way to us)."""
        idle = self.idle
        for _ in range(min(len(idle), _ROOM_CANDIDATES)):
            conn = next(iter(idle))
            del idle[conn]
            transport = conn.transport
            if transport is not None and (conn.out is not None or transport.get_write_buffer_size()
                                          or transport_has_unread(transport)):
                idle[conn] = None
                continue
            conn.is_idle = False
            conn.close()
            self.connections.discard(conn)  # its connection_lost comes on a later loop turn; its slot is free now
            return True
        return False

    def _refuse_slow_request(self, now: float) -> bool:
        """The oldest request trickling in, on a connection with no other request: one pipelined behind a
        request being answered is passed over, as that request is never cut short."""
        for conn, began in itertools.islice(self.slow_requests.items(), _ROOM_CANDIDATES):
            age = now - began
            if age < SLOW_HEAD_GRACE:
                return False  # oldest first: the others are younger
            request = conn.request
            if conn.active is not None or conn.pending or request is None:
                continue
            if conn.in_head or (age >= SLOW_BODY_GRACE and request.body is not None
                                and request.body.size < MIN_BODY_RATE * age):
                del self.slow_requests[conn]
                conn.refuse_slow_request(conn.in_head)
                self.connections.discard(conn)
                return True
        return False
