"""One request's trip: a worker slot, a pooled connection, the response streamed back, or a tunnel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysupervise.proxy.response_buffer import ResponseBuffer
from pysupervise.proxy.response_head import Framing, client_response_head
from pysupervise.proxy.tunnel.tunnel_side import TunnelSide
from pysupervise.proxy.worker_failures import WorkerFailures
from pysupervise.proxy.tunnel.websocket_close import FrameBoundary

if TYPE_CHECKING:
    from pysupervise.proxy.backend import AppBackend
    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.endpoint import Endpoint
    from pysupervise.proxy.request import ProxyRequest
    from pysupervise.proxy.upstream import UpstreamConnection

# A response of known length is held, up to this many bytes, and leaves in one write once whole: a worker that
# writes its head and its body apart (aiohttp's FileResponse) would otherwise leave, if the master died between
# the two, a balancer with a head it cannot retry elsewhere (nginx retries a GET only before the first byte).
_HOLD_MAX = 64 * 1024
# Read per response piece: module constants are one lookup, an enum member two.
_NO_BODY, _LENGTH, _CHUNKED = Framing.NONE, Framing.LENGTH, Framing.CHUNKED


class ExchangeState:
    """Exchange's attributes, in a base of their own: compiled, it is the extension type (exchange.pxd types
    them) that an extension type's first base must be, and TunnelSide stays a plain mixin after it."""

    __slots__ = ("client", "request", "backend", "endpoint", "upstream", "finished", "interim", "status",
                 "framing", "close_after", "connect_attempts", "tunnel", "bytes_out", "_head",
                 "last_endpoint_label", "sticky_slot", "_awaiting", "_frames", "_closing_tunnel", "is_debug",
                 "_out", "_draining", "resent", "_held", "cut_short")


class Exchange(ExchangeState, TunnelSide, WorkerFailures):
    """Driven by callbacks from the dispatcher, the upstream connection and the client connection.

    The worker's part (slot, pooled connection) ends when the worker has sent the whole response;
    the client's part (access log, the next pipelined request) when the client has taken it all.
    """

    __slots__ = ()

    def __init__(self, client: "ClientConnection", request: "ProxyRequest", backend: "AppBackend") -> None:
        self.client = client
        self.request = request
        self.backend = backend
        self.endpoint: Endpoint | None = None
        self.upstream: UpstreamConnection | None = None
        self.finished = False
        self.interim = False
        self.status = 0
        self.framing = _NO_BODY
        self.close_after = False
        self.connect_attempts = 0
        self.tunnel = False
        self.bytes_out = 0
        self.last_endpoint_label = ""
        self._head: bytes | None = None
        self.sticky_slot: int | None = None
        self._awaiting: Endpoint | None = None
        self._frames: FrameBoundary | None = None
        self._closing_tunnel = 0  # the websocket close code to send once closing (0: not closing)
        self.is_debug = False
        # The response on its way to the client, read ahead of a slow one: the slot is freed before it has it all.
        self._out: ResponseBuffer | None = None
        self._draining = False
        # The worker closed a reused connection under this request without answering: it went again to that
        # worker alone (resend_to_same_worker), and any further failure is final.
        self.resent = False
        self._held = -1  # bytes of the response held back so far (-1: not holding; see _HOLD_MAX)
        # The worker broke off its response after the head, and its framing shows the client the cut (_cut_off).
        self.cut_short = False

    def now(self) -> float:
        return self.client.loop.time()

    # -- getting a worker ---------------------------------------------------------------------

    def start(self, avoid: "Endpoint | None" = None) -> None:
        backend = self.backend
        debug = backend.debug_endpoint
        request = self.request
        if debug is not None and avoid is None and debug.alive and (
                request.debug_header or request.cookie(backend.debug_cookie) is not None):
            # The debug worker is outside the normal rotation: no queue, no slot limit, no timeout.
            self.is_debug = True
            debug.in_flight += 1
            self.assigned(debug)
            return
        if backend.sticky and avoid is None:
            slot = request.cookie(backend.sticky_cookie)
            self.sticky_slot = int(slot) if slot is not None and slot.isdigit() else None
        endpoint = backend.dispatcher.acquire(self, avoid, self.sticky_slot)
        if endpoint is not None:
            self.assigned(endpoint)

    def assigned(self, endpoint: "Endpoint") -> None:
        """A slot on `endpoint` is ours (now, or after waiting in the queue)."""
        self.endpoint = endpoint
        self.last_endpoint_label = endpoint.label
        conn = endpoint.take_idle()
        if not self.request.idempotent:
            while conn is not None and conn.closed_by_peer():
                conn.close()
                conn = endpoint.take_idle()
        if conn is None:
            endpoint.open_connection(self)
        else:
            self._send(conn)

    def rejected(self, status: int, reason: str) -> None:
        """The dispatcher will not serve this request (queue full, queue timeout, app unavailable)."""
        if self.finished:
            return
        self.finished = True
        diagnostics = self.backend.failure_detail if status == 503 else ""
        self.client.exchange_failed(self, status, reason, diagnostics, retry_after=status == 503)

    def connected(self, conn: "UpstreamConnection") -> None:
        if self.finished:
            # The client left while we were connecting; the connection is still good for others.
            conn.endpoint.give_back(conn)
            return
        if self.resent and not conn.endpoint.alive:
            # Retired since the close: it died, and what answers on its socket's path is its replacement.
            conn.close()
            self.connect_failed(ConnectionError("the worker exited"))
            return
        self._send(conn)

    # -- sending ------------------------------------------------------------------------------

    def _send(self, conn: "UpstreamConnection") -> None:
        self.upstream = conn
        request = self.request
        conn.bind(self, no_body=request.method == b"HEAD")
        head = self._head
        if head is None:
            head = self._head = request.upstream_head()
        body = request.body
        # A busy worker reads this with the pass's other requests, at its end (client/cork.py); an idle one (nothing
        # awaited from it) starts on it now, on another core, while the pass goes on.
        endpoint = self.endpoint
        cork = self.client.cork if endpoint is not None and endpoint.awaiting else None
        if body is not None and body.size:
            body.send(conn.transport, head, cork)
        elif cork is not None:
            cork.hold_write(conn.transport, head)
        else:
            conn.transport.write(head)
        if not self.is_debug:  # a debug worker may sit at a breakpoint for as long as the user likes
            now = self.now()
            self.client.expect_response_by(now + self.backend.upstream_timeout)
            self._awaiting = self.endpoint
            self.endpoint.request_sent(now)

    def upstream_write_paused(self, paused: bool) -> None:
        body = self.request.body
        if self.tunnel:
            self.client.pause_reading(paused)
        elif body is not None and self.upstream is not None:
            body.pump_paused = paused
            if not paused:
                if not self.is_debug:
                    self.client.worker_took_request(self.backend.upstream_timeout)
                body.pump(self.upstream.transport)

    # -- the response -------------------------------------------------------------------------

    def response_head(self, status: int, reason: bytes, headers: list, upstream_keep_alive: bool) -> None:
        if status < 200 and status != 101:
            self.interim = True
            return
        self._answered(answered=True)
        self.client.response_started(status != 101)  # a tunnel's silences are its own (tunnel_side.py)
        self.status = status
        head, self.framing, self.close_after = client_response_head(
            status, reason, headers, self.request, self.client.must_close, self._extra_lines())
        if status == 101:
            self.client.write(head)  # a tunnel follows, and tunnels are never buffered (see upgraded)
            return
        if self.framing is _LENGTH and self._out is None and not self.client.write_paused:
            self._held = len(head)
            self.client.begin_batch()  # ended by _release_hold: the batch's writes leave together
        self._forward(head)

    def pass_response(self, status: int, data: bytes, head_end: int) -> bool:
        """A whole response in one read, whose head needs nothing dropped or replaced (response_head.passable_head):
        passed on as the worker wrote it, with the request id (and _extra_lines) added before the blank line, unless
        the client needs its head rewritten (False: nothing was done, the parser's way takes it)."""
        request = self.request
        if not request.keep_alive or request.http_minor == 0 or request.wants_upgrade or self.client.must_close:
            return False
        self._answered(answered=True)
        self.client.response_started(True)
        self.status = status
        self.framing = _LENGTH
        self.close_after = False
        self.bytes_out += len(data) - head_end
        # Its blank line and body, data[head_end - 2:], are what follows the added lines.
        self._forward(data[:head_end - 2])
        self._forward(b"X-Request-Id: " + request.request_id + b"\r\n" + self._extra_lines())
        self._forward(data[head_end - 2:])
        return True

    def _extra_lines(self) -> bytes:
        """The head lines the app's settings add: the sticky worker's cookie, the worker's label."""
        extra = b""
        backend = self.backend
        endpoint = self.endpoint
        if backend.sticky and endpoint is not None and endpoint.slot != self.sticky_slot and not self.is_debug:
            extra = b"Set-Cookie: %s=%d; Path=/; HttpOnly; SameSite=Lax\r\n" % (backend.sticky_cookie, endpoint.slot)
        if backend.worker_header and endpoint is not None:
            extra += self.client.server.worker_header + endpoint.label.encode() + b"\r\n"
        return extra

    def response_body(self, data: bytes) -> None:
        self.bytes_out += len(data)
        framing = self.framing
        if framing is not _NO_BODY:
            self._forward(data, chunk=framing is _CHUNKED)
            if self._held >= 0:
                self._held += len(data)
                if self._held > _HOLD_MAX:
                    self._release_hold()

    def response_complete(self, conn: "UpstreamConnection", keep_alive: bool) -> None:
        if self.framing is _CHUNKED:
            self._forward(b"0\r\n\r\n")
        if self._out is not None:
            self._out.release_worker()
        self.upstream = None
        conn.unbind()
        if keep_alive:
            conn.endpoint.give_back(conn)
        else:
            conn.close()
        self._done(drain=True)

    def _forward(self, data: bytes, chunk: bool = False) -> None:
        """Response bytes to the client: straight to its transport while it keeps up; once it falls behind, through
        a ResponseBuffer made then (most responses never need one, and making one per response cost 1 µs)."""
        out = self._out
        if out is None:
            if self.finished:
                return  # the client is gone
            if self.client.write_paused:
                out = self._out = ResponseBuffer(self.client, self.upstream.transport if self.upstream else None)
        target = out if out is not None else self.client  # both take write() and write_chunk()
        if chunk:
            target.write_chunk(data)
        else:
            target.write(data)

    # -- the client side ----------------------------------------------------------------------

    def client_write_paused(self, paused: bool) -> None:
        conn = self.upstream
        if self.tunnel:
            # A tunnel is never buffered: the worker waits for the client.
            if conn is not None and conn.transport is not None:
                if paused:
                    conn.transport.pause_reading()
                else:
                    conn.transport.resume_reading()
        elif not paused:
            if self._out is not None:
                self._out.drain()
                if self._draining and not self._out.size:
                    self._client_done()
                    return
            self.watch_worker()

    def client_lost(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._drop_out()
        if self._draining:
            return  # the worker's part is over: its slot and connection are gone already
        self._answered()
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.unbind()
            conn.close()  # the response is incomplete: the connection cannot be reused
        if self.endpoint is None:
            self.backend.dispatcher.withdraw(self)
        self._release_slot()
        self._close_body()

    # -- ending -------------------------------------------------------------------------------

    def _answered(self, answered: bool = False, timed_out: bool = False) -> None:
        """The request no longer waits for the worker's answer (it came, or it never will)."""
        endpoint, self._awaiting = self._awaiting, None
        if endpoint is not None:
            endpoint.request_answered(self.now(), answered, timed_out)

    def _release_slot(self) -> None:
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is not None:
            if self.tunnel:
                endpoint.tunnels.discard(self)
            self.backend.dispatcher.release(endpoint)

    def _fail(self, status: int, reason: str, endpoint: "Endpoint | None", may_have_died: bool = True) -> None:
        """Answer `status` (with the worker's stderr for the clients shown it). `may_have_died`: a 502 waits (up to
        1 s) for the worker's exit to be seen, as more of its stderr is on its way if it died."""
        self.finished = True
        self._close_body()
        if endpoint is None or endpoint.diagnostics is None:
            self.client.exchange_failed(self, status, reason, "", retry_after=False)
            return

        def answer(stderr: str | None = None) -> None:
            if not self.client.closed:
                shown = endpoint.diagnostics() if stderr is None else stderr
                self.client.exchange_failed(self, status, reason, shown, retry_after=False)

        if status == 502 and may_have_died:
            endpoint.call_when_retired(answer, timeout=1.0)
        elif endpoint.ask_diagnostics is not None and self.client.loopback and self.client.settings.dev_errors:
            endpoint.ask_diagnostics(answer)  # a live worker's stderr, from the master (only shown to these clients)
        else:
            answer()

    def _done(self, drain: bool = False) -> None:
        """The worker is done: free its slot now; the client is done now, or (`drain`) once it has it all."""
        self._release_hold()
        self.client.worker_finished()
        endpoint = self.endpoint
        if endpoint is not None:
            endpoint.answered_one_more()
        self._release_slot()
        self._close_body()
        self._draining = drain
        if not drain or self._out is None or not self._out.size:
            self._client_done()

    def _release_hold(self) -> None:
        if self._held >= 0:
            self._held = -1
            self.client.end_batch()

    def _client_done(self) -> None:
        self.finished = True
        self._drop_out()
        if self.cut_short:
            self.client.exchange_cut_short(self)
        else:
            self.client.exchange_done(self)

    def account(self, now: float) -> None:
        """Counted in its app's statistics and access log, as ended at `now` (ProxyServer.exchange_finished)."""
        request = self.request
        self.backend.finished(self.status, self.bytes_out, request, now - request.started, self.last_endpoint_label)

    def _drop_out(self) -> None:
        out, self._out = self._out, None
        if out is not None:  # what it still held never reached the client: not in the log's byte count
            self.bytes_out = max(0, self.bytes_out - out.size)
            out.close()

    def _close_body(self) -> None:
        body = self.request.body
        if body is not None:
            body.close()
