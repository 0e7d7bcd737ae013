"""A front's report added into the master's own objects, so status, metrics and access logs cover every front."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pysupervise.proxy.fronts.views import FrontReport

if TYPE_CHECKING:
    from pysupervise.proxy.endpoint import Endpoint
    from pysupervise.proxy.fronts.publisher import RoutingPublisher


@dataclass
class FrontLevels:
    """What one front last said it holds now (levels, replaced by each report; counts are added up instead)."""

    in_flight: dict[int, int] = field(default_factory=dict)
    queue_lengths: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    idle_connections: int = 0
    parked_connections: int = 0
    buffered_in_memory: int = 0
    read_ahead_requests: int = 0
    # Requests per second the front sends each app's workers, smoothed (fronts/home_balance.py).
    request_rates: dict[str, float] = field(default_factory=dict)
    # Workers a request timed out on in this front, with no answer since.
    stalled: set[int] = field(default_factory=set)


def merge_report(report: FrontReport, levels: FrontLevels, publisher: "RoutingPublisher",
                 every_front: list[FrontLevels]) -> None:
    backends = publisher.backends
    for name, counts in report.backends.items():
        backend = backends.get(name)
        if backend is None:
            continue  # removed meanwhile
        backend.status_counts.update(counts.status_counts)
        backend.truncated.update(counts.truncated)
        backend.bytes_in += counts.bytes_in
        backend.bytes_out += counts.bytes_out
        durations = backend.durations
        for bucket, count in enumerate(counts.duration_counts):
            durations.counts[bucket] += count
        durations.total += counts.duration_total
        dispatcher = backend.dispatcher
        stats = dispatcher.stats
        stats.queued_total += counts.queued_total
        stats.rejected_full += counts.rejected_full
        stats.timed_out += counts.timed_out
        stats.wait_total += counts.wait_total
        stats.wait_samples.extend(counts.wait_samples)
        levels.queue_lengths[name] = counts.queue_length
        dispatcher.queued_elsewhere = sum(front.queue_lengths.get(name, 0) for front in every_front)
        log = backend.access_log  # the master's: an AccessLog (logs/access_log.py)
        if log is not None:
            log.record_formatted(counts.access_lines, counts.access_line_count)
            log.dropped_lines += counts.access_lines_dropped
    for key, (served, in_flight, stalled, unresponsive) in report.endpoints.items():
        endpoint = publisher.endpoint(key)
        if endpoint is None:
            continue
        if served:
            endpoint.add_served(served)
        levels.in_flight[key] = in_flight
        endpoint.in_flight_elsewhere = sum(front.in_flight.get(key, 0) for front in every_front)
        if stalled:
            levels.stalled.add(key)
        else:
            levels.stalled.discard(key)
        # A request to it timed out in that front and another sent after it too: the supervisor's liveness
        # check acts on it as on the master's own finding.
        if unresponsive or stalled_in_two_fronts(endpoint, key, every_front):
            endpoint.unresponsive = True
    levels.connections = report.connections
    levels.idle_connections = report.idle_connections
    levels.parked_connections = report.parked_connections
    levels.buffered_in_memory = report.buffered_in_memory
    levels.read_ahead_requests = report.read_ahead_requests
    levels.request_rates = report.request_rates


def stalled_in_two_fronts(endpoint: "Endpoint", key: int, every_front: list[FrontLevels]) -> bool:
    """Requests to the worker timed out in two fronts (the master's own included), with no answer since: as
    good as a second timeout in one front (what makes a worker unresponsive there)."""
    return endpoint.stalled + sum(key in front.stalled for front in every_front) >= 2
