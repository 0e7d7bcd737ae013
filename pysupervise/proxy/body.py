"""A buffered request body: in memory up to a threshold, then spilled to an unlinked temp file; and its sending."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import BinaryIO, Iterator

_READ_CHUNK = 1024 * 1024
# Write buffer of an upstream connection while a spilled body streams from its file.
_PUMP_BUFFER = 4 * 1024 * 1024


class RequestBody:
    """Collects a whole request body so a worker slot is taken only once the client has sent it all."""

    __slots__ = ("size", "pump_paused", "_memory", "_memory_max", "_spill_dir", "_file", "_chunks")

    def __init__(self, memory_max: int, spill_dir: str) -> None:
        self.size = 0
        self._memory: list[bytes] = []
        self._memory_max = memory_max
        self._spill_dir = spill_dir
        self._file: BinaryIO | None = None
        # A spilled body being sent: the chunks still to go, and whether the worker's socket pushes back.
        self._chunks: Iterator[bytes] | None = None
        self.pump_paused = False

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def append(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._memory.append(data)
        if self.size > self._memory_max:
            self._spill()

    def _spill(self) -> None:
        # Unlinked at once: the space is freed when the file closes, even if the master dies.
        fd, path = tempfile.mkstemp(prefix="body-", dir=self._spill_dir)
        os.unlink(path)
        self._file = os.fdopen(fd, "w+b")
        self._file.writelines(self._memory)
        self._memory = []

    def in_memory(self) -> bytes | None:
        """The whole body when it is small enough to live in memory, else None."""
        if self._file is not None:
            return None
        if len(self._memory) != 1:
            self._memory = [b"".join(self._memory)]
        return self._memory[0]

    def file_chunks(self) -> Iterator[bytes]:
        """The spilled body, read back from the start in chunks."""
        assert self._file is not None
        self._file.flush()
        self._file.seek(0)
        while chunk := self._file.read(_READ_CHUNK):
            yield chunk

    def send(self, transport: asyncio.WriteTransport, head: bytes) -> None:
        """Write `head` and this body to a worker; a spilled body goes on in pump() as the socket drains."""
        data = self.in_memory()
        if data is not None:
            # One send() for small requests; large bodies are not copied just to save a syscall.
            if len(data) <= 65536:
                transport.write(head + data)
            else:
                transport.writelines((head, data))
            return
        # Keep a few MiB in flight so the pump is not paused after every slice.
        transport.set_write_buffer_limits(high=_PUMP_BUFFER)
        transport.write(head)
        self._chunks = self.file_chunks()
        self.pump_paused = False
        self.pump(transport)

    def pump(self, transport: asyncio.WriteTransport) -> None:
        """Write file chunks until the transport pauses writing (pump_paused) or the body is sent."""
        while self._chunks is not None and not self.pump_paused:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._chunks = None
                transport.set_write_buffer_limits()  # back to the defaults for the pooled connection
                return
            transport.write(chunk)

    def close(self) -> None:
        self._chunks = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = []
