"""An app as the proxy sees it: where its requests go and the per-app rules for sending them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Protocol

from pysupervise.proxy.dispatcher import Dispatcher
from pysupervise.proxy.exchange import Exchange

if TYPE_CHECKING:
    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.endpoint import Endpoint
    from pysupervise.proxy.request import ProxyRequest


# Upper bounds (seconds) of the request duration histogram, Prometheus-style (cumulative when exported).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AccessLogSink(Protocol):
    """Where an app's access lines go (logs.access_log.AccessLog): buffered, flushed by the sweeper, never raising."""

    dropped_lines: int

    def record(self, client_ip: str, method: bytes, url: bytes, status: int, body_bytes: int,
               seconds: float, worker: str, request_id: bytes) -> None: ...

    def flush(self) -> None: ...


class DurationHistogram:
    """Request durations of one app: a count per bucket (the last counts everything slower), and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # The first bucket whose bound is not below `seconds` (bisect_left's answer): compiled, a loop over C doubles
        # costs a tenth of a bisect's Python comparisons.
        index = 0
        for bound in DURATION_BUCKETS:
            if seconds <= bound:
                break
            index += 1
        self.counts[index] += 1
        self.total += seconds


class AppBackend:
    """Created by the supervisor per app; the route table points at it; the dispatcher picks workers."""

    __slots__ = ("name", "dispatcher", "upstream_timeout", "status_counts", "bytes_in", "bytes_out",
                 "failure_detail", "sticky", "access_log", "sticky_cookie", "durations", "debug_endpoint",
                 "debug_cookie", "worker_header", "truncated")

    def __init__(self, name: str, *, queue_limit: int, queue_timeout: float, upstream_timeout: float,
                 sticky: bool = False, access_log: AccessLogSink | None = None) -> None:
        self.name = name
        self.sticky = sticky
        self.sticky_cookie = f"pysupervise_{name}".encode()
        self.access_log = access_log
        self.dispatcher = Dispatcher(name, queue_limit, queue_timeout)
        self.upstream_timeout = upstream_timeout
        self.status_counts: Counter[int] = Counter()
        # Responses cut off after their head, by why (worker_failures.py): their status counts say 200, these do not.
        self.truncated: Counter[str] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        self.durations = DurationHistogram()
        # The app's debug worker (issue 8): requests with the debug cookie or header go there.
        self.debug_endpoint: Endpoint | None = None
        self.debug_cookie = f"pysupervise_debug_{name}".encode()
        # debug_header = true: responses say which worker answered (X-Pysupervise-Worker).
        self.worker_header = False
        # Crash output shown (to loopback clients) when the app as a whole cannot serve.
        self.failure_detail = ""

    @property
    def backend(self) -> "AppBackend":
        """Route targets name the app they belong to; an app's backend is itself."""
        return self

    def new_exchange(self, client: "ClientConnection", request: "ProxyRequest") -> Exchange:
        return Exchange(client, request, self)

    def finished(self, status: int, bytes_out: int, request: "ProxyRequest", seconds: float, worker: str) -> None:
        """One request of this app answered (by a worker or its static files): counted, and its access line."""
        self.status_counts[status] += 1
        self.bytes_out += bytes_out
        if request.body is not None:
            self.bytes_in += request.body.size
        self.durations.observe(seconds)
        log = self.access_log
        if log is not None:
            log.record(request.client_ip, request.method, request.url, status, bytes_out, seconds, worker,
                       request.request_id)

    def reconfigure(self, *, queue_limit: int, queue_timeout: float, upstream_timeout: float,
                    sticky: bool = False) -> None:
        self.dispatcher.queue_limit = queue_limit
        self.dispatcher.queue_timeout = queue_timeout
        self.upstream_timeout = upstream_timeout
        self.sticky = sticky
