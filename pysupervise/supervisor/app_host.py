"""One hosted app: its live generation, crash restarts with backoff, reloads that never leave a gap."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Coroutine

from pysupervise.config import AppConfig
from pysupervise.proxy import AppBackend, Route, StaticSite
from pysupervise.proxy.access_log import AccessLog
from pysupervise.supervisor.backoff import RestartBackoff
from pysupervise.supervisor.events import EventLog
from pysupervise.supervisor.generation import Generation, GenerationFailed
from pysupervise.supervisor.paths import SitePaths
from pysupervise.supervisor.worker import WorkerProcess, WorkerStartError

# How long workers of a failed app, or of a stopped master, get after SIGTERM.
_STOP_GRACE_SECONDS = 5.0


class AppHost:
    """States: starting → running ⇄ failed → stopping → stopped. Routing only ever points at `live`."""

    def __init__(self, config: AppConfig, paths: SitePaths, shared_env: dict[str, str]) -> None:
        self.config = config
        self.name = config.name
        self.paths = paths
        self.shared_env = shared_env
        self.events = EventLog(paths.app_log_dir(config.name) / "events.log")
        access_log = AccessLog(paths.app_log_dir(config.name) / "access.log") if config.access_log else None
        self.backend = AppBackend(config.name, queue_limit=config.queue_limit, queue_timeout=config.queue_timeout,
                                  upstream_timeout=config.upstream_timeout, sticky=config.sticky,
                                  access_log=access_log)
        self.live: Generation | None = None
        self.draining: list[Generation] = []
        self.state = "starting"
        self.failure = ""
        self.restarts = 0
        self.last_reload: dict[str, Any] = {}
        self._next_generation = 1
        self._reload_lock = asyncio.Lock()
        self._backoffs: dict[int, RestartBackoff] = {}
        self._recent_restarts: deque[float] = deque()
        self._tasks: set[asyncio.Task] = set()

    # -- reloads ------------------------------------------------------------------------------

    async def reload(self, reason: str, config: AppConfig | None = None) -> bool:
        """Start a full new generation; switch routing to it only once every worker is ready."""
        async with self._reload_lock:
            if self.state in ("stopping", "stopped"):
                return False
            config = config or self.config
            number = self._next_generation
            self._next_generation += 1
            generation = Generation(number, config, self.paths, self.events, self.shared_env)
            self.events.record("reload-started", generation=number, reason=repr(reason))
            started = time.time()
            try:
                await generation.start()
            except GenerationFailed as exc:
                self.events.record("reload-aborted", exc.output, generation=number, reason=repr(exc.reason))
                self.last_reload = {"ok": False, "generation": number, "at": time.time(), "trigger": reason,
                                    "error": exc.reason, "output": exc.output}
                if self.live is None:
                    self._mark_failed(exc.reason, exc.output)
                return False
            if self.state in ("stopping", "stopped"):
                await generation.stop(_STOP_GRACE_SECONDS)
                return False
            self.config = config
            self.backend.reconfigure(queue_limit=config.queue_limit, queue_timeout=config.queue_timeout,
                                     upstream_timeout=config.upstream_timeout, sticky=config.sticky)
            self._switch(generation)
            self.events.record("reload-switched", generation=number, seconds=f"{time.time() - started:.2f}")
            self.last_reload = {"ok": True, "generation": number, "at": time.time(), "trigger": reason}
            return True

    def _switch(self, generation: Generation) -> None:
        old, self.live = self.live, generation
        generation.state = "live"
        self.state = "running"
        self.failure = ""
        self._backoffs.clear()
        self._recent_restarts.clear()
        dispatcher = self.backend.dispatcher
        dispatcher.unavailable = None
        self.backend.failure_detail = ""
        # One assignment: from here on no new request reaches the old generation.
        dispatcher.set_endpoints(generation.endpoints())
        for worker in generation.workers.values():
            self._watch(generation, worker)
        if old is not None:
            self._run(self._drain(old))

    async def _drain(self, generation: Generation) -> None:
        self.draining.append(generation)
        try:
            await generation.drain(generation.config.graceful_timeout)
        finally:
            self.draining.remove(generation)

    # -- crashes ------------------------------------------------------------------------------

    def _watch(self, generation: Generation, worker: WorkerProcess) -> None:
        async def watch() -> None:
            await worker.wait_exited()
            if worker.endpoint is not None:
                self.backend.dispatcher.remove_endpoint(worker.endpoint)
            if not worker.stopping and generation is self.live and self.state == "running":
                self._crashed(generation, worker.slot, time.time() - (worker.ready_at or worker.started_at),
                              worker.describe_exit(), worker.stderr_tail())

        self._run(watch())

    def _crashed(self, generation: Generation, slot: int, uptime: float, how: str, output: str) -> None:
        self.restarts += 1
        now = time.monotonic()
        window = self.config.restart_window
        recent = self._recent_restarts
        recent.append(now)
        while recent and recent[0] < now - window:
            recent.popleft()
        if len(recent) > self.config.max_restarts:
            self._mark_failed(f"workers exited {len(recent)} times within {window:g} s "
                              f"(max_restarts = {self.config.max_restarts}); last: {how}", output)
            return
        delay = self._backoffs.setdefault(slot, RestartBackoff()).next_delay(uptime)
        self.events.record("worker-restart-scheduled", generation=generation.number, slot=slot,
                           delay=f"{delay:.1f}s")
        self._run(self._respawn(generation, slot, delay))

    async def _respawn(self, generation: Generation, slot: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if generation is not self.live or self.state != "running":
            return
        worker = generation.new_worker(slot)
        try:
            await generation.start_worker(worker)
        except WorkerStartError as exc:
            if generation is self.live and self.state == "running":
                self._crashed(generation, slot, 0.0, exc.reason, exc.output)
            return
        if generation is not self.live or self.state != "running":
            await worker.stop(_STOP_GRACE_SECONDS)
            return
        self.backend.dispatcher.add_endpoint(worker.endpoint)
        self._watch(generation, worker)

    def _mark_failed(self, reason: str, output: str) -> None:
        self.state = "failed"
        self.failure = reason
        self.events.record("app-failed", output, reason=repr(reason))
        dispatcher = self.backend.dispatcher
        dispatcher.unavailable = f"app {self.name!r} is failing: {reason}"
        self.backend.failure_detail = output
        dispatcher.set_endpoints([])
        dispatcher.fail_queue(503, dispatcher.unavailable)
        live, self.live = self.live, None
        if live is not None:
            self._run(live.stop(_STOP_GRACE_SECONDS))

    # -- stopping -----------------------------------------------------------------------------

    async def stop(self, timeout: float = _STOP_GRACE_SECONDS) -> None:
        """SIGTERM every worker of every generation; SIGKILL after `timeout`."""
        self.state = "stopping"
        self.backend.dispatcher.unavailable = f"app {self.name!r} is stopping"
        generations = [g for g in (self.live, *self.draining) if g is not None]
        await asyncio.gather(*(g.stop(timeout) for g in generations))
        for task in list(self._tasks):
            task.cancel()
        self.state = "stopped"
        self.events.record("app-stopped")
        self.events.close()
        if self.backend.access_log is not None:
            self.backend.access_log.close()

    def routes(self) -> list[Route]:
        """This app's entries in the proxy's route table: its URL prefixes, then its static folders."""
        host = self.config.host
        routes: list[Route] = [Route(prefix, self.backend, host) for prefix in self.config.route]
        routes += [Route(prefix, StaticSite(prefix, folder, self.backend), host)
                   for prefix, folder in self.config.static]
        return routes

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
