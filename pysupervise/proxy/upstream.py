"""One pooled HTTP/1.1 connection to a worker's Unix socket, parsed with httptools' response parser."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import httptools

from pysupervise.proxy.response_head import SCANS_HEADS, passable_head

if TYPE_CHECKING:
    from pysupervise.proxy.endpoint import Endpoint
    from pysupervise.proxy.exchange import Exchange


class UpstreamConnection:
    """Carries one exchange at a time; between exchanges it waits in its endpoint's idle pool.

    An asyncio protocol without asyncio.Protocol as its base: compiled (upstream.pxd), it is an extension type,
    whose first base must be one too; uvloop and asyncio only call the protocol's methods.
    """

    __slots__ = ("endpoint", "transport", "parser", "exchange", "usable", "idle_since", "no_body", "tunnel",
                 "_reason", "_headers", "_reset_parser", "_got_bytes", "_keep_alive", "_bound", "_head_bytes",
                 "_in_body", "_parser_behind", "_body_length", "_body_seen")

    def __init__(self, endpoint: "Endpoint") -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.usable = True
        self.idle_since = 0.0
        # The request was HEAD: the response has no body, whatever its Content-Length says.
        self.no_body = False
        self.tunnel = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._reset_parser = False
        self._got_bytes = False
        self._keep_alive = True
        self._head_bytes = -1  # bytes read while a response head is incomplete (-1: not in a head)
        self._bound = 0  # exchanges carried so far: above 1, it came from the idle pool
        # Past a response's head, before its end; its Content-Length (-2: not looked up yet, -1: none) and the body
        # bytes passed on so far. A read that is all body skips the parser (_pass_body), which then falls behind.
        self._in_body = False
        self._parser_behind = False
        self._body_length = -2
        self._body_seen = 0

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            # A worker must not talk on an idle connection: drop it rather than mis-frame the next response.
            self.close()
            return
        if self.tunnel:
            exchange.tunnel_from_upstream(data)
            return
        self._got_bytes = True
        client = exchange.client
        if self._in_body:
            if self._pass_body(exchange, data):
                return
        elif SCANS_HEADS and self._head_bytes < 0 and not self.no_body and not exchange.interim and \
                self._pass_whole(exchange, data):
            return
        client.begin_batch()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.tunnel = True
            rest = data[upgrade.args[0]:]
            if self.exchange is not None:
                self.exchange.upgraded(rest)
        except httptools.HttpParserError as exc:
            self.usable = False
            ex, self.exchange = self.exchange, None
            self.close()
            if ex is not None:
                ex.upstream_failed(f"invalid HTTP from worker: {exc}", self._got_bytes)
        finally:
            client.end_batch()
        if self._head_bytes >= 0 and self.exchange is not None:
            # httptools keeps a field whole until it ends: a worker writing one endless header line would grow
            # the master's memory until upstream_timeout. A head past max_header_size is the worker's bug: 502.
            self._head_bytes += len(data)
            if self._head_bytes > client.settings.max_header_size:
                self.usable = False
                ex, self.exchange = self.exchange, None
                self.close()
                ex.upstream_failed("the worker's response head is larger than max_header_size", True)
                return
        client.worker_sent()
        if self._reset_parser:
            self._fresh_parser()

    def _fresh_parser(self) -> None:
        """A new parser for the next response: the one before finished early (HEAD) or fell behind (_pass_body)."""
        self._reset_parser = self._in_body = self._parser_behind = False
        self.parser = httptools.HttpResponseParser(self)

    def _pass_whole(self, exchange: "Exchange", data: bytes) -> bool:
        """A read between responses that holds one whole response, whose head the client can take as the worker wrote
        it (response_head.passable_head): passed on without the parser, which stays where it was, between responses.
        False: nothing was done; the parser takes the read."""
        head_end = passable_head(data)
        client = exchange.client
        if head_end < 0 or head_end > client.settings.max_header_size:
            return False
        status = (data[9] - 48) * 100 + (data[10] - 48) * 10 + (data[11] - 48)
        client.begin_batch()
        try:
            if not exchange.pass_response(status, data, head_end):
                return False
            self._keep_alive = True  # HTTP/1.1, and no Connection header (passable_head leaves those to the parser)
            self.exchange = None
            exchange.response_complete(self, self.usable)
        finally:
            client.end_batch()
        return True

    def _pass_body(self, exchange: "Exchange", data: bytes) -> bool:
        """A read inside a Content-Length body goes to the client as it is, without the parser's copy of it; the
        read that ends the body ends the response here too, and a fresh parser takes the next one. False: the
        parser is to read this (its body has no length, or it ends in this read and the parser kept up)."""
        if self._body_length == -2:
            self._body_length = _content_length(self._headers)
        left = self._body_length - self._body_seen
        if self._body_length < 0 or (left <= len(data) and not self._parser_behind):
            return False
        client = exchange.client
        client.begin_batch()
        try:
            if left > len(data):
                self._parser_behind = True
                self._body_seen += len(data)
                exchange.response_body(data)
            else:
                self._body_seen += left
                if left:
                    exchange.response_body(data[:left] if left < len(data) else data)
                if left < len(data):
                    self.usable = False  # bytes after the response it framed: the worker cannot be trusted on it
                self._reset_parser = True
                if self.exchange is not None:
                    self.on_message_complete()
        finally:
            client.end_batch()
        client.worker_sent()
        if self._reset_parser:
            self._fresh_parser()
        return True

    def eof_received(self) -> bool | None:
        self._lost(unsent=False, eof=True)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        # EPIPE on a Unix socket means the worker had closed its end before our write: it never saw it.
        self._lost(unsent=isinstance(exc, BrokenPipeError), eof=exc is None)

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_write_paused(True)

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_write_paused(False)

    # -- used by Exchange ---------------------------------------------------------------------

    def bind(self, exchange: "Exchange", no_body: bool) -> None:
        self.exchange = exchange
        self.no_body = no_body
        self._got_bytes = False
        self._bound += 1

    def unbind(self) -> None:
        self.exchange = None

    def closed_by_peer(self) -> bool:
        """True if the worker has already closed (or written on) this idle connection.

        One recv(MSG_PEEK) syscall; used before sending a non-idempotent request on a reused
        connection, which could not be retried safely if the close were only noticed afterwards.
        """
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return True
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=sock.fileno())
        try:
            probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            return True  # b"" (closed) or unexpected bytes: unusable either way
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            probe.detach()

    def body_ends_at_close(self) -> bool:
        """The response under way has neither a Content-Length nor chunked framing: the worker ends its body by
        closing the connection (RFC 9112 §6.3), so a close is its end, not a cut."""
        for name, _ in self._headers:
            if name.lower() in (b"content-length", b"transfer-encoding"):
                return False
        return True

    def streams_events(self) -> bool:
        """The response under way is an event stream (text/event-stream): quiet between events by nature."""
        for name, value in self._headers:
            if name.lower() == b"content-type":
                return value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
        return False

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()

    def _lost(self, unsent: bool, eof: bool) -> None:
        self.usable = False
        self.endpoint.forget(self)
        ex, self.exchange = self.exchange, None
        if self.transport is not None:
            self.transport.close()
        if ex is None:
            return
        if not unsent and not self._got_bytes and self._bound > 1 and self.endpoint.alive and ex.request.idempotent:
            # No answer on a reused connection: the keep-alive race (an asyncio worker has read the request, so
            # there is no EPIPE), or the request killed the worker.
            ex.resend_to_same_worker()
            return
        # A clean end of a body the worker ends by closing; after a reset, the body is cut short whatever its framing.
        ex.upstream_lost(unsent, ended=eof and ex.status != 0 and self.body_ends_at_close())

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []
        self._head_bytes = 0
        self._body_length = -2
        self._body_seen = 0

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_bytes = -1
        status = self.parser.get_status_code()
        # Read now: after the message completes, httptools no longer reports it reliably.
        keep_alive = self._keep_alive = self.parser.should_keep_alive()
        ex = self.exchange
        if ex is None:
            return
        if self.no_body and status >= 200:
            # httptools cannot be told a response answers HEAD; finish here and start a fresh parser.
            self._reset_parser = True
            self.exchange = None
            ex.response_head(status, self._reason, self._headers, keep_alive)
            ex.response_complete(self, keep_alive)
            return
        self._in_body = True  # until on_message_complete, which comes at once when there is no body (1xx, 204, 304)
        ex.response_head(status, self._reason, self._headers, keep_alive)

    def on_body(self, body: bytes) -> None:
        self._body_seen += len(body)
        if self.exchange is not None:
            self.exchange.response_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        ex = self.exchange
        if ex is None or self.tunnel or ex.status == 101:
            return  # a 101 ends in HttpParserUpgrade, and the connection becomes a tunnel
        if ex.interim:
            ex.interim = False  # a 1xx before the real response: keep parsing
            return
        self.exchange = None
        ex.response_complete(self, self._keep_alive and self.usable)


# Past this, a Content-Length is left to the parser: the byte counts are C integers in the compiled build.
_LENGTH_MAX = 1 << 62


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The response's Content-Length (llhttp has checked it: one value, digits only), or -1 when it has none or
    is framed otherwise (chunked: llhttp refuses a response with both)."""
    length = -1
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return -1
        if lowered == b"content-length":
            length = int(value)
    return length if length <= _LENGTH_MAX else -1
