"""A response the proxy has whole in hand (the health page), written through the same callbacks as an Exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysupervise.proxy.error_pages import REASONS
from pysupervise.proxy.response_head import client_response_head

if TYPE_CHECKING:
    from pysupervise.proxy.backend import AppBackend
    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.request import ProxyRequest

_JSON = b"application/json"


class LocalAnswer:
    """Writes one small body at start (no worker, no waiting); the connection sees it as a finished exchange."""

    __slots__ = ("client", "request", "backend", "status", "bytes_out", "close_after", "finished", "tunnel",
                 "upstream", "last_endpoint_label", "_body", "_content_type")

    def __init__(self, client: "ClientConnection", request: "ProxyRequest", backend: "AppBackend", status: int,
                 body: bytes, content_type: bytes = _JSON, label: str = "pysupervise") -> None:
        self.client = client
        self.request = request
        self.backend = backend  # whose counters and access log take the request
        self.status = status
        self.bytes_out = 0
        self.close_after = False
        self.finished = False
        self.tunnel = False
        self.upstream = None
        self.last_endpoint_label = label
        self._body = body
        self._content_type = content_type

    def start(self) -> None:
        request = self.request
        if request.method not in (b"GET", b"HEAD"):
            self.finished = True
            self.client.exchange_failed(self, 405, "this page answers GET and HEAD only", "", retry_after=False,
                                        extra_headers=b"Allow: GET, HEAD\r\n")
            return
        body = self._body
        headers = [(b"Content-Type", self._content_type), (b"Content-Length", b"%d" % len(body)),
                   (b"Cache-Control", b"no-store")]
        head, _framing, self.close_after = client_response_head(
            self.status, REASONS.get(self.status, "OK").encode(), headers, request, self.client.must_close)
        if request.method == b"HEAD":
            self.client.write_answer(head)
        else:
            self.client.write_answer(head + body)
            self.bytes_out = len(body)
        self.finished = True
        self.client.exchange_done(self)

    def account(self, now: float) -> None:
        """Counted in its app's statistics and access log, as ended at `now` (ProxyServer.exchange_finished)."""
        self.backend.finished(self.status, self.bytes_out, self.request, now - self.request.started,
                              self.last_endpoint_label)

    def client_write_paused(self, paused: bool) -> None:
        """Everything was written at start: the transport holds what the client has not read yet."""

    def client_lost(self) -> None:
        self.finished = True

    def upstream_timed_out(self) -> None:
        """A local answer never waits for a worker."""
