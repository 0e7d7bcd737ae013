"""The master daemon: starts the apps and the proxy, answers the control socket, stops everything gracefully."""

from __future__ import annotations

import asyncio
import resource
import signal
from typing import Any, AsyncIterator, Callable

from pysupervise.bus.broker import EmbeddedBroker
from pysupervise.config import Config
from pysupervise.proxy import ProxyServer
from pysupervise.supervisor.app_host import AppHost
from pysupervise.supervisor.control import ControlClient
from pysupervise.supervisor.control_server import ControlServer, single
from pysupervise.supervisor.paths import SitePaths
from pysupervise.supervisor.status import app_status


class StartupError(Exception):
    """The master cannot start at all (port taken, another master on this run_dir, ...)."""


class Master:
    """Owns the proxy, one AppHost per app and the control socket, for the life of `pysupervise start`."""

    def __init__(self, config: Config, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        self.paths = SitePaths(config.supervisor.run_dir, config.supervisor.log_dir)
        self.hosts: dict[str, AppHost] = {}
        self.proxy: ProxyServer | None = None
        self.control: ControlServer | None = None
        self.url = ""
        self._stop_requested: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._shared_env: dict[str, str] = {}
        self.broker: EmbeddedBroker | None = None

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> int:
        """Start, serve until asked to stop, stop gracefully. Raises StartupError if it cannot start."""
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        await self._start()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload_all("SIGHUP")))
        try:
            await self._stop_requested.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            await self._stop()
        return 0

    async def _start(self) -> None:
        settings = self.config.supervisor
        for folder in (self.paths.run_dir, self.paths.log_dir, self.paths.spill_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if ControlClient(self.paths.control_socket, timeout=2).is_running():
            raise StartupError(f"another pysupervise master is already running with run_dir {self.paths.run_dir}; "
                               "stop it first (pysupervise stop)")
        _raise_open_file_limit()
        self.proxy = ProxyServer(self.config.proxy, str(self.paths.spill_dir))
        try:
            port = await self.proxy.bind(settings.listen.host, settings.listen.port)
        except OSError as exc:
            raise StartupError(f"cannot listen on {settings.listen.url()}: {exc.strerror or exc}") from None
        self.url = settings.listen.url(port)
        # Apps that must hand out their own public address (webhook callbacks) read it from here.
        self._shared_env["PYSUPERVISE_URL"] = self.url
        self.control = ControlServer(self.paths.control_socket, {
            "status": single(self._status), "reload": single(self._reload), "stop": self._stop_and_report,
        })
        await self.control.start()
        await self._start_services()
        self.hosts = {app.name: AppHost(app, self.paths, self._shared_env) for app in self.config.apps}
        self._publish_routes()
        for host in self.hosts.values():
            self.say(f"starting app {host.name!r}: {host.config.workers} worker(s)")
        results = await asyncio.gather(*(h.reload("start") for h in self.hosts.values()))
        for host, ok in zip(self.hosts.values(), results):
            if not ok:
                output = host.last_reload.get("output", "")
                self.say(f"app {host.name!r} failed to start: {host.failure}" + (f"\n{output}" if output else ""))
        self.proxy.serve()
        self.say(f"pysupervise listening on {self.url}")

    async def _start_services(self) -> None:
        """The bus and cache apps reach through PYSUPERVISE_BUS / PYSUPERVISE_CACHE."""
        services = self.config.services
        if "embedded" in (services.bus, services.cache_or_bus):
            self.broker = EmbeddedBroker(self.paths.bus_socket, max_waiting=services.max_waiting)
            await self.broker.start()
        urls = {name: self.broker.url if value == "embedded" else value
                for name, value in (("PYSUPERVISE_BUS", services.bus), ("PYSUPERVISE_CACHE", services.cache_or_bus))}
        self._shared_env.update(urls)

    def _publish_routes(self) -> None:
        self.proxy.routes.replace([route for host in self.hosts.values() for route in host.routes()])

    def request_stop(self) -> None:
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def _stop(self) -> None:
        self.say("pysupervise stopping: finishing requests in flight")
        timeout = max((h.config.graceful_timeout for h in self.hosts.values()), default=30.0)
        if self.proxy is not None:
            await self.proxy.drain(timeout)
        await asyncio.gather(*(h.stop() for h in self.hosts.values()))
        if self.broker is not None:
            # Only now: draining workers may still have been publishing.
            await self.broker.close()
        self._stopped.set()
        if self.control is not None:
            await self.control.close()
        self.say("pysupervise stopped")

    async def reload_all(self, trigger: str) -> None:
        await asyncio.gather(*(h.reload(trigger) for h in self.hosts.values()))

    # -- control requests ---------------------------------------------------------------------

    async def _status(self, _request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.url, "apps": [app_status(h) for h in self.hosts.values()],
                "bus": self.broker.stats() if self.broker is not None else {"url": self._shared_env.get("PYSUPERVISE_BUS")}}

    async def _reload(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("app")
        targets = [self.hosts[name]] if name in self.hosts else list(self.hosts.values()) if not name else []
        if not targets:
            return {"ok": False, "error": f"no app named {name!r} (apps: {', '.join(self.hosts)})"}
        results = await asyncio.gather(*(h.reload("pysupervise reload") for h in targets))
        return {"ok": all(results), "results": [
            {"app": h.name, "ok": ok, "generation": h.last_reload.get("generation"),
             "error": h.last_reload.get("error", "")} for h, ok in zip(targets, results)]}

    async def _stop_and_report(self, _request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.request_stop()
        yield {"ok": True, "stopping": True}
        await self._stopped.wait()
        yield {"ok": True, "stopped": True, "seconds": round(loop.time() - started, 2)}


def _raise_open_file_limit() -> None:
    """Every client and every pooled worker connection is a file descriptor; use what the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
