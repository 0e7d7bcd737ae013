"""Frame boundaries of a worker→client WebSocket stream, so the proxy can inject a clean close frame."""

from __future__ import annotations

import struct

GOING_AWAY = 1001
# The worker behind the tunnel was killed as hung (RFC 6455 §7.4.1: "an unexpected condition").
INTERNAL_ERROR = 1011
_REASONS = {GOING_AWAY: b"server going away", INTERNAL_ERROR: b"worker stopped responding"}


def close_frame(code: int = GOING_AWAY, reason: bytes | None = None) -> bytes:
    """A server-to-client close frame (FIN + opcode 8, unmasked, RFC 6455 §5.5.1)."""
    payload = struct.pack("!H", code) + (_REASONS.get(code, b"") if reason is None else reason)[:123]
    return bytes((0x88, len(payload))) + payload


class FrameBoundary:
    """Follows frame headers and skips payloads; `at_boundary` is True between two frames.

    Costs a few operations per frame header, nothing per payload byte, which matters because
    every byte of every websocket passes through here.
    """

    __slots__ = ("_header", "_payload_left")

    def __init__(self) -> None:
        self._header = b""
        self._payload_left = 0

    @property
    def at_boundary(self) -> bool:
        return self._payload_left == 0 and not self._header

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._payload_left:
                skip = min(self._payload_left, len(view))
                self._payload_left -= skip
                view = view[skip:]
                continue
            # A header is at most 14 bytes, so taking 14 always completes one if the data holds it.
            header = self._header + bytes(view[:_MAX_HEADER - len(self._header)])
            total = _header_length(header)
            if total is None or len(header) < total:
                self._header = header  # all of `view` was header material; wait for the rest
                return
            view = view[total - len(self._header):]
            self._payload_left = _payload_length(header)
            self._header = b""


_MAX_HEADER = 14


def _header_length(header: bytes) -> int | None:
    """Total header length, or None while fewer than 2 bytes are known."""
    if len(header) < 2:
        return None
    length7 = header[1] & 0x7F
    size = 2 + (2 if length7 == 126 else 8 if length7 == 127 else 0)
    return size + (4 if header[1] & 0x80 else 0)


def _payload_length(header: bytes) -> int:
    length7 = header[1] & 0x7F
    if length7 == 126:
        return struct.unpack_from("!H", header, 2)[0]
    if length7 == 127:
        return struct.unpack_from("!Q", header, 2)[0]
    return length7
