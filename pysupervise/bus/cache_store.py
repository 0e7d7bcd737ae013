"""The embedded broker's key/value store: values with optional expiry, swept without scanning every key."""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float | None
    # The earliest time this key has in the expiry heap (None: not in it). Lets set() push a
    # heap item only when the key gets an earlier deadline, instead of one per write.
    heap_at: float | None = None


class CacheStore:
    """Expired keys are invisible at once (checked on read) and freed by sweep() soon after."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._expiry_heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return entry.value if entry else None

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        expires_at = None if ttl is None else self._clock() + ttl
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(value, expires_at)
        else:
            entry.value, entry.expires_at = value, expires_at
        self._schedule(key, entry)

    def delete(self, key: str) -> bool:
        return self._live(key) is not None and self._entries.pop(key) is not None

    def incr(self, key: str, by: int, ttl: float | None = None) -> int:
        """Raises ValueError if the value is not a decimal integer; keeps the key's expiry unless `ttl` is given."""
        entry = self._live(key)
        current = 0 if entry is None else int(entry.value.decode("ascii", errors="replace"))
        result = current + by
        if entry is None:
            entry = self._entries[key] = _Entry(str(result).encode("ascii"), None)
        else:
            entry.value = str(result).encode("ascii")
        if ttl is not None:
            entry.expires_at = self._clock() + ttl
            self._schedule(key, entry)
        return result

    def sweep(self) -> int:
        """Free every key whose time has come; returns how many were removed."""
        now = self._clock()
        heap, removed = self._expiry_heap, 0
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is None or entry.heap_at != at:
                continue  # stale heap item: the key was deleted or rescheduled earlier
            entry.heap_at = None
            if entry.expires_at is None:
                continue
            if entry.expires_at <= now:
                del self._entries[key]
                removed += 1
            else:  # its ttl was extended since this item was pushed
                self._schedule(key, entry)
        # Keys set and deleted over and over leave stale items behind; rebuild before they
        # outnumber the live keys.
        if len(heap) > 2 * len(self._entries) + 1024:
            self._rebuild_heap()
        return removed

    def clear(self) -> None:
        self._entries.clear()
        self._expiry_heap.clear()

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._entries[key]
            return None
        return entry

    def _schedule(self, key: str, entry: _Entry) -> None:
        if entry.expires_at is not None and (entry.heap_at is None or entry.expires_at < entry.heap_at):
            entry.heap_at = entry.expires_at
            heapq.heappush(self._expiry_heap, (entry.expires_at, key))

    def _rebuild_heap(self) -> None:
        self._expiry_heap = []
        for key, entry in self._entries.items():
            entry.heap_at = None
            self._schedule(key, entry)
