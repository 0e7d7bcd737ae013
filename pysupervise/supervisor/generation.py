"""A generation: one set of workers started from one snapshot of an app's config, started and drained together."""

from __future__ import annotations

import asyncio
from typing import Callable

from pysupervise.config import AppConfig
from pysupervise.debugger.debug_worker import DebugUnavailable
from pysupervise.logs.app_logs import AppLogs
from pysupervise.logs.events import EventLog
from pysupervise.proxy import Endpoint
from pysupervise.supervisor.interpreter import AppPython, InterpreterUnusable, prepare_app_python
from pysupervise.supervisor.paths import SitePaths
from pysupervise.supervisor.reaper import OrphanReaper
from pysupervise.supervisor.worker import WorkerProcess, WorkerStartError

# After SIGTERM at the drain deadline, how long a worker gets to finish before SIGKILL.
_TERM_GRACE_SECONDS = 5.0


class GenerationFailed(Exception):
    """A worker of a new generation did not become ready; the generation has been torn down."""

    def __init__(self, error: WorkerStartError) -> None:
        super().__init__(error.reason)
        self.reason = error.reason
        self.output = error.output


class Generation:
    """Workers by slot. A slot's worker is replaced in place after a crash or for recycling."""

    def __init__(self, number: int, config: AppConfig, paths: SitePaths, events: EventLog, logs: AppLogs,
                 shared_env: dict[str, str], reaper: OrphanReaper | None = None, size: int | None = None) -> None:
        self.number = number
        self.logs = logs
        self.config = config
        # Slots 0 … size-1: the config's `workers`, or what `pysupervise scale` asked for.
        self.size = size or config.workers
        self.paths = paths
        self.events = events
        self.shared_env = shared_env
        self.reaper = reaper
        self.workers: dict[int, WorkerProcess] = {}
        # Workers replaced by a recycle that are still draining.
        self.retiring: list[WorkerProcess] = []
        self.state = "starting"
        self._instances: dict[int, int] = {}
        # `python = ...`: checked once as the generation starts, so a rebuilt venv is seen at the next reload.
        self.python: AppPython | None = None

    def new_worker(self, slot: int) -> WorkerProcess:
        """A fresh worker for `slot`, now the slot's current worker (not started yet)."""
        instance = self._instances.get(slot, -1) + 1
        self._instances[slot] = instance
        worker = WorkerProcess(self.config, self.number, slot,
                               self.paths.worker_socket(self.config.name, self.number, slot, instance),
                               self.logs, self.shared_env, self.events, reaper=self.reaper, python=self.python)
        self.workers[slot] = worker
        return worker

    async def start_worker(self, worker: WorkerProcess) -> None:
        """Start one worker; a failure goes to events.log with the worker's stderr."""
        try:
            await worker.start()
        except WorkerStartError as exc:
            self.events.record("worker-failed", exc.output, generation=self.number, slot=worker.slot,
                               pid=worker.pid or None, reason=repr(exc.reason))
            raise

    async def start(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Start every slot at once; if any fails, stop the rest and raise GenerationFailed.

        `progress(ready, total)` is called as each worker becomes ready.
        """
        if self.config.python is not None:
            try:
                self.python = await prepare_app_python(self.config.python, self.paths.worker_runtime_dir)
            except InterpreterUnusable as exc:
                self.state = "failed"
                raise GenerationFailed(WorkerStartError(str(exc), "")) from None
        workers = [self.new_worker(slot) for slot in range(self.size)]
        ready = 0

        async def start_one(worker: WorkerProcess) -> None:
            nonlocal ready
            await self.start_worker(worker)
            ready += 1
            if progress is not None:
                progress(ready, len(workers))

        results = await asyncio.gather(*(start_one(w) for w in workers), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            self.state = "failed"
            await asyncio.gather(*(w.kill() for w in workers))
            first = next((f for f in failures if isinstance(f, WorkerStartError)), None)
            if first is None:
                raise failures[0]
            raise GenerationFailed(first)
        self.state = "ready"

    async def replace(self, old: WorkerProcess) -> WorkerProcess | None:
        """Start a successor for `old`'s slot; `old` keeps serving until it is ready (None if it failed)."""
        self.retiring.append(old)  # still serving until its successor is ready; listed meanwhile
        new = self.new_worker(old.slot)
        try:
            await self.start_worker(new)
        except WorkerStartError:
            self.retiring.remove(old)
            if self.workers.get(old.slot) is new:
                self.workers[old.slot] = old
            return None
        return new

    def shrink_to(self, count: int) -> list[WorkerProcess]:
        """`pysupervise scale`: the workers of the slots from `count` up leave the generation's slots; they are
        listed as retiring until drained."""
        surplus = [self.workers.pop(slot) for slot in sorted(self.workers) if slot >= count]
        self.size = min(self.size, count)
        self.retiring += surplus
        return surplus

    async def spawn_outside_rotation(self, slot: int, name: str, extra_env: dict[str, str]) -> WorkerProcess:
        """A worker of this generation that dispatch never picks (the debug worker), spawned; raises
        DebugUnavailable."""
        worker = WorkerProcess(self.config, self.number, slot,
                               self.paths.worker_socket(self.config.name, self.number, slot), self.logs,
                               self.shared_env, self.events, label=f"{self.config.name}/{self.number}/{name}",
                               extra_env=extra_env, reaper=self.reaper, python=self.python)
        try:
            await worker.spawn()
        except WorkerStartError as exc:
            raise DebugUnavailable(str(exc)) from None
        return worker

    def endpoints(self) -> list[Endpoint]:
        return [w.endpoint for w in self.workers.values() if w.endpoint is not None and w.state == "ready"]

    def all_workers(self) -> list[WorkerProcess]:
        return [*self.workers.values(), *self.retiring]

    async def drain(self, timeout: float) -> None:
        """Old generation: each worker gets SIGTERM once it has nothing in flight, SIGKILL at the deadline."""
        self.state = "draining"
        self.events.record("drain-started", generation=self.number)
        deadline = asyncio.get_running_loop().time() + timeout
        await asyncio.gather(*(self.drain_worker(w, deadline) for w in self.all_workers()))
        self.state = "stopped"
        self.events.record("drain-finished", generation=self.number)

    async def drain_worker(self, worker: WorkerProcess, deadline: float) -> None:
        """No new requests; wait for those in flight (and tunnels) until `deadline`; then stop it."""
        worker.stopping = True
        if worker.state == "ready":
            worker.state = "draining"
        endpoint = worker.endpoint
        if endpoint is not None:
            endpoint.retire()
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(endpoint.drained(), max(remaining, 0))
            except asyncio.TimeoutError:
                self.events.record("drain-deadline", generation=self.number, slot=worker.slot, pid=worker.pid,
                                   in_flight=endpoint.in_flight, tunnels=len(endpoint.tunnels))
                await endpoint.close_tunnels_everywhere()
        await worker.stop(_TERM_GRACE_SECONDS)
        if worker in self.retiring:
            self.retiring.remove(worker)

    async def stop(self, timeout: float) -> None:
        """Stop now (master shutdown or a failed app): SIGTERM everyone, SIGKILL after `timeout`."""
        self.state = "stopped"
        await asyncio.gather(*(w.stop(timeout) for w in self.all_workers()))


async def debug_worker_ready(worker: WorkerProcess, timeout: float | None) -> None:
    """A worker from AppHost.spawn_outside_rotation answers on its socket; raises DebugUnavailable if it never does."""
    try:
        await worker.wait_ready(timeout)
    except WorkerStartError as exc:
        raise DebugUnavailable(f"the debug worker did not start: {exc.reason}\n{exc.output}") from None
