"""`[proxy] processes = N`: the master starts N-1 more front processes beside its own proxy (proxy/fronts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from pysupervise.proxy.fronts.fleet import FrontFleet
from pysupervise.proxy.fronts.views import FrontHello

# Runs a change of the master's routing (the callable) in every front process at once; returns the fronts that did
# not confirm in time (Master._switch_routes, switch_in_every_front).
RouteSwitch = Callable[[Callable[[], None]], Awaitable[list[int]]]

if TYPE_CHECKING:
    from pysupervise.config import Config
    from pysupervise.proxy import ProxyServer
    from pysupervise.supervisor.reaper import OrphanReaper
    from pysupervise.supervisor.service.health_page import SiteHealth
    from pysupervise.periodic import TaskErrors


async def start_front_fleet(proxy: "ProxyServer", config: "Config", spill_dir: str, health: "SiteHealth",
                            reaper: "OrphanReaper", errors: "TaskErrors") -> FrontFleet | None:
    """After the admin routes exist (the fronts route admin clients too), before the apps start."""
    count = config.proxy.processes
    if count < 2:
        return None
    admin = config.admin

    def hello(index: int) -> FrontHello:
        return FrontHello(index, count, spill_dir, proxy.worker_header, proxy.default_host, proxy.port,
                          proxy.admin_routes.rule, admin.health_path, tuple(admin.health_allow))

    fleet = FrontFleet(proxy, count, errors, hello, health.answer, reaper.watch, reaper.forget)
    health.on_change = fleet.changed
    await fleet.start()
    return fleet


def proxy_facts(proxy: "ProxyServer | None", fleet: FrontFleet | None) -> dict[str, Any]:
    """`status --json`'s "proxy": connections and counters summed over every front process."""
    if proxy is None:
        return {}
    facts: dict[str, Any] = {"connections": proxy.connection_count(), "idle_connections": proxy.idle_count(),
                             "parked_connections": len(proxy.parking),
                             "buffered_in_memory": proxy.buffer_budget.used, "read_ahead_requests": proxy.read_ahead,
                             "closed_for_room": proxy.closed_for_room, "spill_failures": proxy.spill_dir.failures,
                             "processes": 1}
    if fleet is not None:
        fronts = fleet.facts()
        for name in ("connections", "idle_connections", "parked_connections", "buffered_in_memory",
                     "read_ahead_requests", "closed_for_room", "spill_failures"):
            facts[name] += fronts[name]
        facts["processes"] = fleet.count
        facts["fronts"] = fronts["fronts"]
        facts["home_balance"] = fronts["home_balance"]
    return facts


async def switch_in_every_front(fleet: FrontFleet | None, change: Callable[[], Any]) -> list[int]:
    """Run `change` to the master's routing so that every front switches with it at once (FrontFleet.switch); the
    fronts that did not confirm in time. Without other fronts the master's own table changes in one step anyway."""
    if fleet is None:
        change()
        return []
    return await fleet.switch(change)
