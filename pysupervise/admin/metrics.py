"""<index_path>/metrics: every app's app_status() in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from aiohttp import web

from pysupervise.admin.view import SiteView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "pysupervise_"
# Listed even when no worker is in them, so a dashboard's series do not come and go.
WORKER_STATES = ("starting", "ready", "draining", "stopping", "debug", "exited")

Labels = tuple[tuple[str, str], ...]


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Family:
    """One metric family being built: its HELP and TYPE lines and its samples (name suffix, labels, value).

    `common` labels lead every sample's own: the host's (`[supervisor] host_id`), so the series of many hosts
    stay apart wherever they are gathered."""

    def __init__(self, name: str, kind: str, help_text: str, common: Labels = ()) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.common = common
        self.samples: list[tuple[str, Labels, float | int]] = []

    def add(self, labels: Mapping[str, Any], value: float | int | None, suffix: str = "") -> None:
        if value is None:
            return  # unknown right now (no samples yet, the worker just exited): no sample beats a made-up one
        self.samples.append((suffix, self.common + tuple((k, str(v)) for k, v in labels.items()), value))

    def render(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for suffix, labels, value in self.samples:
            text = ",".join(f'{key}="{escape_label(value)}"' for key, value in labels)
            lines.append(f"{self.name}{suffix}{{{text}}} {format_value(value)}" if text
                         else f"{self.name}{suffix} {format_value(value)}")
        return "\n".join(lines) + "\n"


def render_metrics(statuses: Iterable[Mapping[str, Any]], site: Mapping[str, Any] | None = None) -> str:
    """The exposition of every app, and of the master's own background tasks (`site`: site_status() facts):
    counters as totals since the master started (they survive reloads). Every sample carries the `host` label."""
    host_id = (site or {}).get("host_id")
    common: Labels = (("host", str(host_id)),) if host_id else ()
    families = {name: Family(PREFIX + name, kind, text, common) for name, kind, text in (
        ("requests_total", "counter", "Responses sent for the app, by HTTP status code."),
        ("truncated_responses_total", "counter", "Responses cut off after their head (counted in requests_total "
                                                 "too), by why: worker-silent (nothing for upstream_timeout), "
                                                 "worker-closed, invalid-response, static-file-changed, "
                                                 "static-file-unreadable (a disk error). One still held whole reaches "
                                                 "the client as a 502 or 504 instead."),
        ("request_duration_seconds", "histogram", "Time from a request's arrival at the proxy to the end of its "
                                                  "response."),
        ("received_bytes_total", "counter", "Request body bytes received from clients for the app."),
        ("sent_bytes_total", "counter", "Response bytes sent to clients for the app."),
        ("queue_length", "gauge", "Requests waiting in the app's queue for a free worker slot."),
        ("queue_wait_seconds", "summary", "Time requests waited in the queue for a worker slot (quantiles over "
                                          "recent waits; sum and count since the start)."),
        ("queued_requests_total", "counter", "Requests that had to wait in the app's queue."),
        ("queue_rejected_total", "counter", "Requests answered 503 because the queue was full or the wait too long."),
        ("in_flight_requests", "gauge", "Requests being served by the app's workers now."),
        ("workers", "gauge", "The app's worker processes, by state."),
        ("restarts_total", "counter", "Crashed workers the supervisor replaced."),
        ("reloads_total", "counter", "Reloads (new generations) of the app, by result."),
        ("app_generation", "gauge", "The generation that serves the app's traffic (absent while it has none)."),
        ("app_failed", "gauge", "1 while the app is marked failed (every slot crash-looping, or no generation "
                                "would start)."),
        ("app_next_attempt_timestamp_seconds", "gauge", "When a failed app tries again by itself (unix time; absent "
                                                        "unless it is failed)."),
        ("app_recovery_attempts_total", "counter", "Automatic tries of a failed app to start again."),
        ("slot_crash_looping", "gauge", "1 for a worker slot past max_restarts within restart_window, retried on its "
                                        "own slower schedule while the others serve."),
        ("worker_resident_memory_bytes", "gauge", "Resident memory of each worker process."),
        ("access_log_dropped_lines_total", "counter", "Access log lines dropped because the file could not be "
                                                      "written (a full disk), or a front process held more than "
                                                      "its limit for a master that did not read them."),
        ("log_dropped_bytes_total", "counter", "Worker output bytes dropped because the log file could not be "
                                               "written (a full disk)."),
        ("background_errors_total", "counter", "Errors of the master's background tasks (deadline sweeper, "
                                               "health monitor, file watcher, log writers, ...), by task; each "
                                               "task carries on after an error."),
    )}
    for status in statuses:
        _add_app(families, status)
    for task, count in ((site or {}).get("task_errors") or {}).items():
        families["background_errors_total"].add({"task": task}, count)
    return "".join(family.render() for family in families.values())


def _add_app(families: dict[str, Family], status: Mapping[str, Any]) -> None:
    app = {"app": str(status.get("app", ""))}
    for code, count in (status.get("status_counts") or {}).items():
        families["requests_total"].add({**app, "code": code}, count)
    for reason, count in (status.get("truncated_responses") or {}).items():
        families["truncated_responses_total"].add({**app, "reason": reason}, count)
    _add_histogram(families["request_duration_seconds"], app, status)
    families["received_bytes_total"].add(app, status.get("bytes_in"))
    families["sent_bytes_total"].add(app, status.get("bytes_out"))
    families["queue_length"].add(app, status.get("queue_length"))
    families["queue_wait_seconds"].add({**app, "quantile": "0.5"}, status.get("queue_wait_p50"))
    families["queue_wait_seconds"].add({**app, "quantile": "0.99"}, status.get("queue_wait_p99"))
    families["queue_wait_seconds"].add(app, status.get("queue_wait_sum"), "_sum")
    families["queue_wait_seconds"].add(app, status.get("queue_waits"), "_count")
    families["queued_requests_total"].add(app, status.get("queued_total"))
    families["queue_rejected_total"].add(app, status.get("queue_rejected"))
    workers = status.get("workers") or []
    families["in_flight_requests"].add(app, sum(int(w.get("in_flight") or 0) for w in workers))
    states = dict.fromkeys(WORKER_STATES, 0)
    for worker in workers:
        state = str(worker.get("state"))
        states[state] = states.get(state, 0) + 1
    for state, count in states.items():
        families["workers"].add({**app, "state": state}, count)
    families["restarts_total"].add(app, status.get("restarts"))
    families["reloads_total"].add({**app, "result": "ok"}, status.get("reloads_ok"))
    families["reloads_total"].add({**app, "result": "failed"}, status.get("reloads_failed"))
    families["app_generation"].add(app, status.get("generation"))
    families["app_failed"].add(app, 1 if status.get("state") == "failed" else 0)
    families["app_next_attempt_timestamp_seconds"].add(app, status.get("next_attempt"))
    families["app_recovery_attempts_total"].add(app, status.get("recovery_attempts"))
    for slot in status.get("slots") or []:
        families["slot_crash_looping"].add({**app, "slot": slot.get("slot")}, 1 if slot.get("crash_looping") else 0)
    for worker in workers:
        labels = {**app, "generation": worker.get("generation"), "slot": worker.get("slot"), "pid": worker.get("pid")}
        families["worker_resident_memory_bytes"].add(labels, worker.get("rss"))
    families["access_log_dropped_lines_total"].add(app, status.get("access_log_dropped"))
    families["log_dropped_bytes_total"].add(app, status.get("log_dropped_bytes"))


def _add_histogram(family: Family, app: Mapping[str, str], status: Mapping[str, Any]) -> None:
    """Per-bucket counts (the last one for requests slower than every bound) become cumulative `le` buckets."""
    bounds = list(status.get("duration_buckets") or [])
    counts = list(status.get("duration_counts") or [])
    if len(counts) != len(bounds) + 1:
        return  # not a histogram this code understands: leave it out rather than export wrong buckets
    running = 0
    for bound, count in zip(bounds, counts):
        running += int(count)
        family.add({**app, "le": format_value(float(bound))}, running, "_bucket")
    total = running + int(counts[-1])
    family.add({**app, "le": "+Inf"}, total, "_bucket")
    family.add(app, total, "_count")
    family.add(app, float(status.get("duration_sum") or 0.0), "_sum")


class MetricsPage:
    """The handler; it sits behind the admin access check like every other admin URL."""

    def __init__(self, site: SiteView) -> None:
        self.site = site

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        site = self.site.site_status()
        return web.Response(body=render_metrics(site.get("apps") or [], site).encode(),
                            headers={"Content-Type": CONTENT_TYPE})
