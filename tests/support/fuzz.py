"""Seeded mutations of valid HTTP/1.x requests, sent over real sockets: the fuzz test's and scripts/fuzz.py's engine.

Each input goes on its own connection; the client half-closes after sending, so the proxy sees EOF and
every connection ends by itself (an answer, a 4xx, or a close), with no waiting for timeouts.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

# A site for fuzzing: tests/apps/fuzz_target.py takes every path, and short timeouts end stuck inputs quickly.
SITE_CONFIG = """
[apps.fuzz]
app = "fuzz_target:create_app"
dir = "{apps}"
route = "/"
workers = 2

[proxy]
header_timeout = 2
body_timeout = 2
upstream_idle_timeout = 1
"""

SEEDS = [
    b"GET /fuzz/a?b=c HTTP/1.1\r\nHost: h\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n",
    b"GET /fuzz/ HTTP/1.0\r\n\r\n",
    b"HEAD /fuzz/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"POST /fuzz/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
    b"POST /fuzz/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"PUT /fuzz/p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"GET /fuzz/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fuzz/2 HTTP/1.1\r\nHost: h\r\n\r\nGET /fuzz/3 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://h:1/fuzz/abs HTTP/1.1\r\nHost: other\r\n\r\n",
    b"GET /fuzz/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"DELETE /fuzz/d HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nCookie: a=b; c=d\r\n\r\n",
    b"GET /fuzz/c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /fuzz/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
    # The worker drops the connection under a POST (a 502), and a pipelined request follows it.
    b"POST /fuzz/drop HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nxGET /fuzz/after HTTP/1.1\r\nHost: h\r\n\r\n",
]
# Bytes that parsers treat specially, and values that stress numbers and framing.
SPECIAL = [b"\r", b"\n", b"\r\n", b"\0", b" ", b"\t", b":", b",", b";", b"\x7f", b"\xff", b"\xc3\xa0", b"%", b"%00",
           b"/../", b"chunked", b"identity", b"-1", b"99999999999999999999", b"0x10", b"Transfer-Encoding: chunked",
           b"Content-Length: 5", b"Host: a", b"\r\n\r\n", b"HTTP/1.1", b"HTTP/2.0", b"Connection: close"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """None to three edits (flip, insert, delete, duplicate, splice, truncate): enough intact input reaches the
    worker to exercise forwarding, and enough broken input to exercise the parser's error paths."""
    buf = bytearray(data)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        where = rng.randrange(len(buf) + 1)
        kind = rng.randrange(7)
        if kind == 0 and buf:
            buf[min(where, len(buf) - 1)] = rng.randrange(256)
        elif kind == 1:
            buf[where:where] = rng.choice(SPECIAL)
        elif kind == 2 and buf:
            del buf[where:where + rng.randint(1, 8)]
        elif kind == 3 and buf:
            start = rng.randrange(len(buf))
            buf[where:where] = buf[start:start + rng.randint(1, 40)]
        elif kind == 4:
            buf[where:where] = rng.choice(SEEDS)
        elif kind == 5:
            buf = buf[:where]
        else:
            buf[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return bytes(buf)


def inputs(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [mutate(rng, rng.choice(SEEDS)) for _ in range(count)]


@dataclass
class FuzzResult:
    sent: int = 0
    answered: int = 0
    closed_silently: int = 0
    malformed_answers: list[tuple[bytes, bytes]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


async def send_one(host: str, port: int, data: bytes, result: FuzzResult, timeout: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        answer = await asyncio.wait_for(reader.read(-1), timeout)
    except (ConnectionError, asyncio.IncompleteReadError):
        answer = b""
    finally:
        writer.close()
    result.sent += 1
    if not answer:
        result.closed_silently += 1
        return
    result.answered += 1
    if not (answer[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 ") and answer[9:12].isdigit()):
        result.malformed_answers.append((data, answer[:200]))
        return
    status = int(answer[9:12])
    result.statuses[status] = result.statuses.get(status, 0) + 1


async def run(host: str, port: int, requests: list[bytes], concurrency: int = 32, timeout: float = 20) -> FuzzResult:
    """Send every input on its own connection, `concurrency` at a time."""
    result = FuzzResult()
    queue = list(reversed(requests))

    async def client() -> None:
        while queue:
            await send_one(host, port, queue.pop(), result, timeout)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return result


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def seen_by_worker(log_dir: Path) -> set[str]:
    """X-Request-Ids that fuzz_target printed: every request that reached a worker."""
    ids = set()
    for path in (log_dir / "fuzz").glob("*-stdout-*.log"):
        ids.update(line.split()[1] for line in path.read_text(errors="replace").splitlines()
                   if line.startswith("fuzz-seen "))
    return ids


def logged(log_dir: Path) -> set[str]:
    """X-Request-Ids in the app's access.log (its last field)."""
    path = log_dir / "fuzz" / "access.log"
    return {line.split()[-1] for line in path.read_text(errors="replace").splitlines()} if path.exists() else set()
