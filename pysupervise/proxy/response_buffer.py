"""One response on its way to a slow client: held in memory, then in an unlinked temp file, drained as it reads."""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysupervise.proxy.client import ClientConnection

# Most bytes handed to the client's transport per write while draining: about its 64 KiB write buffer, so what
# sits in the transport stays small next to the buffer itself.
_SLICE = 64 * 1024


class ResponseBuffer:
    """A FIFO between a worker (write/append) and a client (drain/take) that reads slower than the worker writes.

    Bytes go straight to the client while it keeps up and nothing is held. Held items are bytes
    (memory) or [start, end) regions of one spill file, in response order, so memory the client
    has freed is used again even while the file still holds older bytes. Only when both caps are
    reached does the worker's connection stop being read, until the client has made room.
    """

    __slots__ = ("client", "size", "memory", "_worker", "_worker_paused", "_items", "_memory_max",
                 "_spill_max", "_spill_dir", "_fd", "_file_end", "_budget", "_memory_total")

    def __init__(self, client: "ClientConnection", worker: asyncio.Transport | None) -> None:
        self.client = client
        self._worker = worker
        self._worker_paused = False
        self.size = 0     # bytes held, in memory and in the file
        self.memory = 0   # of which in memory
        self._items: deque[bytes | list[int]] | None = None  # made on the first byte held
        settings = client.settings
        self._memory_max = settings.response_buffer_max
        self._spill_max = settings.response_spill_max
        self._spill_dir = client.server.spill_dir
        # What is held in memory is charged to the front's shared budget (memory/budget.py).
        self._budget = client.server.buffer_budget
        self._memory_total = settings.buffer_memory_total
        self._fd = -1
        self._file_end = 0  # the file's size: spilled bytes are never rewritten until it is empty

    # -- the worker's side --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """To the client now if it can take it; otherwise held, so the worker need not wait."""
        if not self.size and not self.client.write_paused:
            self.client.write(data)
        else:
            self.append(data)

    def write_chunk(self, data: bytes) -> None:
        if not self.size and not self.client.write_paused:
            self.client.write_chunk(data)
        elif data:
            self.append(b"%x\r\n%b\r\n" % (len(data), data))

    @property
    def full(self) -> bool:
        """No room in memory (its own, or the front's budget) nor in the file: the worker must wait for the client."""
        return ((self.memory >= self._memory_max or self._budget.used >= self._memory_total)
                and self._file_end >= self._spill_max)

    @property
    def has_room(self) -> bool:
        """Room for a good while (half the memory, or the file emptied): a paused worker may go on."""
        return self.memory <= self._memory_max // 2 or self._file_end < self._spill_max

    def append(self, data: bytes) -> None:
        if not data:
            return
        if self._items is None:
            self._items = deque()
        self.size += len(data)
        budget = self._budget
        if self.memory + len(data) > self._memory_max or not budget.take(len(data), self._memory_total):
            if self._spill(data):
                return
            # Past the caps a piece still lands in memory, and the worker is paused: at most one read more.
            budget.force(len(data))
        self._items.append(data)
        self.memory += len(data)
        if self.full and not self._worker_paused and self._worker is not None and not self._worker.is_closing():
            self._worker_paused = True
            self._worker.pause_reading()

    def _spill(self, data: bytes) -> bool:
        start = self._file_end
        if start >= self._spill_max:
            return False  # the file may end past the cap by this one last piece, as memory does
        end = start + len(data)
        try:
            if self._fd < 0:
                self._fd = self._spill_dir.create("response-")
            view = memoryview(data)
            while view:
                view = view[os.pwrite(self._fd, view, end - len(view)):]
        except OSError as exc:
            # No file, or the disk is full: stop spilling and fall back to pausing the worker.
            self._spill_dir.errors.report("response-spill", exc, f"cannot spill a response to {self._spill_dir}")
            self._spill_max = start
            return False
        self._file_end = end
        last = self._items[-1] if self._items else None
        if type(last) is list and last[1] == start:
            last[1] = end
        else:
            self._items.append([start, end])
        return True

    # -- the client's side --------------------------------------------------------------------

    def take(self, limit: int = _SLICE) -> bytes:
        """The next held bytes, about `limit` at most (one piece from memory may be larger)."""
        items = self._items
        item = items.popleft()
        if type(item) is bytes:
            taken = len(item)
            if taken < limit and items and type(items[0]) is bytes:
                # Small pieces (chunk framing, events) leave together, as they would have unbuffered.
                parts = [item]
                while items and type(items[0]) is bytes and taken + len(items[0]) <= limit:
                    parts.append(items.popleft())
                    taken += len(parts[-1])
                item = b"".join(parts)
            self.memory -= taken
            self.size -= taken
            self._budget.give(taken)
            return item
        start, end = item
        data = os.pread(self._fd, min(limit, end - start), start)
        if not data:
            raise OSError(f"the spill file ended at byte {start} of {end}")
        self.size -= len(data)
        if start + len(data) < end:
            item[0] = start + len(data)
            items.appendleft(item)
        elif self.size == self.memory:
            self._close_file()  # nothing left in it: free the disk space now
        return data

    def drain(self) -> None:
        """Write held bytes until the client's transport pushes back (pause_writing) or none are left."""
        client = self.client
        transport = client.transport
        try:
            while self.size and not client.write_paused and not transport.is_closing():
                client.write(self.take())
        except OSError:
            client.abort()  # the spill file failed: the client sees a truncated response, never a wrong one
            return
        if self._worker_paused and self.has_room:
            self._resume_worker()

    def release_worker(self) -> None:
        """The worker has sent everything: its connection goes back to the pool, reading again."""
        self._resume_worker()
        self._worker = None

    def _resume_worker(self) -> None:
        if self._worker_paused:
            self._worker_paused = False
            if self._worker is not None and not self._worker.is_closing():
                self._worker.resume_reading()

    def close(self) -> None:
        """Drop what is held (the client is done or gone) and close the spill file."""
        self._items = self._worker = None
        self._budget.give(self.memory)
        self.size = self.memory = 0
        self._close_file()

    def _close_file(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._file_end = 0
