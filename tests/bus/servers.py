"""Real servers for the bus tests: a redis-server subprocess on a free loopback port, and an async deadline poll."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_tempdir() -> Path:
    # AF_UNIX paths are limited to 107 bytes and pytest's tmp_path can be longer.
    return Path(tempfile.mkdtemp(prefix="psbus-", dir="/tmp"))


def redis_command(port: int, *words: str, timeout: float = 1.0) -> bytes:
    """One command over a plain socket (no redis-py), for probing the test server; returns the raw reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        sock.sendall(request.encode())
        reply = b""
        while b"\r\n" not in reply:
            reply += sock.recv(4096) or b"\r\n"
        if reply.startswith(b"$"):  # a bulk string: read all of it
            header, _, body = reply.partition(b"\r\n")
            while len(body) < int(header[1:]) + 2:
                body += sock.recv(65536)
            return body[: int(header[1:])]
        return reply


def redis_blocked_clients(port: int) -> int:
    """How many connections wait in BLPOP and the like: the Redis side of a parked receive()."""
    info = redis_command(port, "INFO", "clients").decode()
    return int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("blocked_clients:")))


class RedisServer:
    """One redis-server without persistence; start() may be called again after stop() (same port).

    It always listens on loopback (where the probes here connect); `also_bind` adds addresses, e.g. a test
    network's bridge, for clients on other hosts.
    """

    def __init__(self, port: int | None = None, also_bind: tuple[str, ...] = ()) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed, so the Redis backend cannot be tested: "
                "run ./scripts/test.sh (it installs it) or `apt-get install redis-server`"
            )
        self.binary = binary
        self.port = port or free_port()
        self.also_bind = also_bind
        self.dir = short_tempdir()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        log = open(self.dir / "redis.log", "ab")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *self.also_bind, "--save", "",
             "--appendonly", "no", "--dir", str(self.dir),
             # Without a password, protected mode refuses every client that is not on loopback.
             *(("--protected-mode", "no") if self.also_bind else ())],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if redis_command(self.port, "PING").startswith(b"+PONG"):
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING:\n{output}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def flush(self) -> None:
        redis_command(self.port, "FLUSHALL")


async def eventually(probe: Callable[[], Awaitable[T]], what: str, timeout: float = 5.0, interval: float = 0.02) -> T:
    """Await probe() until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = await probe()
            if value:
                return value
            last = value
        except Exception as error:  # e.g. BusUnavailable while a server restarts
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last result: {last!r}")
        await asyncio.sleep(interval)
