"""The answers a client connection writes itself: a request it refuses, an exchange that failed, a bug of ours."""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING

from pysupervise.proxy.client.deadlines import LINGER
from pysupervise.proxy.error_pages import RETRY_AFTER_SECONDS, error_response
from pysupervise.proxy.forwarded import is_loopback
from pysupervise.proxy.request import ProxyRequest

if TYPE_CHECKING:
    import asyncio
    from pysupervise.config import ProxySettings
    from pysupervise.proxy.exchange import Exchange
    from pysupervise.proxy.server import ProxyServer


# After an error answer, how long we keep reading (and discarding) before closing; see _linger.
_LINGER_SECONDS = 2.0
# Bugs under client connections, in the master's TaskErrors (metrics, and a log line a minute per kind).
CONNECTIONS = "proxy-connections"
# SO_LINGER on, 0 s: close() sends a reset (abort).
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class ErrorAnswers:
    """The error half of ClientConnection: answers in request order, then (when they end it) a lingering close;
    or, for an answer cut short, a reset (abort).

    Uses the connection's write(), flush(), pause_reading() and _set_deadline().
    """

    __slots__ = ()

    server: "ProxyServer"
    settings: "ProxySettings"
    loop: "asyncio.AbstractEventLoop"
    client_ip: str
    loopback: bool
    request: ProxyRequest | None
    pending: list[ProxyRequest]
    active: "Exchange | None"
    transport: "asyncio.Transport"
    must_close: bool
    broken: bool
    writes_done: bool

    def _write_error(self, request: ProxyRequest, status: int, reason: str, diagnostics: str,
                     retry_after: bool = False, extra_headers: bytes = b"") -> None:
        close = self.must_close or not request.keep_alive or request.wants_upgrade
        # Behind a trusted proxy on this host the peer is loopback for everyone: judge the client it vouches for.
        loopback = self.loopback if request.client_ip == self.client_ip else is_loopback(request.client_ip)
        shown = diagnostics if (loopback and self.settings.dev_errors) else ""
        extra = extra_headers + (b"Retry-After: %d\r\n" % RETRY_AFTER_SECONDS if retry_after else b"")
        self.write(error_response(status, request.request_id or self.server.new_request_id(),
                                            request.accept, reason, diagnostics=shown, close=close,
                                            head_only=request.method == b"HEAD", extra_headers=extra))
        if close:
            self.must_close = True
            self._linger()

    def _linger(self) -> None:
        """Send the answer, stop writing, and discard what the client still sends for a moment.

        Closing a socket with unread input makes the kernel send a reset, which can destroy our
        answer (a 413, say) before the client reads it. nginx calls this a lingering close.
        """
        self.broken = True  # nothing more is parsed; data_received discards
        self.writes_done = True
        self.flush()
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._set_deadline(LINGER, _LINGER_SECONDS)
            self.pause_reading(False)
        else:
            transport.close()

    def exchange_cut_short(self, exchange: "Exchange") -> None:
        """The client has every byte of a response its worker broke off, framed so that it shows the cut
        (Exchange._cut_off): a clean close follows, and nothing pipelined behind it is started."""
        try:
            self.active = None
            self.server.exchange_finished(exchange, self)
            self._linger()
        except Exception as exc:  # called from a worker connection's callbacks: they must not see our bugs
            self.internal_error(exc, "exchange_cut_short", exchange.request)

    def refuse_slow_request(self, in_head: bool) -> None:
        """At max_connections, this request trickling in gives way to a new client (room.py)."""
        if in_head:
            self._reject(408, "the request head did not arrive in time while other clients waited for room")
        else:
            self._reject(408, "the request body arrived too slowly while other clients waited for room")

    def _reject(self, status: int, detail: str) -> None:
        """A request we cannot parse or accept: answer once the earlier ones are answered, then close."""
        self.broken = True  # the parser is in an error state: never feed it again
        self.pause_reading(True)
        request = self.request or ProxyRequest(self.client_ip, self.loop.time())
        self.request = None
        request.keep_alive = False
        request.target = None
        request.routing_held = False
        if not request.request_id:
            request.request_id = self.server.new_request_id()
        if self.active is None and not self.pending:
            self._write_error(request, status, detail, "")
        else:
            self.must_close = True
            request.rejection = (status, detail)
            self.pending.append(request)
            self.server.read_ahead += 1

    def abort(self) -> None:
        """End the connection with a reset: the response on it was cut short, and a clean close would tell a client
        whose body ends at the close (HTTP/1.0) that it is whole; unsent bytes are dropped at once, not lingered on
        (nginx's reset_timedout_connection)."""
        self.writes_done = True  # a request read behind the one cut off must not reach a worker now
        transport = self.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                except OSError:
                    pass  # closed meanwhile: there is nothing left to reset
            transport.abort()

    def internal_error(self, exc: BaseException, where: str, request: ProxyRequest | None) -> None:
        """A bug of ours under this connection: logged (rate-limited, with the request id); the client is dropped.

        Never raised into the caller: that may be a worker's exit watcher or another connection's callback.
        """
        request_id = request.request_id.decode("ascii", "replace") if request is not None else ""
        self.server.task_errors.report(CONNECTIONS, exc, f"unexpected error in {where} (request {request_id or '-'})")
        self.broken = True
        self.writes_done = True
        self.abort()
