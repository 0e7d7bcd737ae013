"""Per-app dispatch: the least-busy live worker with a free slot, else a FIFO queue with a limit and a timeout.

With several front processes (`[proxy] processes`), each front has home workers, those whose slot number modulo
the number of fronts is its own index, and sends its requests there: a worker fed by one front gets its requests
in fewer, larger batches, and the box spends less on wake-ups and context switches (`benchmarks/compare_trees.py
--proxy "processes = 2"` against the tree before: 1.03 to 1.05x the requests/s at 64 connections on 2 cores, 3 to
5% less CPU per request). When the kernel hands one front more of an app's traffic than its home workers' part,
or when its home workers hold clearly more requests in flight than the others (long polls, a slow endpoint), the
master tells it which fraction to send away (`away`, proxy/fronts/home_balance.py), so the workers stay evenly
loaded. A websocket is open for long: it goes to the least busy worker at once. And a home worker that has left
this front's requests unanswered for a while (`stuck_after`: its event loop blocked, a slow request) is passed over
at once, as a least-busy choice would, instead of when the master's next balance sees it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from pysupervise.proxy.endpoint import Endpoint
    from pysupervise.proxy.exchange import Exchange


class QueueStats:
    """Counters the status page and metrics read; the dispatcher only ever adds to them."""

    __slots__ = ("queued_total", "rejected_full", "timed_out", "wait_total", "wait_samples")

    def __init__(self) -> None:
        self.queued_total = 0
        self.rejected_full = 0
        self.timed_out = 0
        self.wait_total = 0.0
        # Recent queue waits in seconds, bounded, for percentiles.
        self.wait_samples: deque[float] = deque(maxlen=1024)


class Dispatcher:
    """Hands each exchange a worker slot; routing switches generations by replacing `endpoints` at once."""

    __slots__ = ("app_name", "endpoints", "queue", "queue_limit", "queue_timeout", "stats", "_unavailable",
                 "_rotor", "on_change", "queued_elsewhere", "front_index", "front_count", "away", "_away_credit",
                 "picks", "stuck_after")

    def __init__(self, app_name: str, queue_limit: int, queue_timeout: float) -> None:
        self.app_name = app_name
        self.endpoints: list[Endpoint] = []
        self.queue: deque[tuple[float, Exchange]] = deque()
        self.queue_limit = queue_limit
        self.queue_timeout = queue_timeout
        self.stats = QueueStats()
        self._unavailable: str | None = None
        self._rotor = 0
        # Called after every routing change, so other front processes hear of it (fronts.publisher).
        self.on_change: Callable[[], None] | None = None
        # Requests waiting in the queues of the other front processes (reported by them; for the status page).
        self.queued_elsewhere = 0
        # Which front this dispatcher routes for, of how many: its home workers are those with
        # slot % front_count == front_index (one front: every worker).
        self.front_index = 0
        self.front_count = 1
        # The fraction of requests to send to a worker away from home, set by the master (home_balance.py), and
        # its running credit: every time it reaches one, a request goes away.
        self.away = 0.0
        self._away_credit = 0.0
        # Slots handed out since the master last read it (a front's request rate, for proxy/fronts/home_balance.py).
        self.picks = 0
        # Seconds a home worker may leave this front's requests with no answer before the next one goes to a less
        # busy worker. Under load a worker answers every millisecond or so, and is off its core for a few at most;
        # a longer gap is a blocked loop or a slow request, and each request sent there meanwhile waits it out
        # (benchmarks/busy_worker.py).
        self.stuck_after = 0.02

    @property
    def unavailable(self) -> str | None:
        """Why the app cannot serve at all (failed, stopped); None while workers are up or coming up."""
        return self._unavailable

    @unavailable.setter
    def unavailable(self, reason: str | None) -> None:
        self._unavailable = reason
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- routing changes (called by the supervisor) -------------------------------------------

    def set_endpoints(self, endpoints: Iterable["Endpoint"]) -> None:
        """Switch to a new set of workers in one step, then give queued requests their slots."""
        self.endpoints = [ep for ep in endpoints if ep.alive]
        self._changed()
        self._serve_queue()

    def add_endpoint(self, endpoint: "Endpoint") -> None:
        self.endpoints = [*self.endpoints, endpoint]
        self._changed()
        self._serve_queue()

    def remove_endpoint(self, endpoint: "Endpoint") -> None:
        self.endpoints = [ep for ep in self.endpoints if ep is not endpoint]
        self._changed()

    def fail_queue(self, status: int, reason: str) -> None:
        """Answer every queued request now (the app became unavailable)."""
        while self.queue:
            _since, exchange = self.queue.popleft()
            exchange.rejected(status, reason)

    # -- the hot path -------------------------------------------------------------------------

    def acquire(self, exchange: "Exchange", avoid: "Endpoint | None" = None,
                prefer_slot: int | None = None) -> "Endpoint | None":
        """A worker slot now, or None when the exchange was queued or rejected."""
        if prefer_slot is not None:
            for endpoint in self.endpoints:
                # Sticky: the pinned slot while it is alive and has room; otherwise the usual choice.
                if endpoint.slot == prefer_slot and endpoint.alive and endpoint.in_flight < endpoint.capacity:
                    endpoint.in_flight += 1
                    self.picks += 1
                    return endpoint
        if not self.queue:
            endpoint = self._choose(exchange, avoid)
            if endpoint is not None:
                endpoint.in_flight += 1
                self.picks += 1
                return endpoint
        if self.unavailable is not None:
            exchange.rejected(503, self.unavailable)
        elif len(self.queue) >= self.queue_limit:
            self.stats.rejected_full += 1
            exchange.rejected(503, f"all workers of app {self.app_name!r} are busy and its queue is full")
        else:
            self.stats.queued_total += 1
            self.queue.append((exchange.now(), exchange))
        return None

    def _choose(self, exchange: "Exchange", avoid: "Endpoint | None") -> "Endpoint | None":
        """With several fronts, a home worker first; but a websocket, open for long, takes the least busy worker of
        all (rates do not show long-lived connections piling up on one worker)."""
        request = exchange.request
        return self._pick(avoid, self.front_count > 1 and not request.wants_upgrade, request.started)

    def _pick(self, avoid: "Endpoint | None", near: bool = False, now: float = 0.0) -> "Endpoint | None":
        """The least busy worker with a free slot; `near`: the least busy home worker, or one away from home when
        none has room, it is stuck (as of `now`, about when the request came) and busier, or it is this request's
        turn to go away."""
        endpoints = self.endpoints
        count = len(endpoints)
        if count == 0:
            return None
        front_count = self.front_count
        front_index = self.front_index
        # Start the scan at a rotating offset so equally idle workers take turns.
        start = self._rotor = (self._rotor + 1) % count
        home_ep = away_ep = None
        home_load = away_load = 1 << 30
        for i in range(count):
            ep = endpoints[(start + i) % count]
            in_flight = ep.in_flight
            if in_flight >= ep.capacity or not ep.alive or ep is avoid:
                continue
            # Least busy counting what the other front processes have in flight there too (as last reported: a
            # websocket another front holds on a worker weighs on it for as long as it is open).
            load = in_flight + ep.in_flight_elsewhere
            if not near or ep.slot % front_count == front_index:
                if load < home_load:
                    home_ep, home_load = ep, load
            elif load < away_load:
                away_ep, away_load = ep, load
        if home_ep is None:
            return away_ep if away_ep is not None else self._avoided(avoid)
        if away_ep is not None:
            if near and away_load < home_load and self._stuck(home_ep, now):
                return away_ep
            if self.away > 0.0:
                self._away_credit += self.away
                if self._away_credit >= 1.0:
                    self._away_credit -= 1.0
                    # A turn to go away is skipped when the worker away is busier, or stuck: the fraction is what
                    # the rates call for, and the rates know nothing of a request that holds its worker.
                    if away_load <= home_load and not self._stuck(away_ep, now):
                        return away_ep
        return home_ep

    def _stuck(self, endpoint: "Endpoint", now: float) -> bool:
        """This front's requests to it have had no answer for `stuck_after` (only those: a front knows no more)."""
        return endpoint.awaiting > 0 and now - endpoint.last_progress > self.stuck_after

    def _avoided(self, avoid: "Endpoint | None") -> "Endpoint | None":
        """The worker a retry avoids, when no other one has a free slot and it does."""
        if avoid is not None and avoid.alive and avoid.in_flight < avoid.capacity and avoid in self.endpoints:
            return avoid
        return None

    def release(self, endpoint: "Endpoint") -> None:
        """A slot came free: hand it to the oldest queued request, if any."""
        endpoint.slot_released()
        if self.queue:
            self._serve_queue()

    def serve_queue(self) -> None:
        """Slots came free without a release (this front's share of a worker grew): give them to the queue."""
        self._serve_queue()

    def _serve_queue(self) -> None:
        queue = self.queue
        while queue:
            endpoint = self._choose(queue[0][1], None)
            if endpoint is None:
                return
            since, exchange = queue.popleft()
            if exchange.finished:
                continue
            endpoint.in_flight += 1
            self.picks += 1
            wait = exchange.now() - since
            self.stats.wait_total += wait
            self.stats.wait_samples.append(wait)
            exchange.assigned(endpoint)

    def withdraw(self, exchange: "Exchange") -> None:
        """The client left while queued."""
        for i, (_since, queued) in enumerate(self.queue):
            if queued is exchange:
                del self.queue[i]
                return

    def expire(self, now: float) -> None:
        """Answer 503 to requests that waited longer than queue_timeout (oldest are first)."""
        queue = self.queue
        limit = now - self.queue_timeout
        while queue and queue[0][0] <= limit:
            since, exchange = queue.popleft()
            if exchange.finished:
                continue
            self.stats.timed_out += 1
            self.stats.wait_samples.append(now - since)
            exchange.rejected(503, f"no worker of app {self.app_name!r} was free within "
                                   f"{self.queue_timeout:g} s (queue_timeout)")
