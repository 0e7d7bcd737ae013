"""Decides which workers are hung, by liveness: a ping that never goes through the app's handlers.

An `app` worker is pinged on its control channel, which its own thread answers (worker/control_hook.py) with
how long its event loop has been overdue for a heartbeat. It is hung when that loop has not run for
`hang_timeout`, or when the control thread itself has not answered for `hang_timeout` (SIGSTOP, a wedged
process). A slow handler on a running loop is not a hang: the client gets its 504, the worker keeps serving.
A `command` worker has no control thread: it is hung only when every request on it is overdue and requests
sent after it went silent get no response head either (`Endpoint.unresponsive`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pysupervise.debugger.worker_control import ControlUnavailable
from pysupervise.periodic import PeriodicTask, TaskErrors

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.worker import WorkerProcess

PROBE_INTERVAL = 1.0
# A ping is answered in microseconds by a live control thread; this only bounds a stopped one.
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class HangVerdict:
    """Why a worker was judged hung, for events.log: what was probed, the rule it broke, and evidence."""

    probe: str
    reason: str
    evidence: str = ""


class LivenessProbe:
    """One per app: probes the live generation's ready workers every PROBE_INTERVAL, all at once."""

    def __init__(self, host: "AppHost", errors: TaskErrors) -> None:
        self.host = host
        self.errors = errors
        self.name = f"liveness:{host.name}"
        # When each worker last proved itself alive (loop time); a worker seen for the first time starts now.
        self._last_alive: dict["WorkerProcess", float] = {}
        # Judged hung and killed: not judged again while its exit is on its way.
        self._judged: set["WorkerProcess"] = set()
        self._task = PeriodicTask(self.name, PROBE_INTERVAL, self.probe_all, errors)

    def start(self) -> "LivenessProbe":
        self._task.start()
        return self

    def stop(self) -> None:
        self._task.stop()

    async def probe_all(self) -> None:
        host = self.host
        generation = host.live
        if generation is None or host.state != "running":
            self._last_alive.clear()
            return
        now = asyncio.get_running_loop().time()
        workers = [w for w in generation.workers.values()
                   if w.state == "ready" and w.endpoint is not None and not w.stopping]
        self._judged &= set(workers)
        workers = [w for w in workers if w not in self._judged]
        self._last_alive = {w: self._last_alive.get(w, now) for w in workers}
        verdicts = await asyncio.gather(*(self.probe(w) for w in workers), return_exceptions=True)
        for worker, verdict in zip(workers, verdicts):
            if isinstance(verdict, BaseException):
                self.errors.report(self.name, verdict)
            elif verdict is not None and generation is host.live and not worker.stopping and not worker.has_exited:
                self._judged.add(worker)
                host.worker_hung(generation, worker, verdict)

    async def probe(self, worker: "WorkerProcess") -> HangVerdict | None:
        """None while the worker is alive; a verdict once it is hung."""
        endpoint = worker.endpoint
        if worker.app.command is not None:
            if endpoint is not None and endpoint.unresponsive:
                return HangVerdict(
                    "requests (a `command` worker has no control channel)",
                    f"every request on it is overdue: requests sent after one timed out also got no response head "
                    f"within upstream_timeout = {worker.app.upstream_timeout:g} s; nothing answered for "
                    f"{asyncio.get_running_loop().time() - endpoint.last_progress:.1f} s", worker.stderr_tail(20))
            return None
        control, limit = worker.control, worker.app.hang_timeout
        if control is None:
            return None
        if control.busy:
            return None  # a debugger's request holds the channel (with its own timeout): no evidence either way
        try:
            answer = await control.request({"cmd": "ping", "stack_after": limit}, timeout=min(PROBE_TIMEOUT, limit))
        except ControlUnavailable:
            if control.answer_waiting():
                # It answered: the master, stopped or starved past the timeout, ran its timers before it read.
                self._last_alive[worker] = asyncio.get_running_loop().time()
                return None
            answer = None
        now = asyncio.get_running_loop().time()
        if answer is not None and answer.get("ok"):
            self._last_alive[worker] = now
            stalled = answer.get("loop_stalled_for")
            if isinstance(stalled, (int, float)) and stalled >= limit:
                return HangVerdict("control ping (answered by the worker's control thread)",
                                   f"its event loop has not run for {stalled:.1f} s (hang_timeout = {limit:g} s); "
                                   f"the main thread is stuck in:", str(answer.get("stack", "")))
            return None
        silent = now - self._last_alive.get(worker, now)
        if silent >= limit:
            return HangVerdict("control ping", f"its control thread has not answered for {silent:.1f} s "
                                               f"(hang_timeout = {limit:g} s): the process is stopped or wedged",
                               worker.stderr_tail(20))
        return None
