"""Idle keep-alive connections parked without a transport: only their socket, watched by one shared epoll.

A uvloop transport with its libuv handle costs about 1.3 KiB, most of an idle connection's memory,
and browsers keep their connections open, idle, for a minute or more. So once a connection has
been idle for PARK_AFTER seconds, the sweeper hands its socket (a duplicate of the descriptor) to
this epoll and drops the transport; the ClientConnection stays, still counted, still idle, with its
keep-alive deadline. When the client sends again (or closes), the socket gets a fresh transport
and the same ClientConnection carries on; a parked connection that is closed by a deadline, for
room or at a stop just closes its descriptor.

Without epoll (not Linux), nothing is parked.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysupervise.periodic import TaskErrors
    from pysupervise.proxy.client.connection import ClientConnection

# Seconds a connection waits idle before it is parked: a client that comes back sooner keeps its transport.
PARK_AFTER = 1.0
# Bugs while parking or waking, in the master's TaskErrors (metrics, a log line a minute per kind).
PARKING = "proxy-parking"
_WAKE_EVENTS = (select.EPOLLIN | select.EPOLLRDHUP) if hasattr(select, "epoll") else 0


class ParkingLot:
    """The parked connections of one ProxyServer, by their descriptor."""

    __slots__ = ("loop", "errors", "_epoll", "_parked")

    def __init__(self, loop: asyncio.AbstractEventLoop, errors: "TaskErrors") -> None:
        self.loop = loop
        self.errors = errors
        errors.register(PARKING)
        self._epoll: select.epoll | None = None
        self._parked: dict[int, ClientConnection] = {}

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, conn: "ClientConnection", transport: asyncio.Transport) -> int:
        """Take over `conn`'s socket (the caller then aborts its transport); returns the descriptor, or -1."""
        if not _WAKE_EVENTS:
            return -1
        sock = transport.get_extra_info("socket")
        if sock is None:
            return -1
        if self._epoll is None:
            self._epoll = select.epoll()
            self.loop.add_reader(self._epoll.fileno(), self._wake_ready)
        fd = os.dup(sock.fileno())
        try:
            self._epoll.register(fd, _WAKE_EVENTS)
        except OSError:
            os.close(fd)
            raise
        self._parked[fd] = conn
        return fd

    def discard(self, fd: int) -> None:
        """Close a parked connection's socket (its deadline passed, room was needed, the master stops)."""
        if self._parked.pop(fd, None) is not None:
            self._epoll.unregister(fd)
            os.close(fd)

    def close(self) -> None:
        for conn in list(self._parked.values()):
            conn.abort()
        if self._epoll is not None:
            self.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None

    def _wake_ready(self) -> None:
        """The client of a parked connection sent something (or closed): give it a transport again."""
        try:
            ready = self._epoll.poll(0) if self._epoll is not None else ()
        except OSError as exc:
            self.errors.report(PARKING, exc)
            return
        for fd, events in ready:
            conn = self._parked.get(fd)
            if conn is None:
                continue
            if events & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR) and not _has_bytes(fd):
                conn.close()  # the client closed (the usual end of an idle connection): no transport for that
                continue
            del self._parked[fd]
            self._epoll.unregister(fd)
            conn.woken()
            try:
                sock = socket.socket(fileno=fd)
            except OSError as exc:
                os.close(fd)
                self.errors.report(PARKING, exc)
                conn.unparked(exc)
                continue
            self._unpark(conn, sock)

    def _unpark(self, conn: "ClientConnection", sock: socket.socket) -> None:
        task = self.loop.create_task(self.loop.connect_accepted_socket(lambda: conn, sock))

        def adopted(done: asyncio.Task) -> None:
            if done.cancelled() or done.exception() is not None:
                failure = None if done.cancelled() else done.exception()
                if failure is not None:
                    self.errors.report(PARKING, failure)
                sock.close()
                conn.unparked(failure)

        task.add_done_callback(adopted)


def _has_bytes(fd: int) -> bool:
    """Whether the client sent something before it closed (a request, then a half-close): it is answered."""
    probe = socket.socket(fileno=fd)
    try:
        return bool(probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:
        return False
    finally:
        probe.detach()
