"""Notices workers that stopped answering, or grew past max_memory, and has the app host replace them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import psutil

from pysupervise.periodic import PeriodicTask, TaskErrors

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost

CHECK_INTERVAL = 1.0
# RSS is sampled less often than hangs are checked: psutil reads /proc for every worker.
MEMORY_SAMPLE_INTERVAL = 5.0


class HealthMonitor:
    """One per app; looks only at the live generation's ready workers."""

    def __init__(self, host: "AppHost", errors: TaskErrors) -> None:
        self.host = host
        self._next_memory_sample = 0.0
        self._task = PeriodicTask(f"health-monitor:{host.name}", CHECK_INTERVAL,
                                  lambda: self.check(asyncio.get_running_loop().time()), errors)

    def start(self) -> "HealthMonitor":
        self._task.start()
        return self

    def stop(self) -> None:
        self._task.stop()

    def check(self, now: float) -> None:
        host = self.host
        generation = host.live
        if generation is None or host.state != "running":
            return
        limit = host.config.upstream_timeout
        for worker in list(generation.workers.values()):
            endpoint = worker.endpoint
            if worker.state != "ready" or endpoint is None:
                continue
            if endpoint.seems_hung(now, limit):
                host.worker_hung(generation, worker, now - endpoint.last_progress)
        if host.config.max_memory and now >= self._next_memory_sample:
            self._next_memory_sample = now + MEMORY_SAMPLE_INTERVAL
            for worker in list(generation.workers.values()):
                if worker.state != "ready":
                    continue
                try:
                    rss = psutil.Process(worker.pid).memory_info().rss
                except psutil.Error:
                    continue
                if rss > host.config.max_memory:
                    host.recycle(generation, worker, f"RSS {rss} bytes > max_memory {host.config.max_memory}")
