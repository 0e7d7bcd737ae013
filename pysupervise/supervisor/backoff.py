"""Restart delays for a crashing worker slot: 0.1 s doubling to 30 s, forgiven after 30 s of good uptime."""

from __future__ import annotations


class RestartBackoff:
    def __init__(self, initial: float = 0.1, maximum: float = 30.0, reset_after: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self.failures = 0

    def next_delay(self, uptime: float) -> float:
        """The wait before restarting a worker that ran for `uptime` seconds before it exited."""
        if uptime >= self.reset_after:
            self.failures = 0
        delay = min(self.initial * (2 ** self.failures), self.maximum)
        self.failures += 1
        return delay
