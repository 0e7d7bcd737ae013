"""An app as the proxy sees it: where its requests go and the per-app rules for sending them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from pysupervise.proxy.access_log import AccessLog
from pysupervise.proxy.dispatcher import Dispatcher
from pysupervise.proxy.exchange import Exchange

if TYPE_CHECKING:
    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.request import ProxyRequest


class AppBackend:
    """Created by the supervisor per app; the route table points at it; the dispatcher picks workers."""

    __slots__ = ("name", "dispatcher", "upstream_timeout", "status_counts", "bytes_in", "bytes_out",
                 "failure_detail", "sticky", "access_log", "sticky_cookie")

    def __init__(self, name: str, *, queue_limit: int, queue_timeout: float, upstream_timeout: float,
                 sticky: bool = False, access_log: AccessLog | None = None) -> None:
        self.name = name
        self.sticky = sticky
        self.sticky_cookie = f"pysupervise_{name}".encode()
        self.access_log = access_log
        self.dispatcher = Dispatcher(name, queue_limit, queue_timeout)
        self.upstream_timeout = upstream_timeout
        self.status_counts: Counter[int] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        # Crash output shown (to loopback clients) when the app as a whole cannot serve.
        self.failure_detail = ""

    @property
    def backend(self) -> "AppBackend":
        """Route targets name the app they belong to; an app's backend is itself."""
        return self

    def new_exchange(self, client: "ClientConnection", request: "ProxyRequest") -> Exchange:
        return Exchange(client, request, self)

    def reconfigure(self, *, queue_limit: int, queue_timeout: float, upstream_timeout: float,
                    sticky: bool = False) -> None:
        self.dispatcher.queue_limit = queue_limit
        self.dispatcher.queue_timeout = queue_timeout
        self.upstream_timeout = upstream_timeout
        self.sticky = sticky
