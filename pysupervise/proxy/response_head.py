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
# Their lengths: a name of another length (Date, Server, Content-Type...) is passed on without being lowered.
_HOP_BY_HOP_LENGTHS = frozenset(len(name) for name in _HOP_BY_HOP)
# Status lines for the codes a worker may send, made once: formatting one per response cost a tenth of the rewrite.
_STATUS_LINES = tuple(b"HTTP/1.1 %d " % status for status in range(100, 600))
# Read per response: module constants are one lookup, an enum member two.
_NONE, _LENGTH, _CHUNKED, _UNTIL_CLOSE = Framing.NONE, Framing.LENGTH, Framing.CHUNKED, Framing.UNTIL_CLOSE


def client_response_head(status: int, reason: bytes, headers: list[tuple[bytes, bytes]],
                         request: "ProxyRequest", must_close: bool,
                         extra: bytes = b"") -> tuple[bytes, Framing, bool]:
    """(head bytes, body framing, close the client connection afterwards); `extra` is more header lines."""
    status_line = _STATUS_LINES[status - 100] if 100 <= status < 600 else b"HTTP/1.1 %d " % status
    parts = [status_line, reason or b"-", b"\r\n"]
    content_length = None
    request_id = request.request_id
    upgrade = b""
    for name, value in headers:
        if len(name) not in _HOP_BY_HOP_LENGTHS:
            # Appended one by one: `parts += (...)` made a tuple per header (compiled, an append is inlined).
            parts.append(name)
            parts.append(b": ")
            parts.append(value)
            parts.append(b"\r\n")
            continue
        lowered = name.lower()
        if lowered in _HOP_BY_HOP:
            if lowered == b"content-length":
                content_length = value
            elif lowered == b"x-request-id":
                request_id = value
            elif lowered == b"upgrade":
                upgrade = value
            continue
        parts.append(name)
        parts.append(b": ")
        parts.append(value)
        parts.append(b"\r\n")
    parts.append(b"X-Request-Id: ")
    parts.append(request_id)
    parts.append(b"\r\n")
    parts.append(extra)
    close = must_close or not request.keep_alive
    if status == 101:
        parts += (b"Connection: Upgrade\r\nUpgrade: ", upgrade, b"\r\n\r\n")
        return b"".join(parts), _NONE, False
    if request.method == b"HEAD" or status in (204, 304):
        framing = _NONE
        if content_length is not None:
            parts += (b"Content-Length: ", content_length, b"\r\n")
    elif content_length is not None:
        framing = _LENGTH
        parts += (b"Content-Length: ", content_length, b"\r\n")
    elif request.http_minor >= 1:
        framing = _CHUNKED
        parts.append(b"Transfer-Encoding: chunked\r\n")
    else:
        framing = _UNTIL_CLOSE
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
