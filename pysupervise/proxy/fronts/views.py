"""What the master tells a front process, and what a front reports back: plain frozen data, pickled on a
private socketpair between the master and the fronts it started."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysupervise.config import ProxySettings

# The longest a front holds its new requests, unrouted, during a switch of route tables (fleet.py `switch`), if
# the master never says the switch is done (it is restarted or stuck).
HOLD_LIMIT = 2.0


@dataclass(frozen=True)
class EndpointView:
    """A worker: `key` names it across processes for as long as it lives (the master's Endpoint objects)."""

    key: int
    label: str
    socket_path: str
    capacity: int
    slot: int


@dataclass(frozen=True)
class BackendView:
    name: str
    queue_limit: int
    queue_timeout: float
    upstream_timeout: float
    sticky: bool
    worker_header: bool
    logs_access: bool
    failure_detail: str
    unavailable: str | None
    endpoints: tuple[EndpointView, ...]
    debug_endpoint: EndpointView | None


@dataclass(frozen=True)
class RouteView:
    prefix: str
    backend: str
    host: str | None
    forward_prefix: bool
    # A StaticSite's folder; None routes to the app's workers.
    static_folder: str | None = None


@dataclass(frozen=True)
class RoutingSnapshot:
    """Everything a front routes by, replaced as a whole when any of it changes."""

    settings: ProxySettings
    backends: tuple[BackendView, ...]
    routes: tuple[RouteView, ...]
    admin_prefixes: tuple[str, ...]
    # Workers gone since the last snapshot: their last stderr lines, for 502 pages of requests they dropped.
    farewells: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class FrontHello:
    """The first message to a new front: what stays fixed for the master's life."""

    index: int
    count: int
    spill_dir: str
    worker_header: bytes
    default_host: bytes
    port: int
    # The admin rule (admin.AdminAccess), the health page's path and allowed networks; the admin backend is
    # named "_admin" in every snapshot.
    admin_rule: Any
    health_path: str
    health_allow: tuple[Any, ...]


@dataclass
class BackendCounts:
    """One app's counts since the previous report."""

    status_counts: dict[int, int] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    duration_counts: list[int] = field(default_factory=list)
    duration_total: float = 0.0
    queued_total: int = 0
    rejected_full: int = 0
    timed_out: int = 0
    wait_total: float = 0.0
    wait_samples: list[float] = field(default_factory=list)
    queue_length: int = 0
    # The front's access-log lines, formatted (access_lines.py); how many; how many it dropped.
    access_lines: bytes = b""
    access_line_count: int = 0
    access_lines_dropped: int = 0
    truncated: dict[str, int] = field(default_factory=dict)


@dataclass
class FrontReport:
    """Sent by a front a few times a second while it has news: counts to add, levels to replace."""

    backends: dict[str, BackendCounts] = field(default_factory=dict)
    # key -> (answers since the previous report, requests in flight now, stalled, unresponsive)
    endpoints: dict[int, tuple[int, int, bool, bool]] = field(default_factory=dict)
    connections: int = 0
    idle_connections: int = 0
    parked_connections: int = 0
    buffered_in_memory: int = 0
    read_ahead_requests: int = 0
    closed_for_room: int = 0
    spill_failures: int = 0
    # Requests per second this front sends each app's workers, smoothed (fronts/home_balance.py).
    request_rates: dict[str, float] = field(default_factory=dict)
    # The number of the last "shares" message applied (the master counts a shrink once it is confirmed).
    shares_applied: int = 0
    # Errors of the front's own background tasks since the previous report (logged by the front itself).
    task_errors: dict[str, int] = field(default_factory=dict)
