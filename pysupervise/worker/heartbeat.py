"""The event loop's heartbeat: a tiny callback on the app's loop that stamps the time, read by the control thread."""

from __future__ import annotations

import asyncio
import time

# Often enough that a stall is seen within a second, rare enough to cost nothing (one timer a second).
BEAT_SECONDS = 1.0


class LoopHeartbeat:
    """Started on the loop that runs the app; `stalled_for()` may be called from any thread.

    A float read and written whole is safe across threads under the GIL; nothing else is shared.
    """

    def __init__(self, interval: float = BEAT_SECONDS) -> None:
        self.interval = interval
        self._last_beat: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._beat()

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        assert self._loop is not None
        self._loop.call_later(self.interval, self._beat)

    def stalled_for(self) -> float | None:
        """Seconds the next beat is overdue (0.0 while the loop keeps running); None before the loop started."""
        last = self._last_beat
        if last is None:
            return None
        return max(0.0, time.monotonic() - last - self.interval)
