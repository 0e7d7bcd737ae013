"""Copies a worker's stdout or stderr pipe, byte for byte, into its log file, keeping the tail in memory."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

_READ_SIZE = 64 * 1024


class StreamLog:
    """`<slot>-<pid>-<stdout|stderr>-<unix_ts>.log` in the app's log folder, written as the bytes arrive."""

    def __init__(self, directory: Path, slot: int, pid: int, stream: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{slot}-{pid}-{stream}-{int(time.time())}.log"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OutputCapture:
    """Reads one pipe to EOF; the pipe keeps what a crashing worker wrote, so nothing is lost."""

    def __init__(self, reader: asyncio.StreamReader, log: StreamLog, tail_bytes: int = 32 * 1024) -> None:
        self._reader = reader
        self.log = log
        self._tail = bytearray()
        self._tail_bytes = tail_bytes

    async def run(self) -> None:
        try:
            while chunk := await self._reader.read(_READ_SIZE):
                self.log.write(chunk)
                tail = self._tail
                tail += chunk
                if len(tail) > self._tail_bytes:
                    del tail[: len(tail) - self._tail_bytes]
        finally:
            self.log.close()

    def tail_lines(self, count: int = 50) -> str:
        text = self._tail.decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-count:])
