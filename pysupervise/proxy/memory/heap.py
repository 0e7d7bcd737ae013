"""The master's C heap (glibc malloc): tuned for large bodies at start, and handed back to the OS after a load."""

from __future__ import annotations

import ctypes
import os

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# Body pieces are 64 KiB to 1 MiB (socket reads, spill file chunks, joined small bodies). Below this size they come
# from the heap and are reused: glibc's default moves its mmap threshold up and down with the pieces it has seen,
# and an mmap'd piece costs an mmap, a munmap and a page fault per 4 KiB every time.
_MMAP_THRESHOLD = 4 * 1024 * 1024
# Free memory at the top of the heap kept for the next pieces instead of a brk() down and up again per response;
# what a load leaves behind is given back by HeapTrimmer, not by free().
_TRIM_THRESHOLD = 32 * 1024 * 1024
_TOP_PAD = 1024 * 1024
# Growth of the resident set since the last trim that makes the next check give free pages back.
_TRIM_SLACK = 8 * 1024 * 1024
# Seconds between two checks: a load refaults at most what was trimmed, once per interval.
_TRIM_INTERVAL = 1.0


class CHeap:
    """glibc's malloc controls through ctypes; `available` is False (and every call a no-op) with another C library."""

    __slots__ = ("_mallopt", "_malloc_trim")

    def __init__(self) -> None:
        try:
            libc = ctypes.CDLL(None)
            self._mallopt = libc.mallopt
            self._malloc_trim = libc.malloc_trim
        except (OSError, AttributeError):  # musl, macOS: nothing to tune, nothing kept at the peak either
            self._mallopt = self._malloc_trim = None
            return
        self._mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        self._malloc_trim.argtypes = [ctypes.c_size_t]

    @property
    def available(self) -> bool:
        return self._mallopt is not None

    def tune_for_bodies(self) -> bool:
        """Fixed thresholds for the master's large, short-lived body pieces; False where it cannot be done."""
        if self._mallopt is None:
            return False
        return all(self._mallopt(param, value) == 1 for param, value in (
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, _TOP_PAD)))

    def trim(self) -> None:
        """Give every free page of the heap back to the OS (top and middle alike)."""
        if self._malloc_trim is not None:
            self._malloc_trim(0)


class HeapTrimmer:
    """Checked by the proxy's sweeper: trims once the resident set has grown by _TRIM_SLACK since the last trim, or
    once the buffers held in memory at the last trim (bodies, read-ahead: BufferBudget.used) are mostly freed.

    Large bodies and slow readers' buffers leave free heap pages that glibc keeps (by design, above: the next
    load reuses them without a page fault). Trimming at most once a second bounds what a load costs in refaults,
    and brings the RSS back near its baseline within about a second of the load's end. The second rule is for a
    trim that came while a load still held its bodies: the resident set does not grow again when they are freed.
    It waits until they have fallen by _TRIM_SLACK and to a quarter: a load still going, whose level swings between
    uploads, would only refault what a trim gave back (2-4% fewer uploads/s in an A/B run, trimming at any fall).
    """

    __slots__ = ("heap", "trims", "_statm", "_page", "_last_check", "_resident_after_trim", "_held_at_trim")

    def __init__(self, heap: CHeap) -> None:
        self.heap = heap
        self.trims = 0
        self._statm = "/proc/self/statm"
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._last_check = 0.0
        self._resident_after_trim = self.resident()
        self._held_at_trim = 0

    def resident(self) -> int:
        """This process's RSS in bytes (0 where /proc is absent)."""
        try:
            with open(self._statm, "rb") as statm:
                return int(statm.read().split()[1]) * self._page
        except (OSError, IndexError, ValueError):
            return 0

    def check(self, now: float, held: int = 0) -> bool:
        """Trim if due; returns whether it did. `held`: the bytes buffers hold in memory now (BufferBudget.used)."""
        if now - self._last_check < _TRIM_INTERVAL or not self.heap.available:
            return False
        self._last_check = now
        resident = self.resident()
        freed = self._held_at_trim - held >= _TRIM_SLACK and held <= self._held_at_trim // 4
        if resident - self._resident_after_trim < _TRIM_SLACK and not freed:
            # Shrunk by itself (munmap, a trim at free()): measure the next growth from here.
            self._resident_after_trim = min(self._resident_after_trim, resident)
            return False
        self.heap.trim()
        self.trims += 1
        self._resident_after_trim = self.resident()
        self._held_at_trim = held
        return True
