"""The worker half of an Exchange going wrong: a connect that fails, a connection lost or broken, no answer in time."""

from __future__ import annotations

import logging

from pysupervise.proxy.response_head import Framing

# A request whose connection failed before anything was sent may try this many workers.
_MAX_CONNECT_ATTEMPTS = 3
# Why a response was cut off after its head (AppBackend.truncated, the truncated_responses_total metric); the
# first is also the kind of its rate-limited master-log line.
_WORKER_SILENT, _WORKER_CLOSED, _INVALID_RESPONSE = "worker-silent", "worker-closed", "invalid-response"


class WorkerFailures:
    """Mixed into Exchange, whose state it uses. Who may run a request again is decided here: only a request that
    cannot have run goes to another worker; one that may have (and may have killed its worker) never does."""

    __slots__ = ()

    def connect_failed(self, exc: BaseException) -> None:
        if self.finished:
            return
        failed = self.endpoint
        self._release_slot()
        self.connect_attempts += 1
        if self.resent:
            self._fail(502, self._crashed(), failed)  # the request reached it before: it may have died of it
        elif self.connect_attempts >= _MAX_CONNECT_ATTEMPTS:
            self._fail(502, f"cannot connect to a worker of app {self.backend.name!r}: {exc}", failed)
        else:
            # Nothing reached the worker, so any request may go to another one.
            self.start(avoid=failed)

    def upstream_lost(self, unsent: bool = False, ended: bool = False) -> None:
        """The worker connection closed under this exchange; `unsent`: the request provably never arrived; `ended`:
        the response's body was one the worker ends by closing (UpstreamConnection.body_ends_at_close)."""
        self.upstream = None
        if self.finished:
            return
        self._answered()
        if self.tunnel:
            self.client.close()
            self._done()
        elif self.status:
            if ended:
                if self.framing is Framing.CHUNKED:
                    self._forward(b"0\r\n\r\n")
                elif self.framing is Framing.UNTIL_CLOSE:
                    self.close_after = True
                self._done(drain=True)
            else:
                self._cut_off(_WORKER_CLOSED, 502, f"the worker of app {self.backend.name!r} closed the connection "
                                                   f"in the middle of its response (it probably crashed)")
        else:
            failed = self.endpoint
            self._release_slot()
            if unsent and not self.resent and self.connect_attempts < _MAX_CONNECT_ATTEMPTS:
                # A pooled connection the worker closed under us: any method may go again.
                self.connect_attempts += 1
                self.start(avoid=failed)
            else:
                # It may have run, and killed its worker: another worker must not run it too, whatever its method
                # (one poison request would take every worker down). nginx's non-idempotent rule, for crashes.
                self._fail(502, self._crashed(), failed)

    def resend_to_same_worker(self) -> None:
        """No answer on a reused connection: the worker closed it as idle as the request went out, or died of it.
        Only that worker gets it again, on a new connection: alive, it answers; dead, the connect fails (a crash's
        502). No second worker runs a request that may kill workers, and nobody waits for the death to be seen."""
        self.upstream = None
        if self.finished:
            return
        self._answered()
        self.resent = True
        self.endpoint.open_connection(self)

    def _crashed(self) -> str:
        return f"the worker of app {self.backend.name!r} closed the connection without a response (it probably crashed)"

    def upstream_failed(self, problem: str, got_bytes: bool) -> None:
        self.upstream = None
        if self.finished:
            return
        self._answered()
        failed = self.endpoint
        if self.status:
            self._cut_off(_INVALID_RESPONSE, 502, problem)
        else:
            self._release_slot()
            self._fail(502, problem, failed)

    def worker_silence_limit(self) -> float:
        """How long the worker may now pause in the middle of its response (0: as long as it likes). upstream_timeout,
        as nginx's proxy_read_timeout; not for event streams (quiet between events by nature), tunnels, or the debug
        worker (a breakpoint may stop it halfway)."""
        conn = self.upstream
        if self.finished or conn is None or not self.status or self.tunnel or self.is_debug or conn.streams_events():
            return 0.0
        return self.backend.upstream_timeout

    def watch_worker(self) -> None:
        limit = self.worker_silence_limit()
        if limit > 0:
            self.client.watch_worker(limit)

    def worker_went_silent(self) -> None:
        """Nothing from the worker for upstream_timeout in the middle of its response: its slot and connection are
        freed, and the response is cut off (_cut_off: a 504 if it was still held whole)."""
        if self.worker_silence_limit() <= 0:
            return  # an event stream: never timed again
        conn, self.upstream = self.upstream, None
        conn.unbind()
        conn.close()
        self.client.server.task_errors.log.log(
            (_WORKER_SILENT, self.backend.name),
            f"pysupervise: app {self.backend.name!r}: worker {self.last_endpoint_label} sent nothing for "
            f"{self.backend.upstream_timeout:g} s in the middle of a response (upstream_timeout); the client's "
            f"connection was closed (request id {self.request.request_id.decode('ascii', 'replace')})",
            logging.WARNING)
        self._cut_off(_WORKER_SILENT, 504, f"the worker of app {self.backend.name!r} sent nothing for "
                                           f"{self.backend.upstream_timeout:g} s in the middle of its response "
                                           f"(upstream_timeout)")

    def _cut_off(self, cause: str, status: int, reason: str) -> None:
        """The worker's response broke off after its head (`cause`: why, as counted). A response still held whole
        (_HOLD_MAX) is taken back, and the client gets `status` instead. Otherwise the client gets every byte of
        it the worker sent, then a clean close, when its framing (a Content-Length, or chunks without their last)
        shows the cut: as nginx does, and a download can resume from there. A body that ends at the close would
        look whole after a clean close: that one ends with a reset."""
        self.backend.truncated[cause] += 1
        held = self._held
        if held >= 0 and self.client.drop_batch_tail(held):
            self._release_hold()
            self.bytes_out = 0
            self.client.worker_finished()
            failed = self.endpoint
            self._release_slot()
            # At once: a worker that broke off its answer is more often alive (an exception in a streaming handler,
            # its traceback already in its stderr) than dying, and a live one would hold the 502 for the full second.
            self._fail(status, reason, failed, may_have_died=False)
        elif self.framing is Framing.LENGTH or self.framing is Framing.CHUNKED:
            self.cut_short = True
            self._done(drain=True)
        else:
            self.client.abort()
            self._done()

    def upstream_timed_out(self) -> None:
        if self.finished or self.status:
            return
        self._answered(timed_out=True)
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.unbind()
            conn.close()
        failed = self.endpoint
        self._release_slot()
        self._fail(504, f"the worker of app {self.backend.name!r} did not start its response within "
                        f"{self.backend.upstream_timeout:g} s (upstream_timeout)", failed)
