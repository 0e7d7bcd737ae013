"""An app's debug worker: same code and generation as the live workers, outside the rotation, reached by cookie."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.worker import WorkerProcess

# The debug worker's slot number in log file names and PYSUPERVISE_WORKER (apps may parse it as an int).
DEBUG_SLOT = 999
# A paused debug worker ignores SIGTERM (debugger spec): it gets this long, then SIGKILL.
_STOP_SECONDS = 2.0


class DebugUnavailable(Exception):
    """The app cannot have a debug worker now (no live generation, or it failed to start)."""


class DebugWorker:
    """At most one per app. Listeners hear of every (re)start and stop, so a debug session can re-attach.

    The lock covers spawning and stopping only: a worker started paused (?brk) is not ready until a
    debugger lets it run, and waiting for that must not block `stop` (the ?kill that ends it).
    """

    def __init__(self, host: "AppHost") -> None:
        self.host = host
        self.worker: "WorkerProcess | None" = None
        self.break_at_start = False
        self.listeners: list[Callable[["WorkerProcess | None"], None]] = []
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.has_exited

    async def start(self, break_at_start: bool = False) -> "WorkerProcess":
        """The running debug worker, or a new one (paused before the app's first line with break_at_start)."""
        async with self._lock:
            if self.running and not (break_at_start and not self.break_at_start):
                worker = self.worker
            else:
                await self._stop_current()
                self.break_at_start = break_at_start
                worker = await self._spawn_on_live_generation()
        await self._until_ready(worker)
        return worker

    async def _spawn_on_live_generation(self) -> "WorkerProcess":
        worker = await self.host.spawn_outside_rotation(
            DEBUG_SLOT, "debug", {"PYSUPERVISE_DEBUG": "1", "PYTHONBREAKPOINT": "debugpy.breakpoint",
                                  "PYSUPERVISE_DEBUG_BREAK": "1" if self.break_at_start else ""})
        self.worker = worker
        self._notify(worker)
        return worker

    async def _until_ready(self, worker: "WorkerProcess") -> None:
        if worker.endpoint is not None:
            return  # already serving
        # Paused before the app's first line, it only opens its socket once the debugger lets it run.
        timeout = None if self.break_at_start else worker.app.start_timeout
        try:
            await self.host.until_ready(worker, timeout)
        except DebugUnavailable:
            if self.worker is worker:
                self.worker = None
                self._notify(None)
            raise
        if self.worker is not worker:
            return  # stopped or replaced while it was starting
        worker.state = "debug"
        self.host.backend.debug_endpoint = worker.endpoint
        asyncio.get_running_loop().create_task(self._watch(worker))

    async def _watch(self, worker: "WorkerProcess") -> None:
        await worker.wait_exited()
        if self.worker is worker:
            self.worker = None
            self.host.backend.debug_endpoint = None
            self._notify(None)

    async def stop(self) -> bool:
        """Stop the debug worker; False if none was running."""
        async with self._lock:
            return await self._stop_current()

    async def _stop_current(self) -> bool:
        worker, self.worker = self.worker, None
        self.host.backend.debug_endpoint = None
        if worker is None or worker.has_exited:
            return False
        # Listeners first: a session disconnects the debugger, so a worker paused at a breakpoint
        # resumes (its request completes) instead of waiting out SIGTERM for a SIGKILL.
        self._notify(None)
        await asyncio.sleep(0)
        await worker.stop(_STOP_SECONDS)
        return True

    async def follow_reload(self) -> None:
        """A new generation went live: move the debug worker onto the new code (listeners re-attach)."""
        async with self._lock:
            if self.worker is None:
                return
            await self._stop_current()
            self.break_at_start = False  # breakpoints are re-applied by the session; no pause at the start again
            try:
                worker = await self._spawn_on_live_generation()
            except DebugUnavailable as exc:
                self.host.events.record("debug-worker-failed", str(exc))
                return
        try:
            await self._until_ready(worker)
        except DebugUnavailable as exc:
            self.host.events.record("debug-worker-failed", str(exc))

    def _notify(self, worker: "WorkerProcess | None") -> None:
        for listener in list(self.listeners):
            listener(worker)
