"""The master daemon: starts the apps and the proxy, answers the control socket, stops everything gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from pysupervise import extensions
from pysupervise.admin import AdminAccess, AdminServer, create_admin_app, token_from_env
from pysupervise.admin.debug import install_debugger
from pysupervise.bus.broker import EmbeddedBroker
from pysupervise.config import AppConfig, Config, ConfigError, load_config
from pysupervise.debugger.control import MasterDebugControl
from pysupervise.periodic import BackgroundTasks, TaskErrors
from pysupervise.proxy import AdminRoutes, AppBackend, Endpoint, HealthRoute, ProxyServer
from pysupervise.proxy.fronts.fleet import FrontFleet
from pysupervise.supervisor.app_host import AppHost
from pysupervise.supervisor.config_changes import compare
from pysupervise.supervisor.paths import SitePaths
from pysupervise.supervisor.reaper import OrphanReaper
from pysupervise.supervisor.service.admin_address import bind_admin_address
from pysupervise.supervisor.service.app_commands import AppCommands, StoppedApps, stopped_message
from pysupervise.supervisor.service.control_server import ControlServer, single
from pysupervise.supervisor.service.drain import Drain
from pysupervise.supervisor.service.front_fleet import proxy_facts, start_front_fleet, switch_in_every_front
from pysupervise.supervisor.service.limits import raise_open_file_limit
from pysupervise.supervisor.service.health_page import BusProbe, SiteHealth
from pysupervise.supervisor.service.pidfile import AlreadyRunning, PidFile
from pysupervise.supervisor.service.sd_notify import SystemdNotifier
from pysupervise.supervisor.site_view import MasterView
from pysupervise.supervisor.staging.sides import StagingSides, partner_folders
from pysupervise.supervisor.status import startup_summary
from pysupervise.supervisor.watcher import FileWatcher, WatchRule


class StartupError(Exception):
    """The master cannot start at all (port taken, another master on this run_dir, ...)."""


@dataclass(frozen=True)
class StartupReport:
    """What `pysupervise start` learned once the site is up: its address and the apps that did not start."""

    url: str
    summary: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


class Master:
    """Owns the proxy, one AppHost per app and the control socket, for the life of `pysupervise start`."""

    def __init__(self, config: Config, say: Callable[[str], None], listen_override: str | None = None,
                 on_ready: Callable[[StartupReport], None] | None = None) -> None:
        self.config = config
        self.say = say
        self.on_ready = on_ready
        # Errors of every background task of this master: logged at most once a minute per kind, counted for
        # `status --json` and the metrics page.
        self.task_errors = TaskErrors(logging.getLogger("pysupervise"))
        self.notifier = SystemdNotifier(errors=self.task_errors)
        self.listen_override = listen_override
        self.paths = SitePaths(config.supervisor.run_dir, config.supervisor.log_dir)
        self.pidfile = PidFile(self.paths.pidfile)
        # A worker's whole process tree dies with it and with the master (DESIGN §3).
        self.reaper = OrphanReaper(self.task_errors)
        self.hosts: dict[str, AppHost] = {}
        self.stopped_apps = StoppedApps(self.paths.stopped_apps)
        # Apps with a staging folder: which of their two hosts serves production (`pysupervise swap APP`).
        self.staging = StagingSides(self.hosts, self.paths.swapped_apps, self._switch_routes, config.apps)
        self.proxy: ProxyServer | None = None
        # The other front processes ([proxy] processes > 1); the master's own proxy is the first front.
        self.fronts: FrontFleet | None = None
        self.control: ControlServer | None = None
        self.watcher: FileWatcher | None = None
        self.broker: EmbeddedBroker | None = None
        self.admin: AdminServer | None = None
        # The admin pages are one more upstream (DESIGN §1): the in-master aiohttp app on a Unix socket.
        self.admin_backend = AppBackend("_admin", queue_limit=1000, queue_timeout=30, upstream_timeout=60)
        self.url = ""
        self.started_at = time.time()
        # The last rejected supervisor.toml, shown by `status` until a valid one is read.
        self.config_error: dict[str, Any] | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._shared_env: dict[str, str] = {}
        self._background = BackgroundTasks(self.task_errors, "master")
        self.admin_url: str | None = None
        # The load balancers' view of this host (the health page), and `pysupervise drain` taking it out of theirs.
        self.health = SiteHealth(self.hosts, config.supervisor.host_id, self.staging)
        self.drain = Drain(self.health, config.supervisor.drain_timeout, self.request_stop, say, self._background)

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> int:
        """Start, serve until asked to stop, stop gracefully. Raises StartupError if it cannot start."""
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        try:
            await self._start()
        except BaseException:
            if self.control is not None:
                await self.control.close()
            await self.reaper.close()
            self.pidfile.release()
            raise
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload_everything("SIGHUP")))
        loop.add_signal_handler(signal.SIGUSR2, lambda: self.drain.begin("SIGUSR2"))
        try:
            await self._stop_requested.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
                loop.remove_signal_handler(signum)
            await self._stop()
        return 0

    async def _start(self) -> None:
        settings = self.config.supervisor
        for folder in (self.paths.run_dir, self.paths.log_dir, self.paths.spill_dir):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            self.pidfile.acquire()
        except AlreadyRunning as exc:
            raise StartupError(str(exc)) from None
        if self.pidfile.replaced_stale_pid:
            self.say(f"replaced a stale pidfile (pid {self.pidfile.replaced_stale_pid} is not running)")
        for problem in self.paths.remove_stale_worker_sockets():
            self.say(problem)
        raise_open_file_limit()
        self.proxy = ProxyServer(self.config.proxy, str(self.paths.spill_dir), self.task_errors)
        self.proxy.worker_header += self.health.host_id.encode() + b"/"
        try:
            port = await self.proxy.bind(settings.listen.host, settings.listen.port,
                                         reuse_port=self.config.proxy.processes > 1)
        except OSError as exc:
            raise StartupError(f"cannot listen on {settings.listen.url()}: {exc.strerror or exc}") from None
        try:
            self.admin_url = await bind_admin_address(self.proxy, settings.admin_listen)
        except OSError as exc:
            raise StartupError(f"cannot listen on [supervisor] admin_listen: {exc.strerror or exc}") from None
        self.url = settings.listen.url(port)
        # Apps that must hand out their own public address (webhook callbacks) read it from here.
        self._shared_env.update(PYSUPERVISE_URL=self.url, PYSUPERVISE_HOST=self.health.host_id)
        self.control = ControlServer(self.paths.control_socket, {
            "status": single(self._status), "reload": single(self._reload), "stop": self._stop_and_report,
            "drain": lambda _request: self.drain.report(self._stopped), "swap": single(self.staging.swap),
            **AppCommands(self.hosts, self.stopped_apps, lambda name: self.config.app(name)).handlers(),
        })
        await self.control.start()
        await self._start_admin()
        self.fronts = await start_front_fleet(self.proxy, self.config, str(self.paths.spill_dir), self.health,
                                              self.reaper, self.task_errors)
        # After the admin token left the environment (the watchdog inherits it), before any process is started.
        await self.reaper.start()
        await self._start_services()
        for app in self.config.apps:
            self.say(f"starting app {app.name!r}: {app.workers} worker(s)")
        self.notifier.status("starting apps")
        await asyncio.gather(*(self._add_app(app) for app in self.config.apps))
        self.proxy.serve()
        if self.fronts is not None:
            self.fronts.serve()
        await self._watch()
        self.say(extensions.install("pysupervise").request_path_note())
        self.say(f"pysupervise listening on {self.url}")
        summary = [*startup_summary(self.hosts.values(), self.url, self.config.admin, self.admin_url),
                   *self.staging.startup_notes()]
        for line in summary:
            self.say(line)
        failed = tuple((h.name, h.failure) for h in self.hosts.values() if h.state == "failed")
        self.notifier.ready(f"serving {len(self.hosts) - len(failed)} of {len(self.hosts)} apps at {self.url}")
        if self.on_ready is not None:
            self.on_ready(StartupReport(self.url, tuple(summary), failed))

    async def _start_services(self) -> None:
        """The bus and cache apps reach through PYSUPERVISE_BUS / PYSUPERVISE_CACHE."""
        services = self.config.services
        if "embedded" in (services.bus, services.cache_or_bus):
            self.broker = EmbeddedBroker(self.paths.bus_socket, max_waiting=services.max_waiting,
                                         errors=self.task_errors)
            await self.broker.start()
        urls = {name: self.broker.url if value == "embedded" else value
                for name, value in (("PYSUPERVISE_BUS", services.bus), ("PYSUPERVISE_CACHE", services.cache_or_bus))}
        self._shared_env.update(urls)
        self.health.bus = await BusProbe(urls["PYSUPERVISE_BUS"], self.task_errors).start()

    async def _start_admin(self) -> None:
        settings = self.config.admin
        view = MasterView(self.hosts, self.paths, settings, self._site_facts, self.staging.app_status)
        token = token_from_env(settings.token_env)
        if settings.token_env:
            # Workers, `command` apps and the debug adapter inherit the master's environment: the token stays here.
            os.environ.pop(settings.token_env, None)
        listen_host = self.config.supervisor.listen.host
        # One rule for both sides: the proxy sends only admin clients to the admin app, which checks again.
        access = AdminAccess(settings.allow, token, (*settings.hosts, *([listen_host] if listen_host else [])))
        app = create_admin_app(view, settings, errors=self.task_errors, access=access)
        install_debugger(app, MasterDebugControl(self.hosts, settings, self.task_errors))
        self.admin = AdminServer(app, self.paths.admin_socket)
        await self.admin.start()
        # Each open live tail holds a slot for as long as it is open.
        self.admin_backend.dispatcher.set_endpoints([Endpoint("_admin", str(self.paths.admin_socket), 256)])
        self.proxy.admin_routes = AdminRoutes(access, self.admin_backend)
        self.proxy.health_route = HealthRoute(settings.health_path, self.health, self.admin_backend,
                                              settings.health_allow)
        self._publish_routes()

    async def _add_app(self, app: AppConfig) -> None:
        host = AppHost(app, self.paths, self._shared_env, self.config.logs,
                       switch_routes=self._switch_routes, task_errors=self.task_errors,
                       reaper=self.reaper)
        self.hosts[app.name] = host
        self._publish_routes()
        if app.name in self.stopped_apps:  # `pysupervise stop APP` before this master started
            await host.hold(stopped_message(app.name))
            self.say(f"app {app.name!r} stays stopped (pysupervise start {app.name})")
            return

        def progress(ready: int, total: int) -> None:
            self.say(f"  {app.name}: {ready}/{total} workers ready")
            self.notifier.status(f"starting apps: {app.name} {ready}/{total} workers ready")

        if not await host.reload("start", progress=progress):
            output = host.last_reload.get("output", "")
            self.say(f"app {app.name!r} failed to start: {host.failure}" + (f"\n{output}" if output else ""))

    async def _remove_app(self, name: str) -> None:
        host = self.hosts.pop(name)
        self._publish_routes()  # no new requests from here on
        self.staging.forget(name)
        self.say(f"removing app {name!r}")
        for generation in [g for g in (host.live, *host.draining) if g is not None]:
            await generation.drain(host.config.graceful_timeout)
        await host.stop()

    def _publish_routes(self) -> None:
        admin = self.config.admin
        self.proxy.routes.replace(self.staging.routes())
        # Admin clients only; debug = false leaves /<app>/<debug segment> to the app, as iisnode did it.
        pages = [page for host in self.hosts.values() for page in admin.app_pages(host.config)]
        self.proxy.admin_routes.replace([*pages, admin.index_path])
        if self.fronts is not None:
            self.fronts.changed()

    async def _switch_routes(self, change: Callable[[], None]) -> list[int]:
        """`change` (a swap, a reload's new generation) and the routes that follow from it, in every front process
        in one step; the fronts that did not confirm it in time."""
        return await switch_in_every_front(self.fronts, lambda: (change(), self._publish_routes()))

    async def _watch(self) -> None:
        """(Re)start watching for the current apps: the new watcher runs before the old one stops, so no
        save falls into a gap between them."""
        # supervisor.toml may sit in an app's dir and match its globs: its edits are config re-reads, not saves.
        # Static folders are served from the disk as they are: a save there reloads nothing, and a folder left out
        # costs no inotify event per file the proxy opens.
        excluded = (self.paths.run_dir, self.paths.log_dir, self.config.file)
        rules = [WatchRule(app.name, app.dir, app.watch, excluded + partner_folders(app, self.config.apps) +
                           tuple(folder for _prefix, folder in app.static if app.dir in folder.parents))
                 for app in self.config.apps]
        old, self.watcher = self.watcher, FileWatcher(
            rules, self.config.file, self._files_changed,
            lambda: self._spawn(self.reload_config("supervisor.toml changed")), self.task_errors)
        await self.watcher.start()
        if old is not None:
            await old.close()

    def _files_changed(self, concerned: dict[str, Path]) -> None:
        for name, path in concerned.items():
            host = self.hosts.get(name)
            if host is not None:
                host.request_reload(f"file changed: {path}")

    # -- reloading ----------------------------------------------------------------------------

    def _read_config(self) -> Config | None:
        try:
            config = load_config(self.config.file, listen=self.listen_override)
        except ConfigError as exc:
            self.config_error = {"error": str(exc), "at": time.time()}
            self.say(f"pysupervise: {exc}; the running site is left as it was")
            return None
        self.config_error = None
        return config

    async def reload_config(self, trigger: str) -> bool:
        """Re-read supervisor.toml: add, remove and reload apps as it says; a bad file changes nothing."""
        new = self._read_config()
        if new is None:
            return False
        changes = compare(self.config, new)
        for section in changes.need_restart:
            self.say(f"pysupervise: [{section}] changed in {new.file.name}; restart the master to apply it")
        # Keep what needs a restart as it is; take apps and proxy settings from the new file.
        proxy = dataclasses.replace(new.proxy, processes=self.config.proxy.processes)
        if proxy != new.proxy:
            self.say(f"pysupervise: [proxy] processes changed in {new.file.name}; restart the master to apply it")
        self.config = dataclasses.replace(self.config, apps=new.apps, proxy=proxy, logs=new.logs)
        self.proxy.settings = proxy
        for host in self.hosts.values():
            host.logs.update_settings(new.logs)
        for app in changes.changed:
            self.hosts[app.name].request_reload(trigger, app)
        await asyncio.gather(*(self._remove_app(name) for name in changes.removed),
                             *(self._add_app(app) for app in changes.added))
        if changes.added or changes.removed or changes.changed:
            await self._watch()
        return True

    async def reload_everything(self, trigger: str) -> list[AppHost]:
        """SIGHUP and `pysupervise reload`: re-read the config, then a new generation for every app."""
        await self.reload_config(trigger)
        hosts = [host for host in self.hosts.values() if not host.held]  # stopped by the operator: stay so
        await asyncio.gather(*(h.reload(trigger) for h in hosts))
        return hosts

    # -- stopping -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def _stop(self) -> None:
        self.say("pysupervise stopping: finishing requests in flight")
        self.notifier.stopping()
        self.health.state = "stopping"
        if self.watcher is not None:
            await self.watcher.close()
        if self.admin is not None:
            await self.admin.stop()  # ends live log tails, which would otherwise hold the drain open
        timeout = max((h.config.graceful_timeout for h in self.hosts.values()), default=30.0)
        if self.proxy is not None:
            await asyncio.gather(self.proxy.drain(timeout),
                                 *([self.fronts.drain(timeout)] if self.fronts is not None else []))
        await asyncio.gather(*(h.stop() for h in self.hosts.values()))
        await self.health.close()
        if self.broker is not None:
            # Only now: draining workers may still have been publishing.
            await self.broker.close()
        await self.reaper.close()
        self._stopped.set()
        if self.control is not None:
            await self.control.close()
        self.pidfile.release()
        self.notifier.close()
        self.say("pysupervise stopped")

    # -- control requests ---------------------------------------------------------------------

    def _site_facts(self) -> dict[str, Any]:
        return {"url": self.url, "pid": os.getpid(), "started": self.started_at, "config_error": self.config_error,
                "host_id": self.health.host_id, "admin_url": self.admin_url, "health": self.health.facts(),
                "bus": self.broker.stats() if self.broker is not None else {"url": self._shared_env.get("PYSUPERVISE_BUS")},
                "task_errors": self.task_errors.snapshot(), "proxy": proxy_facts(self.proxy, self.fronts),
                "orphans": self.reaper.facts()}

    async def _status(self, _request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, **self._site_facts(), "apps": [self.staging.app_status(h) for h in self.hosts.values()]}

    async def _reload(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("app")
        if name:
            new = self._read_config()
            app = (new.app(name) if new is not None else None) or (self.hosts[name].config if name in self.hosts
                                                                     else None)
            if name not in self.hosts or app is None:
                return {"ok": False, "error": f"no app named {name!r} (apps: {', '.join(self.hosts)})"}
            if self.hosts[name].held:
                return {"ok": False, "usage": False, "error": stopped_message(name)}
            hosts = [self.hosts[name]]
            await hosts[0].reload("pysupervise reload", app)
        else:
            hosts = await self.reload_everything("pysupervise reload")
        results = [{"app": h.name, "ok": bool(h.last_reload.get("ok")), "generation": h.last_reload.get("generation"),
                    "error": h.last_reload.get("error", "")} for h in hosts]
        return {"ok": all(r["ok"] for r in results) and self.config_error is None, "results": results,
                "config_error": (self.config_error or {}).get("error")}

    async def _stop_and_report(self, _request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.request_stop()
        yield {"ok": True, "stopping": True}
        await self._stopped.wait()
        yield {"ok": True, "stopped": True, "seconds": round(loop.time() - started, 2), "pid": os.getpid()}

    def _spawn(self, coroutine: Any) -> None:
        self._background.run(coroutine)

