"""Notices workers that are hung (through LivenessProbe) or grew past max_memory, and has the app host replace them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psutil

from pysupervise.periodic import PeriodicTask, TaskErrors
from pysupervise.supervisor.liveness import LivenessProbe

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost

# psutil reads /proc for every worker: RSS is sampled every few seconds.
MEMORY_SAMPLE_INTERVAL = 5.0


class HealthMonitor:
    """One per app; looks only at the live generation's ready workers."""

    def __init__(self, host: "AppHost", errors: TaskErrors) -> None:
        self.host = host
        self.liveness = LivenessProbe(host, errors)
        self._memory = PeriodicTask(f"health-monitor:{host.name}", MEMORY_SAMPLE_INTERVAL, self.check_memory, errors)

    def start(self) -> "HealthMonitor":
        self.liveness.start()
        self._memory.start()
        return self

    def stop(self) -> None:
        self.liveness.stop()
        self._memory.stop()

    def check_memory(self) -> None:
        host = self.host
        generation = host.live
        if generation is None or host.state != "running":
            return
        if host.config.max_memory:
            for worker in list(generation.workers.values()):
                if worker.state != "ready":
                    continue
                try:
                    rss = psutil.Process(worker.pid).memory_info().rss
                except psutil.Error:
                    continue
                if rss > host.config.max_memory:
                    host.recycle(generation, worker, f"RSS {rss} bytes > max_memory {host.config.max_memory}")
