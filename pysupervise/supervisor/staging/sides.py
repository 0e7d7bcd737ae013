"""Which folder of an app with a staging folder serves production: the routes and status that follow from it, and
`pysupervise swap APP`, which exchanges the two in one replacement of the route table."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from pysupervise.config import AppConfig
from pysupervise.config.model import STAGING_SUFFIX, staging_name
from pysupervise.proxy import Route, StaticSite
from pysupervise.supervisor.staging.swapped_apps import SwappedApps
from pysupervise.supervisor.status import app_status

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.service.front_fleet import RouteSwitch


@dataclass(frozen=True)
class SidePair:
    """The two sides of one app by role now. Each side keeps its folder, workers and logs; only the place it
    answers at (the app's route and host, or the staging table's) changes with a swap."""

    app: str
    production: "AppHost"
    staging: "AppHost"
    production_place: AppConfig
    staging_place: AppConfig
    swapped: bool

    def role_of(self, host: "AppHost") -> str:
        return "production" if host is self.production else "staging"

    def place_of(self, host: "AppHost") -> AppConfig:
        return self.production_place if host is self.production else self.staging_place


class StagingSides:
    """Over the master's live `hosts`, where NAME runs from the app's `dir` and NAME~staging from `staging.dir`."""

    def __init__(self, hosts: dict[str, "AppHost"], swapped_file: Path, switch_routes: "RouteSwitch",
                 apps: Iterable[AppConfig]) -> None:
        self._hosts = hosts
        self._switch_routes = switch_routes
        self._swapped = SwappedApps(swapped_file)
        # A swap recorded for an app that has no staging folder any more is void; if one is added again, the app's
        # own dir serves production (a write that fails leaves the stale name, which is ignored all the same).
        self._swapped.keep_only(app.staging_of for app in apps if app.staging_of)
        # One swap at a time: each waits for the front processes (the switch), and two at once would both read the
        # sides as they were before either.
        self._swapping = asyncio.Lock()

    def pair(self, app: str) -> SidePair | None:
        """None unless both sides of `app` are hosted (a staging folder that is being added or removed)."""
        main, other = self._hosts.get(app), self._hosts.get(staging_name(app))
        if main is None or other is None:
            return None
        swapped = app in self._swapped
        production, staging = (other, main) if swapped else (main, other)
        return SidePair(app, production, staging, main.config, other.config, swapped)

    def _pair_of(self, host: "AppHost") -> SidePair | None:
        return self.pair(host.config.staging_of or host.name)

    def forget(self, app: str) -> None:
        """App `app` (or its staging side) leaves the config: a swap of it means nothing any more."""
        main = app.removesuffix(STAGING_SUFFIX)
        if main in self._swapped:
            self._swapped.flip(main)

    # -- what the proxy and the status pages see ------------------------------------------------------

    def routes(self) -> list[Route]:
        """Every app's entries in the route table: the production side at the app's route and host, the staging
        side at the staging table's."""
        routes: list[Route] = []
        for host in self._hosts.values():
            pair = self._pair_of(host)
            if pair is None:
                routes += app_routes(host)
            elif host is pair.production:
                routes += app_routes(host, pair.production_place)
            else:
                # Static prefixes are absolute URLs: on the app's own host they stay production's.
                own_host = _host(pair.staging_place) != _host(pair.production_place)
                routes += app_routes(host, pair.staging_place, static=own_host)
        return routes

    def app_status(self, host: "AppHost") -> dict[str, Any]:
        """app_status(), with the route it answers at now and, for a side, its role and which folder is live."""
        status = app_status(host)
        pair = self._pair_of(host)
        if pair is None:
            return status
        place = pair.place_of(host)
        other = pair.staging if host is pair.production else pair.production
        status.update(route=list(place.route), host=place.host, side={
            "app": pair.app, "role": pair.role_of(host), "folder": str(host.config.dir),
            "live_folder": str(pair.production.config.dir), "swapped": pair.swapped, "other": other.name,
            "other_folder": str(other.config.dir), "other_state": other.state})
        return status

    def startup_notes(self) -> list[str]:
        """For `pysupervise start`: the apps whose staging folder serves production (a swap before a restart)."""
        pairs = [pair for host in self._hosts.values() if (pair := self.pair(host.name)) and pair.swapped]
        return [f"  note: app {pair.app!r} serves production from {pair.production.config.dir} "
                f"({pair.production.name}), as swapped before; `pysupervise swap {pair.app}` swaps back"
                for pair in pairs]

    # -- pysupervise swap APP -------------------------------------------------------------------------

    async def swap(self, request: dict[str, Any]) -> dict[str, Any]:
        """The warm staging side takes production's route in one step; in-flight requests finish on the side
        they started on, which now answers at the staging route (a second swap rolls back)."""
        async with self._swapping:
            return await self._swap(request)

    async def _swap(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("app")
        host = self._hosts.get(name) if isinstance(name, str) else None
        if host is None:
            return {"ok": False, "usage": True,
                    "error": f"no app named {name!r} (apps: {', '.join(self._hosts) or 'none'})"}
        app = host.config.staging_of or host.name
        pair = self.pair(app)
        if pair is None:
            return {"ok": False, "usage": True,
                    "error": f"app {app!r} has no staging folder to swap with: add staging = {{ dir = \"...\", "
                             f"route = \"...\" }} to [apps.{app}]"}
        incoming, outgoing = pair.staging, pair.production
        refusal = _not_ready(app, incoming, outgoing)
        if refusal is not None:
            return refusal
        flipped: dict[str, Any] = {}

        def flip() -> None:  # the route tables of every front process, in one step (fronts/fleet.py switch)
            refused = _not_ready(app, incoming, outgoing)  # checked again: the fronts took a moment to hold
            if refused is not None:
                flipped.update(refused)
                return
            flipped.update(ok=True, not_saved=self._swapped.flip(app))
            for side, role in ((incoming, "production"), (outgoing, "staging")):
                side.events.record("swapped", serves=role, folder=repr(str(side.config.dir)))

        late = await self._switch_routes(flip)
        if not flipped.get("ok"):
            return flipped
        return {"ok": True, "app": app, "live_folder": str(incoming.config.dir), "live_side": incoming.name,
                "generation": incoming.live.number, "staging_folder": str(outgoing.config.dir),
                "staging_side": outgoing.name, "staging_at": _where(pair.staging_place),
                "not_saved": flipped["not_saved"], "late_fronts": late}


def _not_ready(app: str, incoming: "AppHost", outgoing: "AppHost") -> dict[str, Any] | None:
    """Why `incoming` cannot take production now (a refusal to answer), or None when its workers are warm."""
    if not incoming.held and incoming.live is not None and incoming.state == "running":
        return None
    why = "stopped by the operator" if incoming.held else incoming.state
    why += f": {incoming.failure}" if incoming.failure else ""
    return {"ok": False, "app": app,
            "error": f"app {app!r}: nothing swapped, the staging side {incoming.name} ({incoming.config.dir}) "
                     f"has no ready workers ({why}); production stays on {outgoing.config.dir}"}


def partner_folders(app: AppConfig, apps: Iterable[AppConfig]) -> tuple[Path, ...]:
    """The other folder of `app`'s pair when it lies inside `app`'s dir: saves there are the other side's only."""
    name = app.staging_of or app.name
    return tuple(other.dir for other in apps if other is not app and name in (other.name, other.staging_of)
                 and app.dir in other.dir.parents)


def _host(place: AppConfig) -> str | None:
    return place.host.lower() if place.host else None


def _where(place: AppConfig) -> str:
    return ", ".join(place.route) + (f" on host {place.host}" if place.host else "")


def app_routes(host: "AppHost", place: AppConfig | None = None, static: bool = True) -> list[Route]:
    """An app's entries in the proxy's route table: the URL prefixes on the host of `place` (its own config, unless
    it is a side of an app with a staging folder), then its static folders there."""
    place, mount = place or host.config, host.config.mount_prefix
    routes: list[Route] = [Route(prefix, host.backend, place.host, forward_prefix=mount) for prefix in place.route]
    routes += [Route(prefix, StaticSite(prefix, folder, host.backend), place.host)
               for prefix, folder in host.config.static if static]
    return routes
