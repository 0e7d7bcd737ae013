"""A front process's side of routing: the master's snapshots made into this process's own backends, workers
(endpoints) and route tables, and the counts this front reports back."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from pysupervise.access_lines import format_lines
from pysupervise.proxy.backend import AppBackend, DurationHistogram
from pysupervise.proxy.dispatcher import QueueStats
from pysupervise.proxy.endpoint import Endpoint
from pysupervise.proxy.fronts.slot_balance import even_share
from pysupervise.proxy.fronts.home_balance import RequestRates
from pysupervise.proxy.fronts.views import (BackendCounts, BackendView, EndpointView, FrontHello, FrontReport,
                                            RoutingSnapshot)
from pysupervise.proxy.routing import AdminRoutes, HealthRoute, Route
from pysupervise.proxy.server import ProxyServer
from pysupervise.proxy.static import StaticSite

# Access-log lines a front keeps for the master between two reports; past it, lines are dropped (and counted)
# rather than letting a stuck master's front grow without bound.
_ACCESS_LINES_MAX = 100_000
# How long an error page waits for the master to send a live worker's stderr; then it shows what this front knows.
_DIAGNOSTICS_WAIT = 1.0


class ForwardedAccessLog:
    """A backend's access log in a front process: the front formats its lines (so the master does not format every
    front's), and they go to the master with the next report; the master writes the app's file."""

    __slots__ = ("limit", "records", "dropped_lines", "_dropped_reported")

    def __init__(self, limit: int = _ACCESS_LINES_MAX) -> None:
        self.limit = limit
        self.records: list[tuple] = []
        self.dropped_lines = 0
        self._dropped_reported = 0

    def record(self, client_ip: str, method: bytes, url: bytes, status: int, body_bytes: int,
               seconds: float, worker: str, request_id: bytes) -> None:
        if len(self.records) < self.limit:
            self.records.append((time.time(), client_ip, method, url, status, body_bytes, seconds, worker,
                                 request_id))
        else:
            self.dropped_lines += 1

    def flush(self) -> None:
        """The lines leave with the next report."""

    def take(self) -> tuple[bytes, int, int]:
        """(the lines recorded since the last take, formatted; how many; lines dropped since the last take)."""
        records, self.records = self.records, []
        dropped = self.dropped_lines - self._dropped_reported
        self._dropped_reported = self.dropped_lines
        return format_lines(records), len(records), dropped

    @property
    def pending(self) -> bool:
        return bool(self.records) or self.dropped_lines != self._dropped_reported


class PushedHealth:
    """The health page as the master last said it (a HealthSource)."""

    def __init__(self) -> None:
        self.status, self.body = 503, b'{"status":"unavailable","reasons":["starting"]}'

    def answer(self) -> tuple[int, bytes]:
        return self.status, self.body


class RouteMirror:
    """Applies the master's snapshots to `proxy`; `released` is called when a dropped worker has nothing left in
    flight here (the master waits for that before it stops the worker)."""

    def __init__(self, proxy: ProxyServer, hello: FrontHello, released: Callable[[int, int], None],
                 ask_master: Callable[[int, int], None]) -> None:
        self.proxy = proxy
        self.hello = hello
        self._released = released
        self._ask_master = ask_master  # (question number, endpoint key): "send me this worker's stderr"
        self._questions = itertools.count(1)
        self._asked: dict[int, Callable[[str], None]] = {}
        self.backends: dict[str, AppBackend] = {}
        self.endpoints: dict[int, Endpoint] = {}
        # Workers the master dropped that still have requests or tunnels in flight here (a drain deadline may
        # still close their tunnels).
        self.draining: dict[int, Endpoint] = {}
        self._farewells: dict[int, str] = {}
        self._served_reported: dict[int, int] = {}
        self._levels_reported: dict[int, tuple[int, bool, bool]] = {}
        self._queues_reported: dict[str, int] = {}
        self._errors_reported: dict[str, int] = {}
        self._connections_reported = (0, 0, 0, 0, 0)
        self.shares_applied = 0
        self._shares_applied_reported = 0
        self.health = PushedHealth()
        self._closed_for_room_reported = 0
        self._spill_failures_reported = 0
        self._rates = RequestRates()

    # -- the master's messages ----------------------------------------------------------------

    def apply(self, snapshot: RoutingSnapshot, number: int) -> None:
        self._farewells.update(snapshot.farewells)
        self.proxy.settings = snapshot.settings
        wanted: dict[int, Endpoint] = {}
        backends = {view.name: self._backend(view, wanted) for view in snapshot.backends}
        for name, backend in self.backends.items():
            if name not in backends:  # a removed app: what still waits for it is answered now
                backend.dispatcher.unavailable = f"app {name!r} was removed"
                backend.dispatcher.fail_queue(503, backend.dispatcher.unavailable)
        self.backends = backends
        for key, endpoint in list(self.endpoints.items()):
            if key not in wanted:
                del self.endpoints[key]
                self.draining[key] = endpoint
                endpoint.retire()
                asyncio.get_running_loop().create_task(self._release(key, endpoint, number))
        self.endpoints.update(wanted)
        routes = []
        for view in snapshot.routes:
            backend = backends[view.backend]
            target = StaticSite(view.prefix, Path(view.static_folder), backend) if view.static_folder else backend
            routes.append(Route(view.prefix, target, view.host, forward_prefix=view.forward_prefix))
        self.proxy.routes.replace(routes)
        admin = backends.get("_admin")
        if admin is not None:
            if self.proxy.admin_routes.target is not admin:
                self.proxy.admin_routes = AdminRoutes(self.hello.admin_rule, admin)
                self.proxy.health_route = HealthRoute(self.hello.health_path, self.health, admin,
                                                      self.hello.health_allow)
            self.proxy.admin_routes.replace(snapshot.admin_prefixes)

    def _backend(self, view: BackendView, wanted: dict[int, Endpoint]) -> AppBackend:
        backend = self.backends.get(view.name)
        if backend is None:
            backend = AppBackend(view.name, queue_limit=view.queue_limit, queue_timeout=view.queue_timeout,
                                 upstream_timeout=view.upstream_timeout)
        backend.reconfigure(queue_limit=view.queue_limit, queue_timeout=view.queue_timeout,
                            upstream_timeout=view.upstream_timeout, sticky=view.sticky)
        backend.worker_header = view.worker_header
        backend.failure_detail = view.failure_detail
        if view.logs_access and backend.access_log is None:
            backend.access_log = ForwardedAccessLog()
        elif not view.logs_access:
            backend.access_log = None
        endpoints = [self._endpoint(ev, wanted) for ev in view.endpoints]
        backend.debug_endpoint = self._endpoint(view.debug_endpoint, wanted) if view.debug_endpoint else None
        dispatcher = backend.dispatcher
        dispatcher.front_index, dispatcher.front_count = self.hello.index, self.hello.count
        became_unavailable = view.unavailable is not None and dispatcher.unavailable is None
        dispatcher.unavailable = view.unavailable
        dispatcher.set_endpoints(endpoints)
        if became_unavailable:
            dispatcher.fail_queue(503, view.unavailable)
        return backend

    def _endpoint(self, view: EndpointView, wanted: dict[int, Endpoint]) -> Endpoint:
        endpoint = self.endpoints.get(view.key) or wanted.get(view.key)
        if endpoint is None:
            share = even_share(view.capacity, self.hello.index, self.hello.count)
            endpoint = Endpoint(view.label, view.socket_path, share, slot=view.slot,
                                diagnostics=lambda key=view.key: self._farewells.get(key, ""))
            endpoint.ask_diagnostics = lambda reply, key=view.key: self.ask_diagnostics(key, reply)
            endpoint.worker_slots = view.capacity
        wanted[view.key] = endpoint
        return endpoint

    def ask_diagnostics(self, key: int, reply: Callable[[str], None]) -> None:
        """`reply` gets the worker's recent stderr from the master, or after _DIAGNOSTICS_WAIT what this front knows
        (its farewell, if it has exited), whichever comes first: an error page never waits on a busy master."""
        number = next(self._questions)
        self._asked[number] = reply
        self._ask_master(number, key)
        asyncio.get_running_loop().call_later(
            _DIAGNOSTICS_WAIT, lambda: self.diagnostics_came(number, self._farewells.get(key, "")))

    def diagnostics_came(self, number: int, stderr: str) -> None:
        reply = self._asked.pop(number, None)
        if reply is not None:
            reply(stderr)

    async def _release(self, key: int, endpoint: Endpoint, dropped_in: int) -> None:
        await endpoint.drained()
        if self.draining.get(key) is endpoint:
            del self.draining[key]
        self._served_reported.pop(key, None)
        self._levels_reported.pop(key, None)
        # Its farewell may still be wanted by a 502 page being written: kept a little longer than the 1 s wait.
        asyncio.get_running_loop().call_later(5.0, self._farewells.pop, key, None)
        self._released(key, dropped_in)

    def close_tunnels(self, key: int, code: int) -> None:
        for endpoint in (self.endpoints.get(key), self.draining.get(key)):
            if endpoint is not None:
                endpoint.close_tunnels(code)

    def set_shares(self, number: int, shares: dict[int, tuple[int, int]]) -> None:
        """The master moved slots to or from this front (fronts/slot_balance.py), and says what the other fronts
        have in flight on each worker (least-busy choices count it)."""
        grew = False
        self.shares_applied = number
        for key, (share, elsewhere) in shares.items():
            endpoint = self.endpoints.get(key)
            if endpoint is not None:
                grew = grew or share > endpoint.capacity
                endpoint.capacity = share
                endpoint.in_flight_elsewhere = elsewhere
        if grew:
            for backend in self.backends.values():
                backend.dispatcher.serve_queue()

    def set_away(self, fractions: dict[str, float]) -> None:
        """The fraction of each app's requests to send away from this front's home workers (home_balance.py)."""
        for name, away in fractions.items():
            backend = self.backends.get(name)
            if backend is not None:
                backend.dispatcher.away = away

    def set_health(self, status: int, body: bytes) -> None:
        self.health.status, self.health.body = status, body

    # -- reports ------------------------------------------------------------------------------

    def report(self) -> FrontReport | None:
        """What changed since the previous report (counters are taken and reset), or None when nothing did."""
        report = FrontReport()
        news = False
        for name, backend in self.backends.items():
            queue_length = len(backend.dispatcher.queue)
            counts = _take_counts(backend, queue_length != self._queues_reported.get(name, 0))
            if counts is not None:
                self._queues_reported[name] = queue_length
                report.backends[name] = counts
                news = True
        for key, endpoint in (*self.draining.items(), *self.endpoints.items()):
            served = endpoint.served - self._served_reported.get(key, 0)
            level = (endpoint.in_flight, endpoint.stalled, endpoint.unresponsive)
            if served or level != self._levels_reported.get(key, (0, False, False)):
                self._served_reported[key] = endpoint.served
                self._levels_reported[key] = level
                report.endpoints[key] = (served, *level)
                news = True
        proxy = self.proxy
        report.connections, report.idle_connections = proxy.connection_count(), proxy.idle_count()
        report.parked_connections = len(proxy.parking)
        report.buffered_in_memory = proxy.buffer_budget.used
        report.read_ahead_requests = proxy.read_ahead
        report.shares_applied = self.shares_applied
        rates_before = self._rates.rates
        report.request_rates = self._rates.sample(self.backends, asyncio.get_running_loop().time())
        news = news or report.request_rates != rates_before
        if self.shares_applied != self._shares_applied_reported:
            self._shares_applied_reported = self.shares_applied
            news = True
        connection_levels = (report.connections, report.idle_connections, report.parked_connections,
                             report.buffered_in_memory, report.read_ahead_requests)
        if connection_levels != self._connections_reported:
            self._connections_reported = connection_levels
            news = True
        report.closed_for_room = proxy.closed_for_room - self._closed_for_room_reported
        report.spill_failures = proxy.spill_dir.failures - self._spill_failures_reported
        self._closed_for_room_reported = proxy.closed_for_room
        self._spill_failures_reported = proxy.spill_dir.failures
        for task, count in proxy.task_errors.counts.items():
            if count != self._errors_reported.get(task, 0):
                report.task_errors[task] = count - self._errors_reported.get(task, 0)
                self._errors_reported[task] = count
        return report if news or report.closed_for_room or report.spill_failures or report.task_errors else None


def _take_counts(backend: AppBackend, queue_changed: bool) -> BackendCounts | None:
    stats = backend.dispatcher.stats
    log = backend.access_log
    forwarded = log if isinstance(log, ForwardedAccessLog) and log.pending else None
    if not (backend.status_counts or stats.queued_total or stats.rejected_full or stats.timed_out or forwarded
            or queue_changed or backend.truncated):
        return None
    lines, line_count, dropped = forwarded.take() if forwarded is not None else (b"", 0, 0)
    counts = BackendCounts(dict(backend.status_counts), backend.bytes_in, backend.bytes_out,
                           list(backend.durations.counts), backend.durations.total, stats.queued_total,
                           stats.rejected_full, stats.timed_out, stats.wait_total, list(stats.wait_samples),
                           len(backend.dispatcher.queue), lines, line_count, dropped, dict(backend.truncated))
    backend.status_counts = Counter()
    backend.truncated = Counter()
    backend.bytes_in = backend.bytes_out = 0
    backend.durations = DurationHistogram()
    backend.dispatcher.stats = QueueStats()
    return counts
