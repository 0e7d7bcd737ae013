"""A client connection's single deadline, checked by the server's sweeper, and when the connection counts as idle."""

from __future__ import annotations

from pysupervise.proxy.client.parking import transport_has_unread
from pysupervise.proxy.client.writes import BatchedWrites

# What the connection's single deadline currently means. UPSTREAM: the worker has not begun its response;
# WORKER_SILENT: it has, and has been silent since the deadline was set (nginx's proxy_read_timeout).
NO_DEADLINE, HEADER, BODY, KEEPALIVE, UPSTREAM, LINGER, SEND, WORKER_SILENT = range(8)
# Given to a connection whose client's (or worker's) bytes wait unread when its deadline passes (see
# deadline_passed).
_READ_FIRST_SECONDS = 1.0


class ConnectionDeadlines(BatchedWrites):
    """The deadline half of ClientConnection (no timer per request: the sweeper compares `deadline` with now).

    A connection is *idle* while it waits for a request that has not begun: just accepted, or kept alive
    after a response. Idle connections sit in `server.idle` (oldest first), and at max_connections the
    server closes the oldest of them to admit a new client, as nginx reuses its keep-alive connections.
    """

    __slots__ = ()

    def _set_deadline(self, kind: int, seconds: float) -> None:
        if self.is_idle:
            self.is_idle = False
            self.server.idle.pop(self, None)
        self.deadline_kind = kind
        self.deadline = self.loop.time() + seconds

    def _wait_idle(self, kind: int, seconds: float) -> None:
        """Wait for the next request (HEADER for a new connection, KEEPALIVE after a response)."""
        self._set_deadline(kind, seconds)
        self.is_idle = True
        self.server.went_idle(self)

    def _reading_deadline(self, kind: int, seconds: float) -> None:
        # While a response is under way its upstream deadline rules; pipelined reads wait their turn.
        if self.active is None:
            self._set_deadline(kind, seconds)

    def expect_response_by(self, when: float) -> None:
        self.deadline_kind = UPSTREAM
        self.deadline = when

    def response_started(self, watch_worker: bool) -> None:
        """The worker began its response. `watch_worker`: its pauses are timed from now on (watch_worker); the
        deadline itself is set once the read that brought the head is parsed (worker_sent), often never: most
        responses end in that same read."""
        if self.deadline_kind == UPSTREAM:
            if self.write_paused:
                self._set_deadline(SEND, self.server.settings.send_timeout)  # the client rules (_sending_deadline)
            else:
                self.deadline_kind = WORKER_SILENT if watch_worker else NO_DEADLINE

    def worker_sent(self) -> None:
        """A read from the worker was parsed, its response still under way: its silence counts from now."""
        if self.deadline_kind == WORKER_SILENT:
            self.deadline = self.loop.time() + self.active.backend.upstream_timeout

    def watch_worker(self, seconds: float) -> None:
        """Time the worker's silence again (the client took its bytes again), unless another deadline rules."""
        if self.deadline_kind == NO_DEADLINE and not self.write_paused:
            self.deadline_kind = WORKER_SILENT
            self.deadline = self.loop.time() + seconds

    def worker_took_request(self, seconds: float) -> None:
        """The worker took more of the request's body: whether or not its response has begun, it is at work, and
        its silence counts from now (nginx times sending and reading apart; one deadline does both here)."""
        if self.deadline_kind == UPSTREAM or self.deadline_kind == WORKER_SILENT:
            self.deadline = self.loop.time() + seconds

    def worker_finished(self) -> None:
        if self.deadline_kind == WORKER_SILENT:
            self.deadline_kind = NO_DEADLINE

    def _sent_unread(self) -> bool:
        """Bytes from the client wait in the socket while we read (not while reading is paused on purpose)."""
        return not self.reading_paused and self.transport is not None and transport_has_unread(self.transport)

    def _sending_deadline(self, paused: bool) -> None:
        """A client that takes none of our bytes for send_timeout is dropped (nginx's send_timeout): read-ahead
        freed its worker, but its connection, buffers and spill file would otherwise be held forever. While it
        takes nothing, the worker's silence is not timed: a full read-ahead buffer is what paused the worker."""
        if paused and (self.deadline_kind == NO_DEADLINE or self.deadline_kind == WORKER_SILENT):
            self._set_deadline(SEND, self.server.settings.send_timeout)
        elif not paused and self.deadline_kind == SEND:
            self.deadline_kind = NO_DEADLINE

    def _worker_sent_unread(self) -> bool:
        """Bytes from the worker of the request being answered wait in its socket while we read from it."""
        active = self.active
        upstream = active.upstream if active is not None else None
        transport = upstream.transport if upstream is not None else None
        return transport is not None and transport.is_reading() and transport_has_unread(transport)

    def deadline_passed(self) -> None:
        kind = self.deadline_kind
        if ((kind == HEADER or kind == BODY or kind == KEEPALIVE) and self._sent_unread()) or (
                (kind == UPSTREAM or kind == WORKER_SILENT) and self._worker_sent_unread()):
            # The client (or the worker) did send: the wait was ours. A master starved or stopped in the middle of
            # a loop turn runs its timers before it reads again, so this sweep came first; the read is next.
            self.deadline = self.loop.time() + _READ_FIRST_SECONDS
            return
        self.deadline_kind = NO_DEADLINE
        if kind == UPSTREAM:
            if self.active is not None:
                self.active.upstream_timed_out()
        elif kind == WORKER_SILENT:
            if self.active is not None:
                self.active.worker_went_silent()
        elif kind in (HEADER, BODY):
            if self.request is not None or kind == BODY:
                self._reject(408, "the client did not send a complete request in time")  # type: ignore[attr-defined]
            else:
                self.close()  # type: ignore[attr-defined]
        elif kind == KEEPALIVE and self.active is None and not self.pending:
            # Still unable to hand the client the end of its last answer: a close would wait for it forever.
            self.abort() if self.write_paused else self.close()  # type: ignore[attr-defined]
        elif kind == SEND:
            self.abort()  # type: ignore[attr-defined]  # a close would wait for a flush that never comes
        elif kind == LINGER:
            # A client that has not taken the last of its answer by now would hold a close open forever.
            self.abort() if self.transport.get_write_buffer_size() else self.close()  # type: ignore[attr-defined]
