"""`pysupervise drain` and SIGUSR2: out of the load balancer first, then a graceful stop."""

from __future__ import annotations

import asyncio
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
        self.began: float | None = None  # loop time

    def begin(self, trigger: str) -> None:
        if self.began is not None or self.health.state != "serving":
            return
        self.began = asyncio.get_running_loop().time()
        self.health.state = "draining"
        self._say(f"pysupervise draining ({trigger}): the health page answers 503, requests are served for "
                  f"{self.timeout:g} s more, then the master stops")
        self._background.run(self._stop_later())

    async def _stop_later(self) -> None:
        await asyncio.sleep(self.timeout)
        self._stop()

    def remaining(self) -> float | None:
        """Seconds until the graceful stop begins; None when not draining."""
        if self.began is None:
            return None
        return max(0.0, self.began + self.timeout - asyncio.get_running_loop().time())

    async def report(self, stopped: asyncio.Event) -> AsyncIterator[dict]:
        """The control request: drain, say so, and answer again once the master has stopped (as `stop` does)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.begin("pysupervise drain")
        remaining = self.remaining()
        if remaining is None:  # already stopping
            yield {"ok": True, "stopping": True}
        else:
            yield {"ok": True, "draining": True, "seconds_left": round(remaining, 1)}
        await stopped.wait()
        yield {"ok": True, "stopped": True, "seconds": round(loop.time() - started, 2)}
