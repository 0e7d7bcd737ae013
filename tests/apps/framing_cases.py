"""Worker responses framed every way a worker frames them, for tests/apps/framing_server.py and its test.

case(seed) is one response: the bytes the worker writes, the places where they are cut into separate writes (each
a read of its own for the proxy), whether the worker then closes, and what the client must get: the body whole, or
a cut (a 502, or a connection that ends before the response does)."""

from __future__ import annotations

import random
from dataclasses import dataclass

SIZES = (0, 1, 100, 5_000, 70_000, 300_000)
# No bytes past a length here: the worker's write may be split, and bytes that arrive once the response is done
# and its connection is pooled again would be read as the next request's answer (nginx's keep-alive cache has the
# same race). tests/proxy/test_long_bodies.py has an overrun read with its response's end.
FRAMINGS = ("length", "chunked", "length cut", "chunked cut")


@dataclass(frozen=True)
class Case:
    wire: bytes
    splits: tuple[int, ...]
    closes: bool
    body: bytes | None  # None: the client must see a cut

    def pieces(self) -> list[bytes]:
        edges = (0, *self.splits, len(self.wire))
        return [self.wire[start:end] for start, end in zip(edges, edges[1:])]


def _chunked(rng: random.Random, body: bytes) -> bytes:
    out, position = [], 0
    while position < len(body):
        size = min(rng.randint(1, max(1, len(body) // 3)), len(body) - position)
        out.append(b"%x\r\n%s\r\n" % (size, body[position:position + size]))
        position += size
    return b"".join(out) + b"0\r\n\r\n"


def case(seed: int) -> Case:
    rng = random.Random(seed)
    framing = rng.choice(FRAMINGS)
    body = rng.randbytes(rng.choice(SIZES[2:] if "cut" in framing else SIZES))  # a cut needs a body to fall in
    chunked = framing.startswith("chunked")
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + (b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % len(body)) + b"\r\n")
    wire = head + (_chunked(rng, body) if chunked else body)
    if "cut" in framing:
        wire = wire[:rng.randrange(len(head) + 1, len(wire))]
    splits = tuple(sorted(rng.sample(range(1, len(wire)), min(rng.randint(0, 3), len(wire) - 1))))
    return Case(wire, splits, closes="cut" in framing, body=None if "cut" in framing else body)
