"""One client request as the proxy holds it: head fields it needs plus the headers to forward."""

from __future__ import annotations

import re

from pysupervise.proxy.body import RequestBody
from pysupervise.proxy.forwarded import TrustedProxies
from pysupervise.proxy.head_checks import RequestRejected

# Hop-by-hop headers (RFC 9110 §7.6.1) are for this connection only; the proxy writes its own.
# X-Forwarded-* and X-Request-Id are replaced by the proxy's own values (forwarded.py decides them);
# Forwarded and X-Real-IP never reach a worker, so no framework can be led to believe a client's word.
_SPECIAL = {
    b"host": "host",
    b"connection": "connection",
    b"keep-alive": "drop",
    b"proxy-connection": "proxy_connection",
    b"te": "drop",
    b"trailer": "drop",
    b"transfer-encoding": "framing",
    b"content-length": "length",
    b"upgrade": "upgrade",
    b"expect": "expect",
    b"x-forwarded-for": "xff",
    b"x-forwarded-proto": "xfp",
    b"x-forwarded-host": "xfh",
    # The route prefix a worker is mounted at is the proxy's to say (routing.py), never a client's.
    b"x-forwarded-prefix": "drop",
    b"forwarded": "drop",
    b"x-real-ip": "drop",
    b"x-request-id": "request_id",
    b"accept": "accept",
    b"cookie": "cookie",
    b"x-pysupervise-debug": "debug",
}
# CGI variables that servers fill from the request, not from a header: a header spelled like one (Script_Name)
# is dropped even with [proxy] underscores_in_headers on.
_CGI_VARIABLES = frozenset({b"script-name", b"path-info", b"remote-addr", b"remote-host", b"remote-user",
                            b"request-method", b"query-string", b"server-name", b"server-port", b"content-type",
                            b"auth-type", b"gateway-interface", b"server-protocol", b"server-software"})
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,200}$")
# Connection tokens that name no header to drop; Host is not a client's to remove (nginx drops none).
_NOT_HOP_BY_HOP = (b"close", b"keep-alive", b"upgrade", b"host")
# Raw bytes >= 0x80 in a target (client/raw_target.py lets them in); workers get them percent-encoded.
HIGH_BYTE = re.compile(rb"[\x80-\xff]")
IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})


class ProxyRequest:
    """A parsed request; `headers` holds what is forwarded unchanged, in order, duplicates kept."""

    __slots__ = ("method", "url", "http_minor", "headers", "host", "connection_tokens", "upgrade", "expect",
                 "xff", "xfp", "xfh", "scheme", "forwarded_host", "request_id", "accept", "cookies", "body",
                 "has_body", "keep_alive", "wants_upgrade",
                 "started", "client_ip", "tunnel_prefix", "target", "mount_header", "declared_length",
                 "rejection", "debug_header", "held_cost", "underscored", "routing_held", "proxy_connection")

    def __init__(self, client_ip: str, started: float) -> None:
        self.method = b""
        self.url = b""
        self.held_cost = 0  # while it waits behind another request: what its head costs (client/connection.py)
        self.http_minor = 1
        self.headers: list[tuple[bytes, bytes]] = []
        self.host = b""
        # The rarely sent ones start as the shared empty tuple: a list each is made only when one comes.
        self.connection_tokens: list[bytes] | tuple[()] = ()
        self.upgrade = b""
        self.expect = b""
        self.xff: list[bytes] | tuple[()] = ()
        self.xfp: list[bytes] | tuple[()] = ()
        self.xfh: list[bytes] | tuple[()] = ()
        # What the proxy vouches for (forwarded.py): the peer's word, or trusted proxies' in front of it.
        self.scheme = b"http"
        self.forwarded_host = b""
        self.request_id = b""
        self.accept = b""
        self.cookies: list[bytes] | tuple[()] = ()
        # Headers with "_" in their names, set aside: dropped unless [proxy] underscores_in_headers (keep_underscored).
        self.underscored: list[tuple[bytes, bytes]] | tuple[()] = ()
        self.body: RequestBody | None = None
        self.has_body = False
        self.keep_alive = True
        self.wants_upgrade = False
        self.started = started
        self.client_ip = client_ip
        self.tunnel_prefix = b""
        # Where the route table sent it: an AppBackend or a StaticSite (both have new_exchange).
        self.target = None
        # The route's X-Forwarded-Prefix head line (b"" at "/", for static folders and with mount_prefix = false).
        self.mount_header = b""
        # Its head came while the fronts switched route tables (routing.py RoutingHold): routed when they are done.
        self.routing_held = False
        # Content-Length as sent (llhttp has checked it is one valid number), or -1.
        self.declared_length = -1
        # (status, detail) when the proxy answers this request itself after the ones before it.
        self.rejection: tuple[int, str] | None = None
        self.debug_header = False
        # A Proxy-Connection header came (dropped): llhttp reads its keep-alive as Connection's.
        self.proxy_connection = False

    def add_header(self, name: bytes, value: bytes) -> None:
        kind = _SPECIAL.get(name.lower())
        if kind is None:
            # CGI and WSGI spell "X_Forwarded_For" and "X-Forwarded-For" alike (HTTP_X_FORWARDED_FOR): an
            # underscored twin would merge into a value the proxy vouches for. Dropped, as nginx does by default.
            if b"_" not in name:
                self.headers.append((name, value))
            else:
                self.underscored = [*self.underscored, (name, value)]
        elif kind == "host":
            if self.host or not value:
                # Two Hosts could route by one and reach the app with the other (RFC 9112 §3.2).
                raise RequestRejected(400, "a request must carry exactly one non-empty Host header")
            self.host = value
            self.headers.append((name, value))
        elif kind == "connection":
            self.connection_tokens = [*self.connection_tokens, *(t.strip().lower() for t in value.split(b","))]
        elif kind == "upgrade":
            self.upgrade = value
        elif kind == "expect":
            self.expect = value.lower()
        elif kind == "xff":
            self.xff = [*self.xff, value]
        elif kind == "xfp":
            self.xfp = [*self.xfp, value]
        elif kind == "xfh":
            self.xfh = [*self.xfh, value]
        elif kind == "request_id":
            self.request_id = value
        elif kind == "length":
            self.has_body = True
            self.declared_length = int(value)
        elif kind == "framing":
            self.has_body = True
        elif kind == "proxy_connection":
            self.proxy_connection = True
        elif kind == "debug":
            self.debug_header = value not in (b"", b"0")
            self.headers.append((name, value))
        elif kind == "accept":
            self.accept = value
            self.headers.append((name, value))
        elif kind == "cookie":
            self.cookies = [*self.cookies, value]
            self.headers.append((name, value))
        # "drop": hop-by-hop or rewritten by the proxy.

    @property
    def path(self) -> bytes:
        return self.url.split(b"?", 1)[0]

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    @property
    def is_websocket(self) -> bool:
        return self.wants_upgrade and self.upgrade.lower() == b"websocket"

    def cookie(self, name: bytes) -> bytes | None:
        """One cookie's value (parsed only when a feature asks: sticky sessions, the debug cookie)."""
        for header in self.cookies:
            for pair in header.split(b";"):
                key, _, value = pair.strip().partition(b"=")
                if key == name:
                    return value
        return None

    def believe_proxies(self, trusted: TrustedProxies) -> None:
        """The peer is a trusted proxy: the client, scheme and host are what the forwarding headers say."""
        self.client_ip = trusted.client(self.client_ip, self.xff)
        self.scheme = trusted.scheme(self.xfp) or self.scheme
        self.forwarded_host = trusted.host(self.xfh) or b""

    def keep_underscored(self) -> None:
        """[proxy] underscores_in_headers: the headers with "_" go on, after the others (only fields of one name
        have an order that means something), except twins of the proxy's own: under CGI's spelling they would be
        the proxy's word, and gunicorn takes a SCRIPT_NAME header as the mount prefix."""
        for name, value in self.underscored:
            dashed = name.replace(b"_", b"-").lower()
            if dashed not in _SPECIAL and dashed not in _CGI_VARIABLES:
                self.headers.append((name, value))

    def keep_request_id(self, fresh: bytes) -> bytes:
        """The client's X-Request-Id when it is sane, otherwise `fresh`."""
        if not self.request_id or not _SANE_REQUEST_ID.match(self.request_id):
            self.request_id = fresh
        return self.request_id

    def upstream_head(self) -> bytes:
        """The request head sent to a worker: same URL, same headers, the proxy's own forwarding headers."""
        url = self.url if self.url.isascii() else HIGH_BYTE.sub(_percent_encoded, self.url)
        parts = [self.method, b" ", url, b" HTTP/1.1\r\n"]
        extra = self.connection_tokens
        named_hop_headers = [t for t in extra if t not in _NOT_HOP_BY_HOP] if extra else ()
        # Appended one by one: `parts += (...)` made a tuple per header (compiled, an append is inlined).
        for name, value in self.headers:
            if named_hop_headers and name.lower() in named_hop_headers:
                continue
            parts.append(name)
            parts.append(b": ")
            parts.append(value)
            parts.append(b"\r\n")
        # One address, the proxy's decision: workers trust this header because only the proxy reaches them.
        parts.append(b"X-Forwarded-For: ")
        parts.append(self.client_ip.encode())
        parts.append(b"\r\nX-Forwarded-Proto: ")
        parts.append(self.scheme)
        host = self.forwarded_host or self.host
        if host:
            parts.append(b"\r\nX-Forwarded-Host: ")
            parts.append(host)
        parts.append(b"\r\nX-Request-Id: ")
        parts.append(self.request_id)
        parts.append(b"\r\n")
        if self.mount_header:
            parts.append(self.mount_header)
        if self.wants_upgrade and self.upgrade.lower() == b"websocket":  # is_websocket, without a property call
            parts.append(b"Connection: Upgrade\r\nUpgrade: " + self.upgrade + b"\r\n")
        if self.has_body:
            parts += (b"Content-Length: ", str(self.body.size if self.body else 0).encode(), b"\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)


def _percent_encoded(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]
