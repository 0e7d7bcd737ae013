"""Rewrites a worker's response head for the client: hop-by-hop headers out, the proxy's framing in."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysupervise.proxy.request import ProxyRequest


class Framing(enum.Enum):
    NONE = 0          # HEAD, 1xx, 204, 304 and 101: no body follows
    LENGTH = 1        # Content-Length passed through; body bytes forwarded as they come
    CHUNKED = 2       # re-chunked for HTTP/1.1 clients, one chunk per piece received (never coalesced)
    UNTIL_CLOSE = 3   # HTTP/1.0 clients without a length: the body ends when the connection closes


# Response headers that describe the worker connection, not the message.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
                         b"trailer", b"upgrade", b"content-length", b"x-request-id"})


def client_response_head(status: int, reason: bytes, headers: list[tuple[bytes, bytes]],
                         request: "ProxyRequest", must_close: bool,
                         extra: bytes = b"") -> tuple[bytes, Framing, bool]:
    """(head bytes, body framing, close the client connection afterwards); `extra` is more header lines."""
    parts = [b"HTTP/1.1 %d " % status, reason or b"-", b"\r\n"]
    content_length = None
    request_id = request.request_id
    upgrade = b""
    for name, value in headers:
        lowered = name.lower()
        if lowered in _HOP_BY_HOP:
            if lowered == b"content-length":
                content_length = value
            elif lowered == b"x-request-id":
                request_id = value
            elif lowered == b"upgrade":
                upgrade = value
            continue
        parts += (name, b": ", value, b"\r\n")
    parts += (b"X-Request-Id: ", request_id, b"\r\n", extra)
    close = must_close or not request.keep_alive
    if status == 101:
        parts += (b"Connection: Upgrade\r\nUpgrade: ", upgrade, b"\r\n\r\n")
        return b"".join(parts), Framing.NONE, False
    if request.method == b"HEAD" or status in (204, 304):
        framing = Framing.NONE
        if content_length is not None:
            parts += (b"Content-Length: ", content_length, b"\r\n")
    elif content_length is not None:
        framing = Framing.LENGTH
        parts += (b"Content-Length: ", content_length, b"\r\n")
    elif request.http_minor >= 1:
        framing = Framing.CHUNKED
        parts.append(b"Transfer-Encoding: chunked\r\n")
    else:
        framing = Framing.UNTIL_CLOSE
        close = True
    if request.wants_upgrade:
        # The worker declined the upgrade; the parser stopped at it, so this connection ends here.
        close = True
    if close:
        parts.append(b"Connection: close\r\n\r\n")
    elif request.http_minor == 0:
        parts.append(b"Connection: keep-alive\r\n\r\n")
    else:
        parts.append(b"\r\n")
    return b"".join(parts), framing, close
