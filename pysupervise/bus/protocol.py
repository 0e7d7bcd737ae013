"""The embedded broker's wire format: length-prefixed frames of (request id, op, byte-string args).

A frame is ``!I`` body length, then the body: ``!I`` request id, ``!B`` op, then each argument as
``!I`` length + bytes. Numbers travel as ASCII decimal. Every request gets exactly one OK or ERROR
reply carrying its request id; PUSH frames carry a channel subscription's id instead.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

PROTOCOL_VERSION = b"1"
# One message (plus a little framing) must fit; the cap keeps a corrupt or hostile length
# prefix from making either side buffer gigabytes.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 64 * 1024

_LENGTH = struct.Struct("!I")
_HEADER = struct.Struct("!IB")


class Op(enum.IntEnum):
    HELLO = 1
    PUBLISH = 2
    CREATE_SUBSCRIPTION = 3
    DELETE_SUBSCRIPTION = 4
    RECEIVE = 5
    CANCEL = 6
    REQUEUE = 7
    SUBSCRIPTIONS = 8
    PUBLISH_CHANNEL = 9
    SUBSCRIBE = 10
    UNSUBSCRIBE = 11
    CACHE_GET = 12
    CACHE_SET = 13
    CACHE_DELETE = 14
    CACHE_INCR = 15
    PING = 16  # health check: any reply proves the broker is alive (an older one answers "unknown op")
    # replies and pushes
    OK = 128
    ERROR = 129
    PUSH = 130


class ErrorCode:
    """The first argument of an ERROR reply; the second is a human-readable message."""

    BAD_REQUEST = b"bad_request"
    NO_SUCH_SUBSCRIPTION = b"no_such_subscription"
    NOT_AN_INTEGER = b"not_an_integer"
    VERSION = b"version"


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid frame; the connection must be dropped."""


@dataclass(frozen=True, slots=True)
class Frame:
    request_id: int
    op: int
    args: tuple[bytes, ...]


def encode_frame(request_id: int, op: int, *args: bytes) -> bytes:
    parts = [b"", _HEADER.pack(request_id, op)]
    for arg in args:
        parts.append(_LENGTH.pack(len(arg)))
        parts.append(arg)
    body_length = sum(len(p) for p in parts)
    parts[0] = _LENGTH.pack(body_length)
    return b"".join(parts)


class FrameDecoder:
    """Incremental decoder: feed it whatever the transport delivered, get the complete frames."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= 4:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if length < _HEADER.size or length > self._max_frame:
                raise ProtocolError(f"frame length {length} outside 5..{self._max_frame}")
            if len(buffer) - offset - 4 < length:
                break
            start = offset + 4
            frames.append(_decode_body(bytes(buffer[start : start + length])))
            offset = start + length
        if offset:
            del buffer[:offset]
        return frames


def _decode_body(body: bytes) -> Frame:
    request_id, op = _HEADER.unpack_from(body, 0)
    args: list[bytes] = []
    offset = _HEADER.size
    while offset < len(body):
        if len(body) - offset < 4:
            raise ProtocolError("truncated argument length")
        (size,) = _LENGTH.unpack_from(body, offset)
        offset += 4
        if size > len(body) - offset:
            raise ProtocolError("argument runs past the end of its frame")
        args.append(body[offset : offset + size])
        offset += size
    return Frame(request_id, op, tuple(args))


def encode_int(value: int) -> bytes:
    return str(value).encode("ascii")


def decode_int(value: bytes) -> int:
    return int(value.decode("ascii"))


def encode_float(value: float) -> bytes:
    return repr(float(value)).encode("ascii")


def decode_float(value: bytes) -> float:
    return float(value.decode("ascii"))
