"""A buffered request body: in memory up to a threshold, then spilled to an unlinked temp file; and its sending."""

from __future__ import annotations

import asyncio
import errno
import mmap
import os
import tempfile
from typing import TYPE_CHECKING

from pysupervise.proxy.head_checks import RequestRejected

if TYPE_CHECKING:
    from pysupervise.periodic import TaskErrors
    from pysupervise.proxy.client.cork import WriteCork
    from pysupervise.proxy.memory.budget import BufferBudget

# A spilled body is sent from its file mapped this many bytes at a time (a multiple of mmap.ALLOCATIONGRANULARITY):
# the transport writes straight from the page cache, and only the windows in flight are mapped.
_WINDOW = 1024 * 1024
# Write buffer of an upstream connection while a larger body streams to it, from its file or its pieces in memory:
# each time the worker has taken a buffer's worth, its upstream_timeout starts again (Exchange.upstream_write_paused).
_PUMP_BUFFER = 4 * 1024 * 1024
# Bodies up to this size leave joined with their head in one piece; larger ones are not copied to save a syscall
# (request bodies here, and a response's head with the body read with it: client/writes.py).
JOIN_MAX = 64 * 1024


class SpillFolder:
    """Where request and response bodies spill (run_dir/bodies); a body that cannot be written there is reported
    here."""

    __slots__ = ("path", "errors", "failures")

    def __init__(self, path: str, errors: "TaskErrors") -> None:
        self.path = path
        self.errors = errors
        self.failures = 0

    def __str__(self) -> str:
        return self.path

    def create(self, prefix: str = "body-") -> int:
        """A new file for one body, unlinked at once: the space is freed when it closes, even if the master dies."""
        fd, path = tempfile.mkstemp(prefix=prefix, dir=self.path)
        os.unlink(path)
        return fd

    def failed(self, exc: OSError) -> RequestRejected:
        """The answer for a body that cannot be spilled: 507 when the disk is full, 503 otherwise."""
        self.failures += 1
        self.errors.report("request-body-spill", exc, f"cannot spill a request body to {self.path}")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # it may fit again later: the client may retry
            return RequestRejected(507, "the server has no room to buffer this request body right now")
        return RequestRejected(503, "the server cannot buffer this request body right now")


class RequestBody:
    """Collects a whole request body so a worker slot is taken only once the client has sent it all."""

    __slots__ = ("size", "pump_paused", "_memory", "_memory_max", "_spill_dir", "_fd", "_sent", "_budget",
                 "_memory_total", "_charged", "_next_piece")

    def __init__(self, memory_max: int, spill_dir: SpillFolder, budget: "BufferBudget", memory_total: int) -> None:
        self.size = 0
        self._memory: list[bytes] = []
        self._memory_max = memory_max
        self._spill_dir = spill_dir
        # What this body holds in memory is charged to the front's shared budget, up to memory_total in all.
        self._budget = budget
        self._memory_total = memory_total
        self._charged = 0
        self._fd = -1
        # A body being pumped: how much of it is written so far (-1: not sending), the next of its pieces in
        # memory, and whether the worker's socket pushes back.
        self._sent = -1
        self._next_piece = 0
        self.pump_paused = False

    @property
    def spilled(self) -> bool:
        return self._fd >= 0

    def append(self, data: bytes) -> None:
        """Add a piece; raises RequestRejected (507/503) when it has to spill and cannot (a full disk)."""
        self.size += len(data)
        if self._fd >= 0:
            self._write(data)
            return
        self._memory.append(data)
        if self.size > self._memory_max or not self._budget.take(len(data), self._memory_total):
            self._spill()
        else:
            self._charged += len(data)

    def _spill(self) -> None:
        try:
            self._fd = self._spill_dir.create()
        except OSError as exc:
            self.close()
            raise self._spill_dir.failed(exc) from None
        self._uncharge()
        memory, self._memory = self._memory, []
        for piece in memory:
            self._write(piece)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.close()  # give the space back at once
            raise self._spill_dir.failed(exc) from None

    def send(self, transport: asyncio.WriteTransport, head: bytes, cork: "WriteCork | None") -> None:
        """Write `head` and this body to a worker; a spilled or large body goes on in pump() as the socket drains.
        `cork`: a small request waits for the end of the loop's pass in it (client/cork.py); None: it leaves now."""
        if self._fd < 0 and self.size <= _PUMP_BUFFER:
            if self.size <= JOIN_MAX:
                whole = head + b"".join(self._memory)  # one send() for a small request
                if cork is not None:
                    cork.hold_write(transport, whole)
                else:
                    transport.write(whole)
            else:
                transport.writelines((head, *self._memory))  # one writev(), the pieces as they came
            return
        # Keep a few MiB in flight so the pump is not paused after every window.
        transport.set_write_buffer_limits(high=_PUMP_BUFFER)
        transport.write(head)
        self._sent = 0
        self._next_piece = 0
        self.pump_paused = False
        self.pump(transport)

    def pump(self, transport: asyncio.WriteTransport) -> None:
        """Write file windows or pieces until the transport pauses writing (pump_paused) or the body is sent."""
        while 0 <= self._sent < self.size and not self.pump_paused:
            if self._fd >= 0:
                length = min(_WINDOW, self.size - self._sent)
                # The transport keeps the view until the socket has taken it; the window is unmapped after that.
                window = mmap.mmap(self._fd, length, offset=self._sent, access=mmap.ACCESS_READ)
                self._sent += length
                transport.write(memoryview(window))
            else:
                # A window's worth of pieces per writev(); they are kept, as a resent request sends them all again.
                first = self._next_piece
                start = self._sent
                while self._next_piece < len(self._memory) and self._sent - start < _WINDOW:
                    self._sent += len(self._memory[self._next_piece])
                    self._next_piece += 1
                transport.writelines(self._memory[first:self._next_piece])
        if self._sent >= self.size:
            self._sent = -1
            transport.set_write_buffer_limits()  # back to the defaults for the pooled connection

    def close(self) -> None:
        self._sent = -1
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._memory = []
        self._uncharge()

    def _uncharge(self) -> None:
        self._budget.give(self._charged)
        self._charged = 0
