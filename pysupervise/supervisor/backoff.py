"""Restart delays: a slot's quick restarts, its crash loop (more than max_restarts exits within restart_window),
and the growing waits between automatic retries of a crash-looping slot or of a failed app."""

from __future__ import annotations

import time
from collections import deque


class RestartBackoff:
    """Delays from `initial` doubling to `maximum`, forgiven (back to `initial`) after `reset_after` s of uptime."""

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


class SlotRestarts:
    """One worker slot's recent exits. Each slot counts its own, so a crash-looping slot (or a request that kills
    the worker it reaches) never counts against the slots that serve.

    A slot with more than `max_restarts` exits within `window` seconds is crash-looping: it is retried after
    `retry_delay`, doubling to `retry_delay_max`, until a worker of it stays up for `reset_after` seconds.
    A slot with a ready worker can serve, crash-looping or not.
    """

    def __init__(self, max_restarts: int, window: float, retry_delay: float, retry_delay_max: float,
                 reset_after: float = 30.0) -> None:
        self.max_restarts = max_restarts
        self.window = window
        self.exits: deque[float] = deque()
        self.quick = RestartBackoff(reset_after=reset_after)
        self.slow = RestartBackoff(retry_delay, retry_delay_max, reset_after)
        self.crash_looping = False
        self.next_start: float | None = None  # wall-clock time of the scheduled restart
        self.last_exit = ""
        self.ready_at: float | None = None  # monotonic time its current worker became ready; None while it has none

    def exited(self, uptime: float, how: str) -> float:
        """Count one exit of a worker that ran `uptime` s; the wait before this slot's next start."""
        now = time.monotonic()
        self.last_exit = how
        self.ready_at = None
        if uptime >= self.quick.reset_after:  # it served for a while: its earlier exits are forgiven
            self.crash_looping = False
            self.exits.clear()
            self.slow.failures = 0
        self.exits.append(now)
        while self.exits and self.exits[0] < now - self.window:
            self.exits.popleft()
        if len(self.exits) > self.max_restarts:
            self.crash_looping = True
        quick = self.quick.next_delay(uptime)
        delay = self.slow.next_delay(uptime) if self.crash_looping else quick
        self.next_start = time.time() + delay
        return delay

    def starting(self) -> None:
        self.next_start = None

    def serving(self) -> None:
        self.ready_at = time.monotonic()

    @property
    def can_serve(self) -> bool:
        return self.ready_at is not None

    @property
    def looping(self) -> bool:
        """Crash-looping, and not (yet) forgiven by a worker that has been up for `reset_after`."""
        ready_at = self.ready_at
        return self.crash_looping and (ready_at is None or time.monotonic() - ready_at < self.quick.reset_after)

    def snapshot(self, slot: int) -> dict[str, object]:
        since = time.monotonic() - self.window
        return {"slot": slot, "crash_looping": self.looping, "exits_in_window": sum(t >= since for t in self.exits),
                "next_start": self.next_start, "last_exit": self.last_exit}
