"""`pysupervise drain` and SIGUSR2: out of the load balancer first, then a graceful stop."""

from __future__ import annotations

import asyncio
import os
from typing import AsyncIterator, Callable

from pysupervise.periodic import BackgroundTasks
from pysupervise.supervisor.service.health_page import SiteHealth


class Drain:
    """The health page answers 503 at once; everything still routed here is served for `timeout` seconds (the
    balancers' time to notice), then `stop` begins the graceful stop. A second drain joins the first."""

    def __init__(self, health: SiteHealth, timeout: float, stop: Callable[[], None], say: Callable[[str], None],
                 background: BackgroundTasks) -> None:
        self.health = health
        self.timeout = timeout
        self._stop = stop
        self._say = say
        self._background = background

    def begin(self, trigger: str) -> None:
        if self.health.state != "serving":
            return  # draining already (a second drain joins the first), or stopping
        self.health.state = "draining"
        self.health.drain_ends = asyncio.get_running_loop().time() + self.timeout
        self._say(f"pysupervise draining ({trigger}): the health page answers 503, requests are served for "
                  f"{self.timeout:g} s more, then the master stops")
        self._background.run(self._stop_later())

    async def _stop_later(self) -> None:
        await asyncio.sleep(self.timeout)
        self._stop()

    async def report(self, stopped: asyncio.Event) -> AsyncIterator[dict]:
        """The control request: drain, say so, and answer again once the master has stopped (as `stop` does)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.begin("pysupervise drain")
        remaining = self.health.drain_seconds_left()
        if remaining is None:  # the graceful stop has begun already
            yield {"ok": True, "stopping": True}
        else:
            yield {"ok": True, "draining": True, "seconds_left": round(remaining, 1)}
        await stopped.wait()
        yield {"ok": True, "stopped": True, "seconds": round(loop.time() - started, 2), "pid": os.getpid()}
