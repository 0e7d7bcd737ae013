"""One client TCP connection: httptools request parsing, pipelining, limits, timeouts and response writes."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import httptools

from pysupervise.proxy.body import RequestBody
from pysupervise.proxy.client.deadlines import BODY, HEADER, KEEPALIVE, NO_DEADLINE, ConnectionDeadlines
from pysupervise.proxy.client.error_answers import ErrorAnswers
from pysupervise.proxy.client.idle import IdleConnection
from pysupervise.proxy.client.raw_target import RawTargetFeeder
from pysupervise.proxy.client.upgrades import UpgradingConnection
from pysupervise.proxy.forwarded import parse_address
from pysupervise.proxy.head_checks import RequestRejected, body_too_large, check_head, http_minor
from pysupervise.proxy.request import ProxyRequest

if TYPE_CHECKING:
    from pysupervise.proxy.exchange import Exchange
    from pysupervise.proxy.server import ProxyServer

# Pipelined requests parsed ahead of the one being answered before we stop reading; and what their heads may
# cost together, in max_header_sizes: a head's bytes plus this much per header field (a tuple of two bytes
# objects), so 32 heads of thousands of tiny fields cannot make a connection hold megabytes.
_PIPELINE_DEPTH = 32
_HEADER_FIELD_COST = 128
# Heads are parsed this many bytes at a time, so those limits are checked every few KiB: a 256 KiB read of
# tiny requests, parsed at once, would be hundreds of them (what is not parsed waits in `unparsed`).
_HEAD_SLICE = 4096
# The socket's write buffer; a slower client's response waits in its ResponseBuffer (response_buffer_max).
_WRITE_BUFFER = 64 * 1024
# Bytes of a chunked body that are not body: each chunk's size line and CRLF get this much; the trailer fields
# (and any chunk extensions beyond it) share max_header_size. httptools keeps a field's value whole until its
# end, so without a bound one endless trailer field would grow the master's memory for body_timeout.
_CHUNK_FRAMING = 64


class ClientConnection(ConnectionDeadlines, ErrorAnswers, IdleConnection, UpgradingConnection, asyncio.Protocol):
    """Reads whole requests before they take a worker slot; writes responses in request order."""

    __slots__ = ()

    def __init__(self, server: "ProxyServer") -> None:
        self.server = server
        self.cork = server.cork
        self.settings = server.settings
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        # Made on a request's first bytes, dropped while idle (idle.py): with its bound callbacks it costs 0.9 KiB.
        self.parser: httptools.HttpRequestParser | None = None
        self.client_ip = ""
        self.loopback = False
        self.peer_trusted = False
        self.request: ProxyRequest | None = None
        # Requests read ahead of the one being answered (pipelining): a list, as an empty deque alone costs 760 bytes.
        self.pending: list[ProxyRequest] = []
        self.active: Exchange | None = None
        self.deadline = 0.0
        self.deadline_kind = NO_DEADLINE
        self.must_close = False
        self.tunnel: Exchange | None = None
        self.reading_paused = False
        self.write_paused = False
        self.head_size = 0
        self.header_bytes = 0
        self.header_count = 0
        self.held_cost = 0  # of the requests in `pending`
        self.unparsed = b""  # bytes read but not parsed yet: past the read-ahead limits (_next parses them)
        self.in_head = False
        self.upgrade_pending = False
        self.closed = False
        self.broken = False
        self.batching = 0
        self.out: list[bytes] | None = None  # writes collected while batching, or held to the pass's end
        self.corked = False  # the server's WriteCork flushes `out` at the end of this pass (client/cork.py)
        self.is_idle = False
        self.writes_done = False  # the last answer is out (a lingering close began, or a bug dropped us)
        self.raw_target: RawTargetFeeder | None = None  # made on the first byte >= 0x80 (raw_target.py)
        self.framing_left = -1  # a chunked body is being read: the framing bytes it may still take

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        address = parse_address(peer[0]) if isinstance(peer, tuple) else None
        # Interned: the many connections of one client (or of one load balancer) share it.
        self.client_ip = sys.intern(str(address)) if address is not None else "unknown"
        self.loopback = address is not None and address.is_loopback
        trusted = self.server.trusted_proxies
        self.peer_trusted = bool(trusted) and trusted.trusts(address)
        transport.set_write_buffer_limits(high=_WRITE_BUFFER)  # type: ignore[attr-defined]
        self._wait_idle(HEADER, self.settings.header_timeout)
        self.server.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        if self.tunnel is not None:
            self.tunnel.tunnel_from_client(data)
            return
        if self.upgrade_pending:
            self._hold_early_tunnel_bytes(data)
            return
        rest = b""
        if len(data) > _HEAD_SLICE and (self.request is None or self.in_head):
            data, rest = data[:_HEAD_SLICE], data[_HEAD_SLICE:]
        in_head = self.in_head
        if in_head:
            self.head_size += len(data)
        parser = self.parser
        if parser is None:
            parser = self.parser = httptools.HttpRequestParser(self)
        request = self.request
        chunked = request if self.framing_left >= 0 else None
        body_before = chunked.body.size if chunked is not None else 0
        try:
            # A read all inside a Content-Length body holds no head, so no request target to scan for raw bytes.
            if (request is not None and not in_head and request.body is not None
                    and len(data) <= request.declared_length - request.body.size) or data.isascii():
                parser.feed_data(data)
                if self.in_head:  # a head split across reads: keep its current line, in case a raw byte follows
                    self._raw_target().carry(data, 0, len(data), in_head)
            else:
                self._raw_target().feed(data)  # bytes >= 0x80: llhttp refuses them raw in a request target
        except httptools.HttpParserUpgrade as upgrade:
            self.upgrade_pending = True
            self._hold_early_tunnel_bytes(data[upgrade.args[0]:])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, RequestRejected):
                self._reject(cause.status, cause.detail)
            else:
                self.internal_error(cause or exc, "a request parser callback", self.request)
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed request: {exc}")
        if self.broken:
            return
        if chunked is not None and chunked is self.request:
            self.framing_left -= len(data) - (chunked.body.size - body_before)
            if self.framing_left < 0:
                self._reject(400, "the chunked body's framing (trailer fields, chunk extensions) is too large")
                return
        if self.in_head and self.head_size > self.settings.max_header_size:
            # A head still incomplete after this many bytes: stop before it grows memory unbounded.
            self._reject(431, "the request line and headers are too large")
            return
        if self.request is not None and self not in self.server.slow_requests:
            # Split across reads: at max_connections, if it trickles, it may have to give way (room.py).
            self.server.slow_requests[self] = self.request.started
        if len(self.pending) >= _PIPELINE_DEPTH or self.held_cost > self.settings.max_header_size:
            # Requests read ahead of the one being answered hold what they may: reading resumes, and the rest of
            # this read is parsed, once every one of them is answered (_next).
            self.pause_reading(True)
            self.unparsed = rest
            return
        if rest:
            self.data_received(rest)

    def eof_received(self) -> bool | None:
        # A half-closed client may still read the responses to what it already sent.
        if self.broken or (self.active is None and not self.pending):
            # uvloop closes the transport now: an answer held to the pass's end (client/cork.py) goes in it first.
            self.flush()
            return False
        self.must_close = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return  # parked (idle.py): the client's connection lives on in the server's ParkingLot
        self.closed = True
        self.server.connection_closed(self)
        self.server.slow_requests.pop(self, None)
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None and tunnel.upstream is not None:
            tunnel.upstream.close()
        active, self.active = self.active, None
        if active is not None:
            active.client_lost()
            # Every request that reached a worker gets its access.log line; one whose client left before
            # the answer began is logged as nginx does, 499 (client closed request).
            active.status = active.status or 499
            self.server.exchange_finished(active, self)
        for request in self.pending:
            if request.body is not None:
                request.body.close()
        self.server.read_ahead -= len(self.pending)
        self.pending.clear()
        self.unparsed = b""
        if self.request is not None and self.request.body is not None:
            self.request.body.close()

    def pause_writing(self) -> None:
        self.write_paused = True
        self._sending_deadline(True)
        if self.active is not None:
            self.active.client_write_paused(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        self._sending_deadline(False)
        if self.active is not None:
            self.active.client_write_paused(False)

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.request = ProxyRequest(self.client_ip, self.loop.time())
        self.in_head = True
        self.head_size = 0
        self.header_bytes = 0
        self.header_count = 0
        self._reading_deadline(HEADER, self.settings.header_timeout)

    def on_url(self, url: bytes) -> None:
        self.request.url += url
        self.header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.in_head:  # not trailer fields: RFC 9110 §6.5.1 forbids merging them into the head (dropped)
            self.header_count += 1
            if self.header_count > self.settings.max_header_count:
                raise RequestRejected(431, "the request has more header fields than max_header_count")
            self.request.add_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        request = self.request
        parser = self.parser
        request.method = parser.get_method()
        keep_alive = request.keep_alive = parser.should_keep_alive()
        # llhttp parses HTTP/0.9, 1.0, 1.1 and 2.0, and keeps a connection alive with no Connection (or
        # Proxy-Connection) header only for 1.1: then the version is known without get_http_version's formatting.
        if not keep_alive or request.connection_tokens or request.proxy_connection:
            version = parser.get_http_version()
            if version != "1.1":
                request.http_minor = http_minor(version)
        raw_target = self.raw_target
        if raw_target is not None and raw_target.escapes:
            self.header_bytes -= raw_target.restore(request)
        request.wants_upgrade = parser.should_upgrade()
        check_head(request, self.header_bytes, self.settings, self.server.default_host, self.server.valid_hosts)
        if request.underscored and self.settings.underscores_in_headers:
            request.keep_underscored()
        if self.peer_trusted:
            request.believe_proxies(self.server.trusted_proxies)
        if request.has_body:
            settings = self.settings
            request.body = RequestBody(settings.buffer_memory_max, self.server.spill_dir, self.server.buffer_budget,
                                       settings.buffer_memory_total)
            if request.declared_length < 0:
                self.framing_left = self.settings.max_header_size
            self._reading_deadline(BODY, self.settings.body_timeout)
            if request.expect == b"100-continue" and self.active is None and not self.pending:
                self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        server = self.server
        if server.routing_hold is None:
            server.route(request)
        else:  # the fronts are switching route tables together: routed once they have (routing.py RoutingHold)
            request.routing_held = True
        request.keep_request_id(server.new_request_id())

    def on_body(self, body: bytes) -> None:
        request_body = self.request.body
        request_body.append(body)
        if request_body.size > self.settings.max_body_size:
            raise body_too_large(self.settings)
        if self.deadline_kind == BODY:
            self.deadline = self.loop.time() + self.settings.body_timeout

    def on_chunk_header(self) -> None:
        self.framing_left += _CHUNK_FRAMING

    def on_message_complete(self) -> None:
        self.framing_left = -1
        slow_requests = self.server.slow_requests
        if slow_requests:
            slow_requests.pop(self, None)
        request, self.request = self.request, None
        if self.deadline_kind in (HEADER, BODY):
            self.deadline_kind = NO_DEADLINE
        request.held_cost = cost = self.header_bytes + _HEADER_FIELD_COST * self.header_count
        self.held_cost += cost
        self.pending.append(request)
        self.server.read_ahead += 1
        if self.active is None:
            self._next()

    # -- answering, in order ------------------------------------------------------------------

    def _next(self) -> None:
        if self.writes_done:
            return  # nothing more is written or started on this connection
        while self.active is None and self.pending and not self.closed:
            request = self.pending.pop(0)
            if request.routing_held:
                if self.server.routing_hold is not None:
                    self.pending.insert(0, request)  # first again, for when the fronts have switched
                    self.server.routing_hold.wait(self)
                    return
                request.routing_held = False
                self.server.route(request)
            self.server.read_ahead -= 1
            self.held_cost -= request.held_cost
            if request.rejection is not None:
                status, detail = request.rejection
                self._write_error(request, status, detail, "")
                return
            target = request.target
            if target is None:
                self._write_error(request, 404, "no app is configured for this URL", "")
                if self.must_close:
                    return
                continue
            try:
                exchange = target.new_exchange(self, request)
                self.active = exchange
                exchange.start()
            except Exception as exc:  # a bug of ours: reported with this request's id, the connection dropped
                self.internal_error(exc, "starting an exchange", request)
                return
        if self.active is None and not self.pending and self.unparsed:
            unparsed, self.unparsed = self.unparsed, b""
            self.data_received(unparsed)  # still paused: before any newer byte
            if self.active is not None or self.pending or self.unparsed or self.broken or self.closed:
                return  # requests started (each ends in _next again), or the limits were reached again
        if self.active is None and not self.pending:
            if self.must_close:
                self.close()
                return
            if self.request is None:
                self._wait_idle(KEEPALIVE, self.settings.keepalive_timeout)
            elif self.request.body is None:
                self._set_deadline(HEADER, self.settings.header_timeout)
            else:
                self._set_deadline(BODY, self.settings.body_timeout)
            if self.reading_paused and not self.upgrade_pending:
                self.pause_reading(False)

    def routing_released(self) -> None:
        """The request this connection holds back waiting to be routed (RoutingHold) goes on now."""
        if self.closed:
            return  # the client left while it waited
        try:
            self._next()
        except Exception as exc:  # called for many connections in turn: one bug must not stop the others
            self.internal_error(exc, "routing_released", None)

    def exchange_done(self, exchange: Exchange) -> None:
        try:
            self.active = None
            self.server.exchange_finished(exchange, self)
            if exchange.close_after or not exchange.request.keep_alive:
                self.must_close = True
            self._next()
        except Exception as exc:  # called from a worker connection's callbacks: they must not see our bugs
            self.internal_error(exc, "exchange_done", exchange.request)

    def exchange_failed(self, exchange: Exchange, status: int, reason: str, diagnostics: str,
                        retry_after: bool, extra_headers: bytes = b"") -> None:
        try:
            self.active = None
            exchange.status = status
            self._write_error(exchange.request, status, reason, diagnostics, retry_after=retry_after,
                              extra_headers=extra_headers)
            self.server.exchange_finished(exchange, self)
            self._next()
        except Exception as exc:  # e.g. called from a worker's exit watcher, which must survive our bugs
            self.internal_error(exc, "exchange_failed", exchange.request)

    def pause_reading(self, paused: bool) -> None:
        if self.closed or paused == self.reading_paused:
            return
        self.reading_paused = paused
        if paused:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.close()

    def shutdown(self) -> None:
        """Finish what is in flight, then close (used when the master stops)."""
        self.must_close = True
        if self.active is None and not self.pending and self.tunnel is None:
            self.close()

    def _raw_target(self) -> RawTargetFeeder:
        if self.raw_target is None:
            self.raw_target = RawTargetFeeder(self)
        return self.raw_target
