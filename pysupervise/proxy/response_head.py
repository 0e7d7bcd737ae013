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

# passable_head scans a head a byte at a time: a C loop in the compiled build, 30 times httptools' cost as Python.
SCANS_HEADS = not __file__.endswith(".py")
# RFC 9110's token characters, the bytes a header name is made of: non-zero at their code.
_TOKEN = bytes(1 if chr(code).isascii() and (chr(code).isalnum() or chr(code) in "!#$%&'*+-.^_`|~") else 0
               for code in range(256))
_HTTP11 = b"HTTP/1.1 "
# The head's names client_response_head drops or replaces, but Content-Length: a response with one takes the parser.
_REWRITTEN = tuple(name for name in _HOP_BY_HOP if name != b"content-length")
# Non-zero at the lengths of those names: most names are of another length, and are not compared with any.
_REWRITTEN_LENGTHS = bytes(1 if any(len(name) == length for name in _REWRITTEN) else 0 for length in range(32))
_CONTENT_LENGTH = b"content-length"
# More digits than this in a Content-Length is left to the parser (and to its limits).
_LENGTH_DIGITS_MAX = 15


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


def passable_head(data: bytes) -> int:
    """The length of the head of the whole response in `data`, if the client can take that head as the worker wrote
    it (with the request id added): else -1, and the parser takes it, as it takes every other response.

    Passable: `HTTP/1.1 <200-599 but 204 and 304> <reason>`; token names; values of visible bytes, spaces, tabs and
    obs-text; one Content-Length, of digits, that frames exactly the rest of `data`; no header client_response_head
    would drop or replace. Stricter than the parser on every count, so nothing it refuses is passed on.
    """
    end = len(data)
    if end < 17:
        return -1
    for at in range(9):
        if data[at] != _HTTP11[at]:
            return -1
    status = 0
    for at in range(9, 12):
        digit = data[at] - 48
        if digit < 0 or digit > 9:
            return -1
        status = status * 10 + digit
    if status < 200 or status > 599 or status == 204 or status == 304 or data[12] != 32:
        return -1
    at = 13
    while at < end and data[at] != 13:
        byte = data[at]
        if (byte < 32 and byte != 9) or byte > 126:
            return -1
        at += 1
    if at == 13:
        return -1  # no reason phrase: the parser's way writes one
    length = -1
    while True:
        # `at` is on the CR that ends the line before.
        if at + 1 >= end or data[at + 1] != 10:
            return -1
        at += 2
        if at >= end:
            return -1
        if data[at] == 13:  # the blank line
            if at + 1 >= end or data[at + 1] != 10:
                return -1
            head_end = at + 2
            return head_end if length >= 0 and head_end + length == end else -1
        name_start = at
        while at < end and _TOKEN[data[at]]:
            at += 1
        name_length = at - name_start
        if name_length == 0 or at >= end or data[at] != 58:  # ":"
            return -1
        if _REWRITTEN_LENGTHS[name_length if name_length < 32 else 0]:
            for name in _REWRITTEN:
                if len(name) == name_length and _is_named(data, name_start, name):
                    return -1
        counted = name_length == 14 and _is_named(data, name_start, _CONTENT_LENGTH)
        if counted and length >= 0:
            return -1  # a second Content-Length
        at += 1
        value_start = -1
        value_end = at
        while at < end and data[at] != 13:
            byte = data[at]
            if (byte < 32 and byte != 9) or byte == 127:
                return -1
            if byte != 32 and byte != 9:
                if value_start < 0:
                    value_start = at
                value_end = at + 1
            at += 1
        if counted:
            if value_start < 0 or value_end - value_start > _LENGTH_DIGITS_MAX:
                return -1
            length = 0
            for digit_at in range(value_start, value_end):
                digit = data[digit_at] - 48
                if digit < 0 or digit > 9:
                    return -1
                length = length * 10 + digit


def _is_named(data: bytes, start: int, lowered: bytes) -> bool:
    """Whether the header name at `start` is `lowered` in any case (both are token bytes, where `| 0x20` lowers
    letters and changes no other byte of these names into a letter or a dash)."""
    for at in range(len(lowered)):
        if data[start + at] | 0x20 != lowered[at]:
            return False
    return True
