"""Idle keep-alive connections parked as a bare socket: a descriptor and a deadline, watched by one shared epoll.

Browsers keep their connections open, idle, for a minute or more. A live connection costs a uvloop transport
with its libuv handle (about 1.3 KiB) and a ClientConnection (about 0.4 KiB with its table entries); worse, the
memory they leave when freed sits in allocator pools pinned by the few objects that live on. So once a
connection has been idle for PARK_AFTER seconds, the sweeper hands its socket (a duplicate of the descriptor)
to this epoll and the ClientConnection and its transport are dropped whole: what stays per parked connection
is its keep-alive deadline and its place in the parking order, 20 bytes in arrays (parked_table.py). When the
client sends again, its socket becomes a connection as if newly accepted (its address read again,
header_timeout for the next request); when it closes, or its deadline passes, or room is needed, or the
server stops, the descriptor is closed. Parked connections still count against max_connections, and are the
first closed to make room (they have been idle the longest).

Without epoll (not Linux), nothing is parked.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import select
import socket
from typing import TYPE_CHECKING, Any, Callable

from pysupervise.proxy.client.parked_table import ParkedTable

if TYPE_CHECKING:
    from pysupervise.periodic import TaskErrors

# Seconds a connection waits idle before it is parked: a client that comes back sooner keeps its transport.
PARK_AFTER = 1.0
# Bugs while parking or waking, in the master's TaskErrors (metrics, a log line a minute per kind).
PARKING = "proxy-parking"
_WAKE_EVENTS = (select.EPOLLIN | select.EPOLLRDHUP) if hasattr(select, "epoll") else 0
_GONE = (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR) if _WAKE_EVENTS else 0


class ParkingLot:
    """The parked sockets of one ProxyServer: descriptor -> keep-alive deadline (loop time), oldest parked first.

    `wake(sock)` turns a socket whose client sent something back into a connection (the server adopts it,
    already counted); `closed()` says a parked connection is gone (the server may admit another client).
    """

    __slots__ = ("loop", "errors", "wake", "closed", "_epoll", "_parked", "_earliest")

    def __init__(self, loop: asyncio.AbstractEventLoop, errors: "TaskErrors",
                 wake: Callable[[socket.socket], None], closed: Callable[[], None]) -> None:
        self.loop = loop
        self.errors = errors
        self.wake = wake
        self.closed = closed
        errors.register(PARKING)
        self._epoll: select.epoll | None = None
        self._parked = ParkedTable()
        self._earliest = math.inf  # no parked deadline is sooner: the sweeper's pass is free until then

    def __len__(self) -> int:
        return self._parked.count

    def park(self, transport: asyncio.Transport, deadline: float) -> bool:
        """Take over the transport's socket (the caller then aborts the transport); False if it cannot be."""
        if not _WAKE_EVENTS:
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        if self._epoll is None:
            self._epoll = select.epoll()
            self.loop.add_reader(self._epoll.fileno(), self._wake_ready)
        fd = os.dup(sock.fileno())
        try:
            self._epoll.register(fd, _WAKE_EVENTS)
        except OSError:
            os.close(fd)
            raise
        self._parked.add(fd, deadline)
        self._earliest = min(self._earliest, deadline)
        return True

    def expire(self, now: float) -> None:
        """Close the parked connections whose keep-alive (or header) deadline has passed."""
        if now < self._earliest:
            return
        expired, self._earliest = self._parked.expire(now)
        gone = False
        for fd in expired:
            if has_unread_bytes(fd):
                # Its request came while the master was starved or stopped, which then runs this timer before it
                # polls the parked sockets: woken, not closed (closing would also reset it, bytes unread).
                gone |= not self._wake(fd)
            else:
                self._release(fd)
                gone = True
        if gone:
            self.closed()

    def close_oldest(self, candidates: int) -> bool:
        """Close the connection parked the longest (to admit a new client); False if none of the `candidates`
        oldest can be: a client whose request is already in the socket is about to be woken, not idle."""
        for fd in itertools.islice(self._parked.oldest(), candidates):
            if not has_unread_bytes(fd):
                self._discard(fd)
                return True
        return False

    def close(self) -> None:
        """Close every parked connection (the server stops)."""
        for fd in list(self._parked.oldest()):
            if fd in self._parked:
                self._discard(fd)
        if self._epoll is not None:
            self.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None

    def _discard(self, fd: int) -> None:
        self._parked.remove(fd)
        self._release(fd)

    def _release(self, fd: int) -> None:
        """Close a descriptor no longer in the table."""
        self._epoll.unregister(fd)
        os.close(fd)

    def _wake_ready(self) -> None:
        """Clients of parked connections sent something (or closed)."""
        try:
            ready = self._epoll.poll(0) if self._epoll is not None else ()
        except OSError as exc:
            self.errors.report(PARKING, exc)
            return
        gone = False
        for fd, events in ready:
            if fd not in self._parked:
                continue
            if events & _GONE and not has_unread_bytes(fd):
                self._discard(fd)  # the client closed (the usual end of an idle connection)
                gone = True
                continue
            self._parked.remove(fd)
            gone |= not self._wake(fd)
        if gone:
            self.closed()

    def _wake(self, fd: int) -> bool:
        """A descriptor out of the table back to the server as a connection; False if that failed (it is closed)."""
        self._epoll.unregister(fd)
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            os.close(fd)
            self.errors.report(PARKING, exc)
            return False
        self.wake(sock)
        return True


def transport_has_unread(transport: Any) -> bool:
    """Whether the peer of a transport (or of a stream's writer) sent bytes not read yet."""
    sock = transport.get_extra_info("socket")
    return sock is not None and has_unread_bytes(sock.fileno())


def has_unread_bytes(fd: int) -> bool:
    """Whether the client sent something not read yet: a request that began (maybe followed by a half-close)."""
    probe = socket.socket(fileno=fd)
    try:
        return bool(probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False
    finally:
        probe.detach()
