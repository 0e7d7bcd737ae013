"""How many bytes of bodies one front holds in memory over all its clients, against buffer_memory_total."""

from __future__ import annotations


class BufferBudget:
    """Request bodies and response read-ahead charge what they hold in memory here; past the total they spill.

    Each body and response buffer has its own cap (buffer_memory_max, response_buffer_max), but a flood of
    slow clients each filling its own would take the master's memory (4 096 connections x 1 MiB). With this
    shared total, what passes it goes to a spill file at once, as nginx's small per-connection buffers do, and
    only when a file cannot take it either (a full disk) does memory pass the total, by each buffer's own cap.
    """

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0

    def take(self, size: int, total: int) -> bool:
        """Charge `size` bytes if they fit under `total` (the current buffer_memory_total)."""
        if self.used + size > total:
            return False
        self.used += size
        return True

    def force(self, size: int) -> None:
        """Charge bytes that stay in memory past the total (there was nowhere else for them)."""
        self.used += size

    def give(self, size: int) -> None:
        self.used -= size
