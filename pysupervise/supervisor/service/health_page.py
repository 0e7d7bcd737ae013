"""What the load balancers' health page says (every app ready, the bus answering, not draining), and the bus probe
behind it."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit, urlunsplit

from pysupervise.bus import BusClient, BusError, connect
from pysupervise.periodic import PeriodicTask, TaskErrors

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.staging.sides import StagingSides

BUS_PROBE = "bus-probe"
# A balancer may probe many times a second: it reads the last result, never waits for the bus.
PROBE_INTERVAL = 1.0
# A bus slower than this to answer a ping counts as unreachable.
PROBE_TIMEOUT = 1.0


class BusProbe:
    """Pings the bus apps use (the embedded broker, through its socket like a worker, or Redis) every second."""

    def __init__(self, url: str, errors: TaskErrors) -> None:
        self.url = url
        self.answering = False
        self.problem = "not probed yet"
        self._client: BusClient | None = None
        self._task = PeriodicTask(BUS_PROBE, PROBE_INTERVAL, self.probe, errors)

    async def start(self) -> "BusProbe":
        await self.probe()  # the first answer of the health page is already a real one
        self._task.start()
        return self

    async def probe(self) -> None:
        try:
            async with asyncio.timeout(2 * PROBE_TIMEOUT):  # a connect and a ping, each bounded by the client
                if self._client is None:
                    self._client = await connect(_probe_url(self.url), connect_timeout=PROBE_TIMEOUT)
                await self._client.ping()
        except (BusError, TimeoutError, OSError) as exc:
            self.answering, self.problem = False, str(exc) or type(exc).__name__
            return
        self.answering, self.problem = True, ""

    async def close(self) -> None:
        self._task.stop()
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def _probe_url(url: str) -> str:
    """The bus URL with the probe's own deadline; the probe pings every second, so no extra health checks."""
    parts = urlsplit(url)
    ours = f"request_timeout={PROBE_TIMEOUT:g}&health_check=0"
    return urlunsplit(parts._replace(query=f"{parts.query}&{ours}" if parts.query else ours))


class SiteHealth:
    """The proxy's HealthSource: 200 while serving, every app (but those the operator stopped) has ready workers
    and the bus answers; 503 with the reasons otherwise. The JSON names no more than the reasons, the host id and
    each app's ready flag: it is open to every client by default.

    An app with a staging folder counts by the side that serves production now, under the app's name: a broken
    build in staging must not take the host out of the balancer."""

    def __init__(self, hosts: dict[str, "AppHost"], host_id: str, staging: "StagingSides | None" = None) -> None:
        self.hosts = hosts
        self.host_id = host_id
        self.staging = staging
        self.bus: BusProbe | None = None
        self._state = "serving"
        self.drain_ends: float | None = None  # loop time when a drain turns into the graceful stop
        # Told when the state changes (the other front processes answer the page too).
        self.on_change: Callable[[], None] | None = None

    @property
    def state(self) -> str:
        """"serving", then "draining" (pysupervise drain) or "stopping" (the graceful stop has begun)."""
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        self._state = state
        if self.on_change is not None:
            self.on_change()

    def answer(self) -> tuple[int, bytes]:
        reasons, apps = self.reasons()
        body = {"status": "unavailable" if reasons else "ok", "host": self.host_id, "reasons": reasons, "apps": apps}
        return (503 if reasons else 200), json.dumps(body, separators=(",", ":")).encode()

    def reasons(self) -> tuple[list[str], dict[str, bool]]:
        reasons = [] if self.state == "serving" else [self.state]
        apps = {}
        for host in self.hosts.values():
            name = self._production_name(host)
            if name is None:
                continue
            apps[name] = host.state == "running" and bool(host.backend.dispatcher.endpoints)
            if not apps[name] and not host.held:  # an app stopped by the operator: a decision, not a fault
                reasons.append(f"app {name} has no ready workers ({host.state})")
        if self.bus is not None and not self.bus.answering:
            reasons.append("the bus does not answer")  # the why (a URL, an address) is for `status`, not for all
        return reasons, apps

    def _production_name(self, host: "AppHost") -> str | None:
        """The app `host` serves production for, or None for a staging side."""
        app = host.config.staging_of or host.name
        pair = self.staging.pair(app) if self.staging is not None else None
        if pair is None:
            return None if host.config.staging_of else host.name  # a lone staging side: being added or removed
        return app if host is pair.production else None

    def drain_seconds_left(self) -> float | None:
        """Seconds until a drain turns into the graceful stop; None unless draining."""
        if self.state != "draining" or self.drain_ends is None:
            return None
        return max(0.0, self.drain_ends - asyncio.get_running_loop().time())

    def facts(self) -> dict[str, Any]:
        """For `pysupervise status --json`: the page's answer, why the bus does not answer, when a drain ends."""
        reasons, _apps = self.reasons()
        return {"state": self.state, "ok": not reasons, "reasons": reasons,
                "bus_problem": self.bus.problem if self.bus is not None else "",
                "drain_seconds_left": self.drain_seconds_left()}

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.close()
