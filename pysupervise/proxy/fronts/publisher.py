"""The master's side of routing for the other front processes: snapshots of what its own proxy routes to, a key
for every worker, and which fronts may still send each worker requests (so a drain waits for all of them)."""

from __future__ import annotations

import itertools
import weakref
from typing import TYPE_CHECKING, Callable, Iterable

from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.endpoint import Endpoint
from pysupervise.proxy.fronts.slot_balance import even_share
from pysupervise.proxy.fronts.views import BackendView, EndpointView, RouteView, RoutingSnapshot
from pysupervise.proxy.static import StaticSite

if TYPE_CHECKING:
    from pysupervise.proxy.server import ProxyServer


class RoutingPublisher:
    """Owned by the fleet; watches the master's endpoints and dispatchers, builds snapshots, tracks holders."""

    def __init__(self, proxy: "ProxyServer", front_count: int, on_change: Callable[[], None],
                 close_tunnels: Callable[[int, int, Callable[[], None] | None], None]) -> None:
        self.proxy = proxy
        self.front_count = front_count
        self._on_change = on_change
        # Tells every front to close its tunnels to a worker (key, close code), then calls back.
        self._close_tunnels = close_tunnels
        self._serials = itertools.count(1)
        self._keys: weakref.WeakKeyDictionary[Endpoint, int] = weakref.WeakKeyDictionary()
        self._endpoints: weakref.WeakValueDictionary[int, Endpoint] = weakref.WeakValueDictionary()
        # Endpoint key -> {front index: number of the last snapshot that front was sent with it in}.
        self._holders: dict[int, dict[int, int]] = {}
        self._farewells: dict[int, str] = {}
        # The master's backends by name, and each published worker's app, as of the last snapshot.
        self.backends: dict[str, AppBackend] = {}
        self.apps_of: dict[int, str] = {}

    # -- EndpointWatcher ----------------------------------------------------------------------

    def endpoint_retired(self, endpoint: Endpoint) -> None:
        key = self._keys.get(endpoint)
        if key is not None and endpoint.diagnostics is not None:
            self._farewells[key] = endpoint.diagnostics()
        self._on_change()

    def close_tunnels_elsewhere(self, endpoint: Endpoint, code: int, then: Callable[[], None] | None) -> None:
        key = self._keys.get(endpoint)
        if key is None:
            if then is not None:
                then()
            return
        self._close_tunnels(key, code, then)

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> RoutingSnapshot:
        proxy = self.proxy
        backends: dict[str, AppBackend] = {}
        routes = []
        for route in proxy.routes.routes():
            target = route.target
            backend = target.backend
            backends[backend.name] = backend
            folder = target.folder if isinstance(target, StaticSite) else None
            routes.append(RouteView(route.prefix, backend.name, route.host, route.forward_prefix, folder))
        for backend in proxy.admin_routes.targets():
            backends[backend.name] = backend
        if proxy.health_route is not None:
            backends[proxy.health_route.backend.name] = proxy.health_route.backend
        self.backends = backends
        self.apps_of = {}
        farewells, self._farewells = tuple(self._farewells.items()), {}
        return RoutingSnapshot(proxy.settings, tuple(self._backend_view(b) for b in backends.values()), tuple(routes),
                               proxy.admin_routes.prefixes(), farewells)

    def _backend_view(self, backend: AppBackend) -> BackendView:
        dispatcher = backend.dispatcher
        dispatcher.on_change = self._on_change
        dispatcher.front_count = self.front_count  # the master's own proxy is front 0 (proxy/dispatcher.py)
        debug = backend.debug_endpoint
        return BackendView(backend.name, dispatcher.queue_limit, dispatcher.queue_timeout, backend.upstream_timeout,
                           backend.sticky, backend.worker_header, backend.access_log is not None,
                           backend.failure_detail, dispatcher.unavailable,
                           tuple(self._endpoint_view(ep, backend.name) for ep in dispatcher.endpoints if ep.alive),
                           self._endpoint_view(debug, backend.name) if debug is not None and debug.alive else None)

    def _endpoint_view(self, endpoint: Endpoint, app: str) -> EndpointView:
        key = self._keys.get(endpoint)
        if key is None:
            key = next(self._serials)
            self._keys[endpoint] = key
            self._endpoints[key] = endpoint
            endpoint.watcher = self
            # The master's own proxy is front 0: it keeps its share of the worker's slots.
            endpoint.capacity = even_share(endpoint.worker_slots, 0, self.front_count)
        self.apps_of[key] = app
        return EndpointView(key, endpoint.label, endpoint.socket_path, endpoint.worker_slots, endpoint.slot)

    # -- who may still use a worker -----------------------------------------------------------

    def sent(self, front: int, snapshot: RoutingSnapshot, number: int) -> None:
        """`front` was sent `snapshot` (the `number`th): it may use every worker in it until it says otherwise."""
        for view in _endpoint_views(snapshot):
            self._holders.setdefault(view.key, {})[front] = number
            self._update(view.key)

    def released(self, front: int, key: int, dropped_in: int) -> None:
        """`front` sends the worker nothing more (it left that front's routing in snapshot `dropped_in`)."""
        holders = self._holders.get(key)
        if holders is not None and holders.get(front, dropped_in) < dropped_in:
            del holders[front]
            self._update(key)

    def front_gone(self, front: int) -> None:
        for key, holders in list(self._holders.items()):
            if holders.pop(front, None) is not None:
                self._update(key)

    def endpoint(self, key: int) -> Endpoint | None:
        return self._endpoints.get(key)

    def stderr_of(self, key: int) -> str:
        """A published worker's recent stderr, for a front's error page ("" for one that is gone)."""
        endpoint = self._endpoints.get(key)
        return endpoint.diagnostics() if endpoint is not None and endpoint.diagnostics is not None else ""

    def _update(self, key: int) -> None:
        holders = self._holders.get(key, {})
        endpoint = self._endpoints.get(key)
        if not holders:
            self._holders.pop(key, None)
        if endpoint is not None:
            endpoint.held_elsewhere_changed(len(holders))


def _endpoint_views(snapshot: RoutingSnapshot) -> Iterable[EndpointView]:
    for backend in snapshot.backends:
        yield from backend.endpoints
        if backend.debug_endpoint is not None:
            yield backend.debug_endpoint
