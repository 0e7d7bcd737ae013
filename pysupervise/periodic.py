"""The master's background work: periodic tasks that survive their own errors, counted and logged rate-limited.

Imports nothing of ours, so every part of the master (the proxy too) may use it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, Callable, Hashable

# One kind of error is logged at most this often; the ones in between are counted, and the count is logged
# with the next one: a full disk makes one line a minute, not one per request.
LOG_INTERVAL = 60.0


class RateLimitedLog:
    """Logs a message of one kind at most once per `interval` seconds, saying how many were left out since."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        # kind → [when it may be logged again, how many were left out since it was last logged]
        self._kinds: dict[Hashable, list[Any]] = {}

    def log(self, kind: Hashable, message: str, level: int = logging.ERROR,
            exc_info: BaseException | None = None) -> bool:
        """Log `message` unless this kind was logged less than `interval` ago; True when it was logged."""
        now = self._clock()
        entry = self._kinds.get(kind)
        if entry is not None and now < entry[0]:
            entry[1] += 1
            return False
        left_out = entry[1] if entry is not None else 0
        self._kinds[kind] = [now + self.interval, 0]
        if left_out:
            message += f" ({left_out} more like this in the last {self.interval:g} s were not logged)"
        self.logger.log(level, message, exc_info=exc_info)
        return True


class TaskErrors:
    """Errors of the master's background tasks, by task name: counted (for metrics) and logged rate-limited.

    One per master, handed to every part that runs background work.
    """

    def __init__(self, logger: logging.Logger | None = None, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counts: dict[str, int] = {}
        self.log = RateLimitedLog(logger or logging.getLogger("pysupervise"), interval, clock)

    def register(self, task: str) -> None:
        """Show `task` with 0 errors from now on, so its metric exists before its first error."""
        self.counts.setdefault(task, 0)

    def report(self, task: str, exc: BaseException, what: str = "failed") -> None:
        """Count one error of `task`; log it unless one like it was logged in the last minute."""
        self.counts[task] = self.counts.get(task, 0) + 1
        kind = (task, type(exc), getattr(exc, "errno", None))
        # A traceback helps with a bug; for an OSError (a full disk) the message says it all.
        trace = None if isinstance(exc, OSError) else exc
        problem = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        self.log.log(kind, f"pysupervise: {task}: {what}: {problem}", exc_info=trace)

    def watch(self, task: asyncio.Task, name: str) -> None:
        """Report a one-off background task that ends with an exception (instead of losing it at GC)."""
        self.register(name)

        def done(finished: asyncio.Task) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                self.report(name, finished.exception(), "stopped with an error")

        task.add_done_callback(done)

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


class BackgroundTasks:
    """One owner's one-off tasks: referenced until they end (asyncio keeps only weak references), errors
    reported to `errors` under `name`, and cancelled together when the owner stops."""

    def __init__(self, errors: TaskErrors, name: str) -> None:
        self.errors = errors
        self.name = name
        self.tasks: set[asyncio.Task] = set()

    def run(self, coroutine: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.errors.watch(task, self.name)
        return task

    def cancel_all(self) -> None:
        """Cancel every task but the one running this (an owner may stop from inside one of its tasks)."""
        for task in list(self.tasks):
            if task is not asyncio.current_task():
                task.cancel()


class PeriodicTask:
    """Calls `step()` (plain or async) every `interval` seconds until stopped; a failing step is reported to
    `errors` and the next one runs on time, so nothing periodic dies silently."""

    def __init__(self, name: str, interval: float, step: Callable[[], Any], errors: TaskErrors) -> None:
        self.name = name
        self.interval = interval
        self.step = step
        self.errors = errors
        self._task: asyncio.Task | None = None

    def start(self) -> "PeriodicTask":
        self.errors.register(self.name)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"pysupervise {self.name}")
        return self

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                result = self.step()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # CancelledError is not an Exception: stop() still stops it
                self.errors.report(self.name, exc)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
