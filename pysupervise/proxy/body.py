"""A buffered request body: in memory up to a threshold, then spilled to an unlinked temp file."""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO, Iterator

_READ_CHUNK = 1024 * 1024


class RequestBody:
    """Collects a whole request body so a worker slot is taken only once the client has sent it all."""

    __slots__ = ("size", "_memory", "_memory_max", "_spill_dir", "_file")

    def __init__(self, memory_max: int, spill_dir: str) -> None:
        self.size = 0
        self._memory: list[bytes] = []
        self._memory_max = memory_max
        self._spill_dir = spill_dir
        self._file: BinaryIO | None = None

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

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = []
