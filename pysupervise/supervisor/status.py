"""Read-only snapshots of the running site, as plain dicts (JSON for the CLI, data for admin pages)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.generation import Generation
    from pysupervise.supervisor.worker import WorkerProcess


def _rss(pid: int) -> int | None:
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.Error, OSError):
        return None


def worker_status(worker: "WorkerProcess", generation: "Generation") -> dict[str, Any]:
    endpoint = worker.endpoint
    alive = worker.state in ("starting", "ready", "draining", "stopping")
    return {
        "generation": generation.number,
        "slot": worker.slot,
        "pid": worker.pid,
        "state": worker.state,
        "uptime": round(time.time() - worker.started_at, 1) if alive and worker.started_at else 0,
        "requests": endpoint.served if endpoint is not None else 0,
        "in_flight": endpoint.in_flight if endpoint is not None else 0,
        "rss": _rss(worker.pid) if alive and worker.pid else None,
    }


def app_status(host: "AppHost") -> dict[str, Any]:
    config = host.config
    workers = []
    for generation in [g for g in (host.live, *host.draining) if g is not None]:
        workers += [worker_status(w, generation) for w in generation.all_workers()]
    dispatcher = host.backend.dispatcher
    return {
        "app": host.name,
        "route": list(config.route),
        "host": config.host,
        "state": host.state,
        "failure": host.failure,
        "generation": host.live.number if host.live is not None else None,
        "workers": workers,
        "restarts": host.restarts,
        "queue_length": len(dispatcher.queue),
        "last_reload": {k: v for k, v in host.last_reload.items() if k != "output"},
    }
