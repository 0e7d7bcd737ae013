"""Outage: a client's memory that the bus went silent, so calls fail at once instead of each waiting out its timeout."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from .errors import BusUnavailable

log = logging.getLogger("pysupervise.bus")

PROBE_PAUSE = (0.1, 2.0)  # first and longest pause between two probes while the bus stays silent


class Outage:
    """Silence (a request past its deadline, a failed health check) starts an outage; any answer ends it.

    During an outage a call does not send its request on a connection that may be black-holed:
    it waits for one probe (a fresh connection's handshake or PING, bounded by the probe's own
    deadline) that concurrent callers share, or, within the pause after a failed probe, fails at
    once. A refused connection is not silence: it fails fast by itself, and the next call retries.
    """

    def __init__(self, what: str) -> None:
        self.what = what  # "the Redis bus at redis://…", for messages
        self.since: float | None = None  # wall-clock start, for messages
        self.reason = ""
        self.count = 0
        self._probe: asyncio.Task[None] | None = None
        self._next_probe = 0.0  # monotonic
        self._pause = PROBE_PAUSE[0]

    @property
    def down(self) -> bool:
        return self.since is not None

    def begin(self, reason: str) -> bool:
        """The bus did not answer; True if this starts the outage (the caller drops its connections)."""
        self.reason = reason
        if self.since is not None:
            return False
        self.since = time.time()
        self.count += 1
        self._next_probe = 0.0
        self._pause = PROBE_PAUSE[0]
        log.warning("bus: %s went silent (%s); calls fail at once until it answers again", self.what, reason)
        return True

    def end(self) -> None:
        """The bus answered."""
        if self.since is None:
            return
        log.info("bus: %s answers again after %.1fs", self.what, time.time() - self.since)
        self.since = None

    async def admit(self, probe: Callable[[], Awaitable[None]], patience: float = 0.0) -> None:
        """Return if the call may go ahead; raise BusUnavailable during an outage unless a probe just succeeded.

        patience: how long this call was prepared to wait anyway (a receive's timeout). It waits
        that long for the next probe rather than failing at once, so a loop of receive() calls
        never spins through an outage faster than its own timeout.
        """
        if self.since is None:
            return
        wait = self._next_probe - time.monotonic()
        if self._probe is None and wait > 0:
            if patience > 0:
                await asyncio.sleep(min(wait, patience))
                if self.since is None:
                    return
            # Still before the next probe (another caller's probe failed meanwhile, moving it on)?
            if wait > patience or (self._probe is None and self._next_probe - time.monotonic() > 0.01):
                raise self._error(f"next attempt in {max(0.0, self._next_probe - time.monotonic()):.1f}s")
        if self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(self._run_probe(probe), name="pysupervise-bus-probe")
            self._probe.add_done_callback(_retrieved)
        # Shielded: one caller giving up (cancelled) must not cancel the probe the others wait on.
        await asyncio.shield(self._probe)

    async def _run_probe(self, probe: Callable[[], Awaitable[None]]) -> None:
        try:
            await probe()
        except BusUnavailable as error:
            self._next_probe = time.monotonic() + self._pause
            self._pause = min(self._pause * 2, PROBE_PAUSE[1])
            raise self._error(f"retried just now: {error}") from None
        finally:
            self._probe = None
        self.end()

    def _error(self, detail: str) -> BusUnavailable:
        silent_for = time.time() - (self.since or time.time())
        return BusUnavailable(
            f"{self.what} has not answered for {silent_for:.1f}s ({self.reason}); calls fail at once "
            f"until it answers again ({detail})"
        )


def _retrieved(task: asyncio.Task[None]) -> None:
    # Every waiting caller gets the probe's error; if all of them were cancelled, nobody would
    # read it and asyncio would log "exception was never retrieved".
    if not task.cancelled():
        task.exception()
