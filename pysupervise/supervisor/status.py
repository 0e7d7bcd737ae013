"""Read-only snapshots of the running site, as plain dicts (JSON for the CLI, data for admin pages and metrics)."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any, Iterable

import psutil

from pysupervise.config import AdminSettings, AppConfig
from pysupervise.proxy.backend import DURATION_BUCKETS

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.worker import WorkerProcess

ALIVE_STATES = ("starting", "ready", "draining", "stopping", "debug")


def _rss(pid: int) -> int | None:
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.Error, OSError):
        return None


def worker_status(worker: "WorkerProcess", generation_number: int, restarts: int = 0) -> dict[str, Any]:
    endpoint = worker.endpoint
    alive = worker.state in ALIVE_STATES
    return {
        "generation": generation_number,
        "slot": worker.slot,
        "pid": worker.pid,
        "state": worker.state,
        "uptime": round(time.time() - worker.started_at, 1) if alive and worker.started_at else 0,
        "requests": endpoint.served if endpoint is not None else 0,
        "in_flight": endpoint.in_flight + endpoint.in_flight_elsewhere if endpoint is not None else 0,
        "max_concurrent_requests": endpoint.worker_slots if endpoint is not None else None,
        "rss": _rss(worker.pid) if alive and worker.pid else None,
        "cpu_percent": worker.cpu_percent() if alive and worker.pid else None,
        "restarts": restarts,
    }


def _percentile(samples: list[float], fraction: float) -> float | None:
    if not samples:
        return None
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[round(fraction * 100) - 1]


def app_status(host: "AppHost") -> dict[str, Any]:
    config = host.config
    workers = []
    for generation in [g for g in (host.live, *host.draining) if g is not None]:
        workers += [worker_status(w, generation.number, host.slot_restarts.get(w.slot, 0))
                    for w in generation.all_workers()]
    debug = host.debug.worker
    if debug is not None and not debug.has_exited:
        workers.append(worker_status(debug, debug.generation))
    backend = host.backend
    dispatcher = backend.dispatcher
    waits = list(dispatcher.stats.wait_samples)
    return {
        "app": host.name,
        "route": list(config.route),
        "host": config.host,
        "state": host.state,
        "failure": host.failure,
        # `pysupervise stop APP` (state "stopped" until `start APP`) and `pysupervise scale APP N`.
        "stopped_by_operator": host.held,
        "scaled_workers": host.scaled_workers,
        # When a failed app tries again by itself (unix time), how often it has, and the last unexpected exits.
        "next_attempt": host.next_attempt,
        "recovery_attempts": host.recovery_attempts,
        "last_exits": list(host.last_exits),
        # Slots that exited lately: their exits within restart_window, crash loop, and next start (unix time).
        "slots": host.slot_restart_states(),
        "generation": host.live.number if host.live is not None else None,
        "workers": workers,
        "restarts": host.restarts,
        "queue_length": len(dispatcher.queue) + dispatcher.queued_elsewhere,
        "queue_wait_p50": _percentile(waits, 0.50),
        "queue_wait_p99": _percentile(waits, 0.99),
        "queue_wait_sum": dispatcher.stats.wait_total,
        "queue_waits": dispatcher.stats.queued_total - len(dispatcher.queue),
        "queued_total": dispatcher.stats.queued_total,
        "queue_rejected": dispatcher.stats.rejected_full + dispatcher.stats.timed_out,
        "requests_total": sum(backend.status_counts.values()),
        "status_counts": {str(code): count for code, count in sorted(backend.status_counts.items())},
        # Of those, responses cut off after their head, by why: a worker silent for upstream_timeout, one that
        # closed its connection, one that sent invalid HTTP.
        "truncated_responses": dict(sorted(backend.truncated.items())),
        "bytes_in": backend.bytes_in,
        "bytes_out": backend.bytes_out,
        "duration_buckets": list(DURATION_BUCKETS),
        "duration_counts": list(backend.durations.counts),
        "duration_sum": backend.durations.total,
        "reloads_ok": host.reloads_ok,
        "reloads_failed": host.reloads_failed,
        "last_reload": {k: v for k, v in host.last_reload.items() if k != "output"},
        # Lines and bytes lost while the disk was full (or the file could not be written).
        "access_log_dropped": backend.access_log.dropped_lines if backend.access_log is not None else 0,
        "events_dropped": host.events.dropped_lines,
        "log_dropped_bytes": host.logs.dropped_bytes,
        "debug_enabled": config.debug,
        "debug_worker": debug.pid if debug is not None and not debug.has_exited else None,
    }


def startup_summary(hosts: Iterable["AppHost"], url: str, admin: AdminSettings,
                    admin_url: str | None = None) -> list[str]:
    """What `pysupervise start` prints once up: each app's URL, workers and admin pages, then the admin pages
    that an app's own route also covers (admin clients get the page there, everyone else the app).

    `admin_url`: `[supervisor] admin_listen`'s address, where this host reaches its own admin pages."""
    hosts = list(hosts)
    site_url, url = url, admin_url or url
    rows = [("APP", "URL", "WORKERS", "ADMIN")]
    for host in hosts:
        ready = sum(1 for w in (host.live.workers.values() if host.live else ()) if w.state == "ready")
        state = {"failed": "FAILED", "stopped": "STOPPED"}.get(host.state, f"{ready}/{host.config.workers}")
        app_url = ", ".join(site_url + prefix.rstrip("/") + "/" for prefix in host.config.route)
        pages = [*admin.app_pages(host.config), admin.status_home(host.name)]
        if host.config.debug:
            pages[2] += "/"  # the debugger's page; its bare URL redirects there
        rows.append((host.name, app_url, state, " ".join(pages)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    lines.append(f"  admin index: {url}{admin.index_path.rstrip('/')}/")
    lines.append(f"  health page (load balancers): {site_url}{admin.health_path}")
    configs = [host.config for host in hosts]
    for host in hosts:
        for owner, covered in _covered_pages(admin.app_pages(host.config), configs).items():
            lines.append(f"  note: the routes of app {owner!r} also cover {' '.join(covered)}: admin clients get "
                         f"the admin pages there, everyone else the app ({host.name}'s status page is always at "
                         f"{url}{admin.status_home(host.name)})")
    catch_all = [app.name for app in configs if "/" in app.route]
    if catch_all:
        lines.append(f"  note: app {catch_all[0]!r} at / gets every admin URL above from clients that are not admin")
    return lines


def _covered_pages(pages: Iterable[str], apps: list[AppConfig]) -> dict[str, list[str]]:
    """App name → the pages that its routes would get but for the admin pages (longest prefix, whole segments,
    as the proxy matches them). An app at "/" is left out: it covers every admin URL, which one line says."""
    covered: dict[str, list[str]] = {}
    for page in pages:
        owners = [(len(prefix), app.name) for app in apps for prefix in app.route
                  if page == prefix or page.startswith(prefix + "/")]
        if owners:
            covered.setdefault(max(owners)[1], []).append(page)
    return covered
