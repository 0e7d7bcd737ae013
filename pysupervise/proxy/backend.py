"""An app as the proxy sees it: where its requests go and the per-app rules for sending them."""

from __future__ import annotations

from collections import Counter

from pysupervise.proxy.dispatcher import Dispatcher


class AppBackend:
    """Created by the supervisor per app; the route table points at it; the dispatcher picks workers."""

    __slots__ = ("name", "dispatcher", "upstream_timeout", "status_counts", "bytes_in", "bytes_out",
                 "failure_detail")

    def __init__(self, name: str, *, queue_limit: int, queue_timeout: float, upstream_timeout: float) -> None:
        self.name = name
        self.dispatcher = Dispatcher(name, queue_limit, queue_timeout)
        self.upstream_timeout = upstream_timeout
        self.status_counts: Counter[int] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        # Crash output shown (to loopback clients) when the app as a whole cannot serve.
        self.failure_detail = ""

    def reconfigure(self, *, queue_limit: int, queue_timeout: float, upstream_timeout: float) -> None:
        self.dispatcher.queue_limit = queue_limit
        self.dispatcher.queue_timeout = queue_timeout
        self.upstream_timeout = upstream_timeout
