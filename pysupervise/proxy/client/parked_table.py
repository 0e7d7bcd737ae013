"""The parking lot's table: which descriptors are parked, their deadlines and their order, with no Python object
per entry.

A dict of descriptor -> deadline cost about 0.1 KiB per parked connection: an int object above 256, a float
and the dict's own slots, all small objects of the allocator's pools. Here the deadlines live in an array indexed
by descriptor, and the order they were parked in (oldest first: the first closed to make room) in two parallel
arrays read as a queue: 20 bytes per parked connection, in three buffers. Leaving the table only marks the
descriptor free; its queue entry goes stale (its deadline no longer matches) and is dropped when the queue is
compacted, by the sweeper's expiry pass or when stale entries outnumber live ones.
"""

from __future__ import annotations

import math
from array import array
from typing import Iterator

_FREE = -1.0  # a deadline no parked descriptor has (loop time is never negative)
_SLACK = 64  # stale queue entries tolerated beyond the live ones before a compaction


class ParkedTable:
    __slots__ = ("count", "_deadlines", "_queue_fds", "_queue_deadlines", "_head")

    def __init__(self) -> None:
        self.count = 0
        self._deadlines = array("d")  # by descriptor; _FREE if not parked
        self._queue_fds = array("i")  # in the order parked, from _head on
        self._queue_deadlines = array("d")
        self._head = 0

    def __contains__(self, fd: int) -> bool:
        return fd < len(self._deadlines) and self._deadlines[fd] != _FREE

    def add(self, fd: int, deadline: float) -> None:
        deadlines = self._deadlines
        if fd >= len(deadlines):
            deadlines.extend(array("d", [_FREE]) * max(fd + 1 - len(deadlines), len(deadlines)))  # doubling
        deadlines[fd] = deadline
        self._queue_fds.append(fd)
        self._queue_deadlines.append(deadline)
        self.count += 1
        if len(self._queue_fds) - self._head > 2 * self.count + _SLACK:
            self.expire(-math.inf)  # expires nothing: only compacts

    def remove(self, fd: int) -> None:
        self._deadlines[fd] = _FREE
        self.count -= 1

    def oldest(self) -> Iterator[int]:
        """The parked descriptors, parked longest first. Removing the one yielded is allowed; adding is not."""
        self._skip_stale_head()
        deadlines, fds, queued = self._deadlines, self._queue_fds, self._queue_deadlines
        for at in range(self._head, len(fds)):
            fd = fds[at]
            if deadlines[fd] == queued[at]:
                yield fd

    def expire(self, now: float) -> tuple[list[int], float]:
        """Remove and return the descriptors whose deadline is at or before `now`, with the earliest deadline of
        those left (inf if none); the queue keeps only the entries still parked."""
        expired: list[int] = []
        earliest = math.inf
        deadlines = self._deadlines
        fds, queued = array("i"), array("d")
        for fd, deadline in zip(self._queue_fds[self._head:], self._queue_deadlines[self._head:]):
            if deadlines[fd] != deadline:
                continue  # stale: left the table, or parked again later in the queue
            if deadline <= now:
                self.remove(fd)
                expired.append(fd)
            else:
                fds.append(fd)
                queued.append(deadline)
                earliest = min(earliest, deadline)
        self._queue_fds, self._queue_deadlines, self._head = fds, queued, 0
        return expired, earliest

    def _skip_stale_head(self) -> None:
        deadlines, fds, queued = self._deadlines, self._queue_fds, self._queue_deadlines
        head, end = self._head, len(fds)
        while head < end and deadlines[fds[head]] != queued[head]:
            head += 1
        self._head = head
