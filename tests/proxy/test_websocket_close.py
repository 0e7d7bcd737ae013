"""Frame boundaries in a worker→client websocket stream, however the bytes are split (issue 4)."""

import os
import struct

from pysupervise.proxy.tunnel.websocket_close import FrameBoundary, close_frame


def frame(payload: bytes, opcode: int = 1, fin: bool = True, mask: bool = False) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([mask_bit | len(payload)])
    elif len(payload) < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
    return head + (os.urandom(4) if mask else b"") + payload


def test_boundaries_for_every_split_of_a_stream():
    frames = [frame(b"hi"), frame(b"x" * 300), frame(b"y" * 70000), frame(b"", opcode=9), frame(b"z" * 125, mask=True)]
    stream = b"".join(frames)
    ends = set()
    position = 0
    for f in frames:
        position += len(f)
        ends.add(position)
    for piece in (1, 2, 3, 7, 13, 100, 4096):
        tracker = FrameBoundary()
        for start in range(0, len(stream), piece):
            tracker.feed(stream[start:start + piece])
            end = min(start + piece, len(stream))
            assert tracker.at_boundary == (end in ends), (piece, end)


def test_close_frame_is_a_valid_unmasked_1001():
    data = close_frame()
    assert data[0] == 0x88 and data[1] == len(data) - 2
    assert struct.unpack("!H", data[2:4])[0] == 1001
