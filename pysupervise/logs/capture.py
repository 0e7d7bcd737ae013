"""Copies a worker's stdout or stderr pipe, byte for byte, into its log file (with the time each piece was
read), keeping the tail in memory."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from pysupervise.periodic import TaskErrors

_READ_SIZE = 64 * 1024


class LogSink(Protocol):
    """Where captured bytes go (AppLogs' StreamWriter: rotating per-worker files)."""

    def write(self, data: bytes, read_at: float | None = None) -> None: ...

    def close(self) -> None: ...



class OutputCapture:
    """Reads one pipe to EOF; the pipe keeps what a crashing worker wrote, so nothing is lost."""

    def __init__(self, reader: asyncio.StreamReader, log: LogSink, tail_bytes: int = 32 * 1024,
                 errors: TaskErrors | None = None) -> None:
        self._reader = reader
        self.log = log
        self._errors = errors or TaskErrors()
        self._tail = bytearray()
        self._tail_bytes = tail_bytes

    async def run(self) -> None:
        try:
            while chunk := await self._reader.read(_READ_SIZE):
                try:
                    self.log.write(chunk, time.time())  # the line times of `pysupervise logs`
                except Exception as exc:
                    # Keep reading whatever happens: a pipe nobody reads blocks the worker's next print.
                    self._errors.report("log-capture", exc)
                tail = self._tail
                tail += chunk
                if len(tail) > self._tail_bytes:
                    del tail[: len(tail) - self._tail_bytes]
        finally:
            self.log.close()

    def tail_lines(self, count: int = 50) -> str:
        text = self._tail.decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-count:])
