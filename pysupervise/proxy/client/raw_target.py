"""Raw bytes >= 0x80 in a request target, which llhttp refuses: fed to it percent-encoded, then restored.

nginx and gunicorn accept `GET /à HTTP/1.1` with the UTF-8 bytes unescaped; llhttp has no
leniency flag for them. So a chunk that is not ASCII is fed in segments split at each such
byte: one that lies in a request target goes in as `%XX`, and its offset in the URL is noted so
the head can carry the client's own bytes again (for routing, static files, the access log and
the Host check). Workers get those bytes percent-encoded (ProxyRequest.upstream_head): aiohttp,
uvicorn's httptools and h11 all answer 400 to them raw, and every framework decodes `%C3%A0` to
the same path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

from pysupervise.proxy.request import HIGH_BYTE, ProxyRequest

if TYPE_CHECKING:
    from pysupervise.proxy.client.connection import ClientConnection


def _in_request_target(line: bytes) -> bool:
    """Whether the next byte of this head line lies in a request target: `METHOD SP target-so-far`.

    A header line has a ':' in its first token (or is invalid anyway), and a request line has a
    second space only after its target.
    """
    space = line.find(b" ")
    return space > 0 and line.find(b" ", space + 1) < 0 and b":" not in line[:space]


class RawTargetFeeder:
    """One connection's slow path for chunks with bytes >= 0x80; ASCII chunks never come here."""

    __slots__ = ("conn", "line", "escapes")

    def __init__(self, conn: "ClientConnection") -> None:
        self.conn = conn
        # What the parser was fed since the last LF, while it is in a head (kept across reads).
        self.line = b""
        # (offset in the URL as parsed, the raw byte) for each byte fed as %XX in the current head.
        self.escapes: list[tuple[int, int]] = []

    def carry(self, data: bytes, start: int, stop: int, was_in_head: bool) -> None:
        """Called after feeding data[start:stop] when the parser is (still) in a head: keep its current line."""
        newline = data.rfind(b"\n", start, stop)
        if newline >= 0:
            self.line = data[newline + 1:stop]
        elif was_in_head:
            self.line += data[start:stop]
        else:
            # The head began in this piece; its line may then start with the previous body's tail,
            # which at worst makes a raw byte look like a header's and get the 400 it got before.
            self.line = data[start:stop]

    def feed(self, data: bytes) -> None:
        """Feed `data` to the parser; raises what feed_data raises, upgrade offsets relative to `data`."""
        conn = self.conn
        view = memoryview(data)
        position, end = 0, len(data)
        while position < end and not conn.broken:
            request = conn.request
            if request is not None and not conn.in_head:
                # A body goes through in one piece, however many bytes >= 0x80 it has, up to where it
                # may end, so a pipelined head after it is still scanned: a Content-Length body ends
                # after its length, a chunked one no sooner than its next CRLF CRLF.
                if request.declared_length >= 0 and request.body is not None:
                    stop = min(end, position + max(request.declared_length - request.body.size, 1))
                else:
                    blank_line = data.find(b"\r\n\r\n", position)
                    stop = end if blank_line < 0 else blank_line + 4
                self._feed(data, view, position, stop)
                position = stop
                continue
            high = HIGH_BYTE.search(data, position)
            stop = end if high is None else high.start()
            if stop > position:
                self._feed(data, view, position, stop)  # ASCII up to the next high byte
                position = stop
                continue
            if conn.in_head and _in_request_target(self.line):
                escaped = b"%%%02X" % data[position]
                self.escapes.append((len(request.url), data[position]))  # on_url has flushed the URL so far
                conn.parser.feed_data(escaped)
                self.line += escaped
                stop = position + 1
            elif conn.in_head:
                stop = position + 1  # obs-text in a header value (or a bad name, which llhttp refuses)
                self._feed(data, view, position, stop)
            else:
                stop = end  # where a request must begin: llhttp refuses it
                self._feed(data, view, position, stop)
            position = stop

    def _feed(self, data: bytes, view: memoryview, start: int, stop: int) -> None:
        conn = self.conn
        was_in_head = conn.in_head
        try:
            conn.parser.feed_data(view[start:stop])
        except httptools.HttpParserUpgrade as upgrade:
            raise httptools.HttpParserUpgrade(start + upgrade.args[0]) from None
        if conn.in_head:
            self.carry(data, start, stop, was_in_head)

    def restore(self, request: ProxyRequest) -> int:
        """Put the client's own bytes back where they were fed as %XX; returns how many bytes that saved."""
        escapes, self.escapes = self.escapes, []
        url = bytearray(request.url)
        for offset, byte in reversed(escapes):
            url[offset:offset + 3] = (byte,)
        request.url = bytes(url)
        return 2 * len(escapes)
