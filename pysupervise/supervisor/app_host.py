"""One hosted app: its live generation, crash restarts with backoff, reloads and recycling that never leave a gap."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from pysupervise.config import AppConfig, LogSettings
from pysupervise.debugger.debug_worker import DebugUnavailable, DebugWorker
from pysupervise.logs.app_logs import AppLogs
from pysupervise.logs.events import EventLog
from pysupervise.periodic import BackgroundTasks, TaskErrors
from pysupervise.proxy import AppBackend
from pysupervise.proxy.tunnel.websocket_close import INTERNAL_ERROR
from pysupervise.logs.access_log import AccessLog
from pysupervise.supervisor.backoff import RestartBackoff, SlotRestarts
from pysupervise.supervisor.generation import Generation, GenerationFailed, debug_worker_ready
from pysupervise.supervisor.health import HealthMonitor
from pysupervise.supervisor.liveness import HangVerdict
from pysupervise.supervisor.paths import SitePaths
from pysupervise.supervisor.reaper import OrphanReaper
from pysupervise.supervisor.worker import WorkerProcess, WorkerStartError

if TYPE_CHECKING:
    from pysupervise.supervisor.service.front_fleet import RouteSwitch

# How long workers of a failed app, or of a stopped master, get after SIGTERM.
_STOP_GRACE_SECONDS = 5.0


class AppHost:
    """States: starting → running ⇄ failed → stopping → stopped. Routing only ever points at `live`.

    A failed app (no slot can serve, or no generation would start) tries a new generation by itself, after a
    growing wait, and at once on a save or reload. The operator may hold it stopped (`held`) until `release`.
    """

    def __init__(self, config: AppConfig, paths: SitePaths, shared_env: dict[str, str], log_settings: LogSettings,
                 switch_routes: "RouteSwitch", task_errors: TaskErrors | None = None,
                 reaper: OrphanReaper | None = None) -> None:
        self.config = config
        self.name = config.name
        self.paths = paths
        self.shared_env = shared_env
        self.reaper = reaper
        self.task_errors = task_errors or TaskErrors()
        log_dir = paths.app_log_dir(config.name)
        self.events = EventLog(log_dir / "events.log", errors=self.task_errors, host=shared_env.get("PYSUPERVISE_HOST"))
        self.logs = AppLogs(log_dir, log_settings, self.task_errors)
        access_log = (AccessLog(log_dir / "access.log", log_settings.max_file_size, self.task_errors)
                      if config.access_log else None)
        self.backend = AppBackend(config.name, queue_limit=config.queue_limit, queue_timeout=config.queue_timeout,
                                  upstream_timeout=config.upstream_timeout, sticky=config.sticky,
                                  access_log=access_log)
        self.backend.worker_header = config.debug_header
        self.live: Generation | None = None
        self.draining: list[Generation] = []
        self.state = "starting"
        self.failure = ""
        self.restarts = 0
        # Unexpected exits per slot, for the status page's per-worker column.
        self.slot_restarts: dict[int, int] = {}
        self.reloads_ok = 0
        self.reloads_failed = 0
        # `pysupervise stop APP` holds it down until `start APP`; `scale APP N` outlives reloads until
        # supervisor.toml's `workers` changes.
        self.held = False
        self.scaled_workers: int | None = None
        self.last_reload: dict[str, Any] = {}
        self.debug = DebugWorker(self)
        self._switch_routes = switch_routes
        self._next_generation = 1
        self._reload_lock = asyncio.Lock()
        self._reload_task: asyncio.Task | None = None
        self._reload_again: tuple[str, AppConfig | None] | None = None
        self._slots: dict[int, SlotRestarts] = {}
        # The last unexpected exits (slot, time, how), for status pages and the CLI.
        self.last_exits: deque[dict[str, Any]] = deque(maxlen=5)
        self._recovery = RestartBackoff(config.recovery_delay, config.recovery_delay_max, config.recovery_delay_max)
        self._recovery_task: asyncio.Task | None = None
        self.next_attempt: float | None = None  # wall-clock time of a failed app's next try
        self.recovery_attempts = 0
        self._running_since = 0.0
        self._background = BackgroundTasks(self.task_errors, f"app-host:{config.name}")
        self._run = self._background.run
        self.health = HealthMonitor(self, self.task_errors).start()

    # -- reloads ------------------------------------------------------------------------------

    def request_reload(self, reason: str, config: AppConfig | None = None) -> None:
        """Reload soon; while a reload runs, further requests collapse into exactly one more."""
        if self._reload_task is not None and not self._reload_task.done():
            pending_config = config or (self._reload_again[1] if self._reload_again else None)
            self._reload_again = (reason, pending_config)
            return
        self._reload_task = self._run(self._reload_until_current(reason, config))

    async def _reload_until_current(self, reason: str, config: AppConfig | None) -> None:
        while True:
            await self.reload(reason, config)
            if self._reload_again is None:
                return
            (reason, config), self._reload_again = self._reload_again, None

    async def reload(self, reason: str, config: AppConfig | None = None,
                     progress: Callable[[int, int], None] | None = None) -> bool:
        """Start a full new generation; switch routing to it only once every worker is ready."""
        async with self._reload_lock:
            if self.state in ("stopping", "stopped"):
                return False
            if config is not None and config.workers != self.config.workers:
                self.scaled_workers = None  # a new `workers` in supervisor.toml wins over `pysupervise scale`
            config = config or self.config
            number = self._next_generation
            self._next_generation += 1
            generation = Generation(number, config, self.paths, self.events, self.logs, self.shared_env, self.reaper,
                                    self.scaled_workers)
            self.events.record("reload-started", generation=number, reason=repr(reason))
            started = time.time()
            try:
                await generation.start(progress)
            except GenerationFailed as exc:
                self.reloads_failed += 1
                self.events.record("reload-aborted", exc.output, generation=number, reason=repr(exc.reason))
                self.last_reload = {"ok": False, "generation": number, "at": time.time(), "trigger": reason,
                                    "error": exc.reason, "output": exc.output}
                if self.live is None:
                    self._mark_failed(exc.reason, exc.output)
                return False
            switched: list[bool] = []  # the switch runs in every front process at once (fronts/fleet.py switch)
            late_fronts = await self._switch_routes(lambda: switched.append(self._switch(generation)))
            if switched != [True]:
                await generation.stop(_STOP_GRACE_SECONDS)
                return False
            self.reloads_ok += 1
            self.events.record("reload-switched", generation=number, seconds=f"{time.time() - started:.2f}")
            if self.debug.worker is not None:
                self._run(self.debug.follow_reload())
            self.last_reload = {"ok": True, "generation": number, "at": time.time(), "trigger": reason,
                                "late_fronts": late_fronts}
            return True

    def _switch(self, generation: Generation) -> bool:
        """Routing points at `generation` from now on (False, and nothing changes, if the app is being stopped)."""
        if self.state in ("stopping", "stopped"):
            return False
        config = self.config = generation.config
        self.backend.reconfigure(queue_limit=config.queue_limit, queue_timeout=config.queue_timeout,
                                 upstream_timeout=config.upstream_timeout, sticky=config.sticky)
        self.backend.worker_header = config.debug_header
        old, self.live = self.live, generation
        generation.state = "live"
        self.logs.mark_live(generation.number)  # `pysupervise logs` marks the lines of older workers
        if self.state == "failed":
            self.events.record("app-recovered", generation=generation.number)
        self.state = "running"
        self.failure = ""
        self._running_since = time.monotonic()
        self._slots.clear()
        self._cancel_recovery()  # a save brought it back before the scheduled try
        if (self._recovery.initial, self._recovery.maximum) != (config.recovery_delay, config.recovery_delay_max):
            self._recovery = RestartBackoff(config.recovery_delay, config.recovery_delay_max, config.recovery_delay_max)
        dispatcher = self.backend.dispatcher
        dispatcher.unavailable = None
        self.backend.failure_detail = ""
        for worker in generation.workers.values():
            self._arm(generation, worker)
        # One assignment: from here on no new request reaches the old generation.
        dispatcher.set_endpoints(generation.endpoints())
        if old is not None:
            self._run(self._drain(old))
        return True

    async def _drain(self, generation: Generation) -> None:
        self.draining.append(generation)
        try:
            await generation.drain(generation.config.graceful_timeout)
        finally:
            self.draining.remove(generation)

    def _arm(self, generation: Generation, worker: WorkerProcess) -> None:
        """A worker entering service: watch its exit, and set its max_requests recycling point."""
        config = generation.config
        endpoint = worker.endpoint
        if endpoint is not None and config.max_requests:
            endpoint.recycle_after = config.max_requests + random.randint(0, config.max_requests_jitter)
            endpoint.on_recycle = lambda: self.recycle(generation, worker, f"served {endpoint.served} requests "
                                                                           f"(max_requests)")
        self._run(self._watch(generation, worker))

    # -- crashes, hangs and recycling ---------------------------------------------------------

    async def _watch(self, generation: Generation, worker: WorkerProcess) -> None:
        await worker.wait_exited()
        if worker.endpoint is not None:
            self.backend.dispatcher.remove_endpoint(worker.endpoint)
        if not worker.stopping and generation is self.live and self.state == "running":
            self._crashed(generation, worker.slot, time.time() - (worker.ready_at or worker.started_at),
                          worker.describe_exit(), worker.stderr_tail())

    def _crashed(self, generation: Generation, slot: int, uptime: float, how: str, output: str) -> None:
        """Each slot counts its own exits: a crash loop of one slot (or a request that kills the worker it
        reaches) never stops the others; the app is failed only when no slot can serve."""
        self.restarts += 1
        self.slot_restarts[slot] = self.slot_restarts.get(slot, 0) + 1
        self.last_exits.append({"slot": slot, "at": time.time(), "how": how})
        config = generation.config
        restarts = self._slots.get(slot)
        if restarts is None:
            restarts = self._slots[slot] = SlotRestarts(config.max_restarts, config.restart_window,
                                                        config.recovery_delay, config.recovery_delay_max)
        was_looping = restarts.crash_looping
        delay = restarts.exited(uptime, how)
        slots = self._slots
        if restarts.crash_looping and all(s in slots and slots[s].crash_looping and not slots[s].can_serve
                                          for s in generation.workers):
            self._mark_failed(f"every worker slot exited more than {config.max_restarts} times within "
                              f"{config.restart_window:g} s (max_restarts); last: {how}", output)
            return
        if restarts.crash_looping and not was_looping:
            self.events.record("slot-crash-loop", output, generation=generation.number, slot=slot,
                               exits=len(restarts.exits), window=f"{config.restart_window:g}s")
        self.events.record("worker-restart-scheduled", generation=generation.number, slot=slot,
                           delay=f"{delay:.1f}s")
        self._run(self._respawn(generation, slot, delay))

    def slot_restart_states(self) -> list[dict[str, Any]]:
        """Each slot's recent exits, crash loop and next start (slots that never exited are left out)."""
        return [restarts.snapshot(slot) for slot, restarts in sorted(self._slots.items())]

    async def _respawn(self, generation: Generation, slot: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if generation is not self.live or self.state != "running" or slot >= generation.size:
            return
        restarts = self._slots.get(slot)
        if restarts is not None:
            restarts.starting()
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
        if restarts is not None:
            restarts.serving()
        self._arm(generation, worker)
        self.backend.dispatcher.add_endpoint(worker.endpoint)

    def worker_hung(self, generation: Generation, worker: WorkerProcess, verdict: HangVerdict) -> None:
        """Judged hung by supervisor/liveness.py: its websockets get a 1011 close frame, then it is killed; the
        crash path starts a new one."""
        self.events.record("worker-hung", verdict.evidence, generation=generation.number, slot=worker.slot,
                           pid=worker.pid, probe=repr(verdict.probe), reason=repr(verdict.reason))
        if worker.endpoint is None:
            worker.signal(signal.SIGKILL)
        else:  # close frames first, from every front process, then the kill
            worker.endpoint.close_tunnels(INTERNAL_ERROR, then=lambda: worker.signal(signal.SIGKILL))

    def recycle(self, generation: Generation, worker: WorkerProcess, why: str) -> None:
        """Replace a healthy worker: its successor starts first, then it drains (never a gap)."""
        if worker.stopping or worker.recycling:
            return
        worker.recycling = True
        self.events.record("worker-recycle", generation=generation.number, slot=worker.slot, pid=worker.pid,
                           reason=repr(why))
        self._run(self._recycle(generation, worker))

    async def _recycle(self, generation: Generation, old: WorkerProcess) -> None:
        new = await generation.replace(old)
        if new is None or generation is not self.live or self.state != "running":
            old.recycling = False
            if new is not None:
                await new.stop(_STOP_GRACE_SECONDS)
            return
        self._arm(generation, new)
        dispatcher = self.backend.dispatcher
        dispatcher.add_endpoint(new.endpoint)
        if old.endpoint is not None:
            dispatcher.remove_endpoint(old.endpoint)
        deadline = asyncio.get_running_loop().time() + generation.config.graceful_timeout
        await generation.drain_worker(old, deadline)

    def _mark_failed(self, reason: str, output: str) -> None:
        """503 for everyone, with `output` on the page for loopback clients; the next try is scheduled."""
        ran_for = time.monotonic() - self._running_since if self.state == "running" else 0.0
        self.state = "failed"
        self.failure = reason
        if self._recovery_task is None:  # else a try is scheduled already (this was a save that failed too)
            delay = self._recovery.next_delay(ran_for)
            self.next_attempt = time.time() + delay
            self._recovery_task = self._run(self._retry_after(delay))
        self.events.record("app-failed", output, reason=repr(reason),
                           next_attempt_in=f"{max(0.0, (self.next_attempt or 0) - time.time()):.1f}s")
        dispatcher = self.backend.dispatcher
        dispatcher.unavailable = f"app {self.name!r} is failing: {reason}"
        self.backend.failure_detail = output
        dispatcher.set_endpoints([])
        dispatcher.fail_queue(503, dispatcher.unavailable)
        live, self.live = self.live, None
        if live is not None:
            self._run(live.stop(_STOP_GRACE_SECONDS))

    def _cancel_recovery(self) -> None:
        self.next_attempt = None
        if self._recovery_task is not None:
            self._recovery_task.cancel()
            self._recovery_task = None

    async def _retry_after(self, delay: float) -> None:
        """A failed app's next try: a whole new generation; a try that fails schedules the one after it."""
        await asyncio.sleep(delay)
        self._recovery_task = None
        if self.state != "failed":
            return
        self.next_attempt = None
        self.recovery_attempts += 1
        self.events.record("app-retry", attempt=self.recovery_attempts)
        try:
            await self.reload(f"automatic retry {self.recovery_attempts} of a failed app")
        except Exception as exc:  # a bug here must not end the retries: report it, and try again later
            self.task_errors.report(self._background.name, exc, "a retry of a failed app")
            if self.state == "failed" and self._recovery_task is None:
                self._mark_failed(self.failure, self.backend.failure_detail)

    # -- the operator's commands (`pysupervise stop | start | scale APP`) -----------------------

    async def hold(self, reason: str) -> None:
        """503 with `reason` for every request from now on; the workers drain and stop. Reloads and saves are
        ignored until `release`."""
        self.held, self.state = True, "stopped"
        self._cancel_recovery()
        dispatcher = self.backend.dispatcher
        dispatcher.unavailable, self.backend.failure_detail = reason, ""
        dispatcher.set_endpoints([])
        dispatcher.fail_queue(503, reason)
        self.events.record("app-held", reason=repr(reason))
        live, self.live = self.live, None
        await asyncio.gather(self.debug.stop(), *([self._drain(live)] if live is not None else []))

    async def release(self, config: AppConfig) -> bool:
        """Start serving again after `hold`: a new generation; requests wait in the queue meanwhile."""
        self.held, self.state = False, "starting"
        self.backend.dispatcher.unavailable = None
        self.events.record("app-released")
        return await self.reload("pysupervise start", config)

    async def scale(self, count: int) -> list[int]:
        """Start or drain slots of the live generation (no new generation); later generations keep `count`.
        Returns the new slots that did not start (they are retried as crashed ones are)."""
        async with self._reload_lock:
            generation = self.live
            if generation is None or self.state != "running":
                raise ValueError(f"app {self.name!r} is {self.state}: it has no running generation to scale")
            self.scaled_workers = count
            added = range(generation.size, count)
            generation.size = max(generation.size, count)
            await asyncio.gather(*(self._respawn(generation, slot, 0.0) for slot in added))
            deadline = asyncio.get_running_loop().time() + generation.config.graceful_timeout
            for worker in generation.shrink_to(count):  # retired at once: dispatch skips them from now on
                self._slots.pop(worker.slot, None)
                self._run(generation.drain_worker(worker, deadline))
            return [slot for slot in added if getattr(generation.workers.get(slot), "state", "") != "ready"]

    # -- a worker outside the rotation (the debugger's) -----------------------------------------

    async def spawn_outside_rotation(self, slot: int, name: str, extra_env: dict[str, str]) -> WorkerProcess:
        """A worker of the live generation that dispatch never picks (the debug worker); raises DebugUnavailable."""
        if self.live is None:
            raise DebugUnavailable(f"app {self.name!r} has no running generation to debug")
        return await self.live.spawn_outside_rotation(slot, name, extra_env)

    until_ready = staticmethod(debug_worker_ready)

    # -- stopping -----------------------------------------------------------------------------

    async def stop(self, timeout: float = _STOP_GRACE_SECONDS) -> None:
        """SIGTERM every worker of every generation; SIGKILL after `timeout`."""
        self.state = "stopping"
        self.backend.dispatcher.unavailable = f"app {self.name!r} is stopping"
        self.backend.dispatcher.fail_queue(503, self.backend.dispatcher.unavailable)
        self.health.stop()
        generations = [g for g in (self.live, *self.draining) if g is not None]
        await asyncio.gather(self.debug.stop(), *(g.stop(timeout) for g in generations))
        self._background.cancel_all()
        self.state = "stopped"
        self.events.record("app-stopped")
        self.events.close()
        if self.backend.access_log is not None:
            self.backend.access_log.close()
