"""One worker process: spawned with the worker contract, ready when it answers HTTP, stopped gently."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from pysupervise.config import AppConfig
from pysupervise.debugger.worker_control import CONTROL_FD_ENV, ControlUnavailable, WorkerControl
from pysupervise.logs.app_logs import AppLogs
from pysupervise.logs.capture import OutputCapture
from pysupervise.logs.events import EventLog
from pysupervise.proxy import Endpoint
from pysupervise.supervisor.interpreter import AppPython
from pysupervise.supervisor.readiness import ProbeResult, probe
from pysupervise.supervisor.reaper import OrphanReaper, end_session
from pysupervise.supervisor.spawn import spawn_spec, worker_setup

_READY_POLL_INTERVAL = 0.02
# Readiness probes (ready_path): each attempt's own limit, and the pause between attempts (doubling).
_PROBE_ATTEMPT_TIMEOUT = 5.0
_PROBE_PAUSE_FIRST = 0.05
_PROBE_PAUSE_MAX = 0.5
# A probe attempt that ends this much past its own limit was held up by the master, not by the worker.
_STALL_SLACK = 1.0
# After the process exits, how long its pipes may stay open (a grandchild holding them) before we stop reading.
_PIPE_DRAIN_SECONDS = 2.0
# The runtime's control thread answers `info` at once; this only bounds a wedged one.
INFO_TIMEOUT = 5.0


class WorkerStartError(Exception):
    """A worker did not become ready; `output` holds the end of its stderr."""

    def __init__(self, reason: str, output: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.output = output


class WorkerProcess:
    """States: starting → ready → (draining →) stopping → exited; `exited` resolves once, pipes drained."""

    def __init__(self, app: AppConfig, generation: int, slot: int, socket_path: Path, logs: AppLogs,
                 shared_env: dict[str, str], events: EventLog, extra_env: dict[str, str] | None = None,
                 label: str | None = None, reaper: OrphanReaper | None = None,
                 python: AppPython | None = None) -> None:
        self.app = app
        self.python = python  # the app's own interpreter, checked by its generation (`python = ...`)
        self.generation = generation
        self.slot = slot
        self.socket_path = socket_path
        self.logs = logs
        self.shared_env = shared_env
        self.extra_env = extra_env or {}
        self._label = label
        # Told of this worker's session, so that its whole tree dies with it and with the master.
        self.reaper = reaper
        self._ending: asyncio.Task | None = None
        self.events = events
        self.control: WorkerControl | None = None
        self._ps: psutil.Process | None = None
        self.state = "new"
        self.pid = 0
        self.started_at = 0.0
        self.ready_at = 0.0
        self.returncode: int | None = None
        self.endpoint: Endpoint | None = None
        self.stopping = False
        # A successor is being started (max_requests / max_memory); do not start a second one.
        self.recycling = False
        self._process: asyncio.subprocess.Process | None = None
        self._captures: list[OutputCapture] = []
        self._capture_tasks: list[asyncio.Task] = []
        self._exited: asyncio.Future[int] | None = None
        self._probe_outcome = ""

    @property
    def label(self) -> str:
        return self._label or f"{self.app.name}/{self.generation}/{self.slot}"

    # -- starting -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn and wait until it is ready; raises WorkerStartError (and cleans up) if it never is."""
        await self.spawn()
        await self.wait_ready(self.app.start_timeout)

    async def spawn(self) -> None:
        """Start the process and its output capture (not waiting for readiness)."""
        loop = asyncio.get_running_loop()
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._unlink_socket()
        control = WorkerControl()
        spec = spawn_spec(self.app, self.generation, self.slot, self.socket_path, self.shared_env,
                          {**self.extra_env, CONTROL_FD_ENV: str(control.theirs.fileno())}, self.python)
        self.state = "starting"
        self.started_at = time.time()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *spec.argv, cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=worker_setup(self.app, os.getpid()), pass_fds=(control.theirs.fileno(),))
        except OSError as exc:
            control.close()
            self.state = "exited"
            raise WorkerStartError(f"cannot start {spec.argv[0]!r}: {exc}", "") from None
        control.child_started()
        self.control = control
        self.pid = self._process.pid
        if self.reaper is not None:
            self.reaper.watch(self.pid)  # its own session: the session id is its pid
        self._record("worker-spawned")
        for stream, reader in (("stdout", self._process.stdout), ("stderr", self._process.stderr)):
            log = self.logs.open_stream(self.slot, self.pid, stream, self.generation)
            self._captures.append(OutputCapture(reader, log, errors=self.logs.errors))
        self._capture_tasks = [loop.create_task(capture.run()) for capture in self._captures]
        self._exited = loop.create_future()
        loop.create_task(self._watch_exit())

    async def wait_ready(self, timeout: float | None) -> None:
        """Until the socket accepts and, with a ready_path, answers it below 500 (None: no deadline).

        On failure the worker is killed and WorkerStartError raised.
        """
        try:
            await self._wait_ready(timeout)
        except WorkerStartError:
            await self.kill()
            raise
        slots = await self._request_slots()
        self.state = "ready"
        self.ready_at = time.time()
        probed = {"probe": repr(self._probe_outcome)} if self._probe_outcome else {}
        self._record("worker-ready", seconds=f"{self.ready_at - self.started_at:.2f}", **probed)
        self.endpoint = Endpoint(self.label, str(self.socket_path), slots,
                                 slot=self.slot, diagnostics=self.stderr_tail)

    async def _request_slots(self) -> int:
        """max_concurrent_requests. Its "auto" depends on whether the app is WSGI, which for `interface = "auto"`
        only the runtime knows once it has loaded the app: it says so in its answer to `info`."""
        if self.app.max_concurrent_requests is not None or self.app.interface != "auto" or self.app.command \
                or self.control is None:
            return self.app.request_slots()
        try:
            answer = await asyncio.wait_for(self.control.request({"cmd": "info"}), INFO_TIMEOUT)
        except (ControlUnavailable, asyncio.TimeoutError):
            answer = {}  # it exited, or its control thread is wedged: the event-loop default
        served = answer.get("served") if isinstance(answer.get("served"), dict) else {}
        return self.app.request_slots(served.get("interface"))

    def cpu_percent(self) -> float | None:
        """CPU use since the previous call (psutil keeps the last reading per Process object)."""
        try:
            if self._ps is None:
                self._ps = psutil.Process(self.pid)
            return self._ps.cpu_percent(None)
        except psutil.Error:
            return None

    async def _wait_ready(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else float("inf")
        while True:
            if self._exited.done():
                probed = f"; readiness probe GET {self.app.ready_path}: its socket never accepted" \
                    if self.app.ready_path else ""
                raise WorkerStartError(f"worker {self.label} exited during startup ({self.describe_exit()}){probed}",
                                       self.stderr_tail())
            if await self._socket_accepts():
                break
            if loop.time() >= deadline:
                raise WorkerStartError(
                    f"worker {self.label} did not accept connections on its socket ($PORT) within "
                    f"{timeout:g} s (start_timeout)", self.stderr_tail())
            await asyncio.wait([self._exited], timeout=_READY_POLL_INTERVAL)
        if self.app.ready_path:
            await self._wait_answers(self.app.ready_path, deadline, timeout)

    async def _wait_answers(self, path: str, deadline: float, timeout: float | None) -> None:
        """Probe `path` until it answers below 500; the worker exiting or the deadline passing fails the start.

        A server may accept on its socket long before its app can answer (gunicorn binds, then its
        workers import the app), so accepting alone would let a broken save take the traffic.
        """
        loop = asyncio.get_running_loop()
        host = self.app.host or urlsplit(self.shared_env.get("PYSUPERVISE_URL", "")).netloc or "localhost"
        last: ProbeResult | None = None
        pause = _PROBE_PAUSE_FIRST
        while True:
            limit = max(min(_PROBE_ATTEMPT_TIMEOUT, deadline - loop.time()), 0.05)
            started = loop.time()
            attempt = loop.create_task(probe(str(self.socket_path), path, host, limit))
            try:
                await asyncio.wait([attempt, self._exited], return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not attempt.done():
                    attempt.cancel()
                    await asyncio.wait([attempt])
            if loop.time() - started > limit + _STALL_SLACK:
                # The attempt outlived its own limit: the master was stopped or starved, and its timers ran before
                # it read (an answer may wait unread). It proves nothing: the worker gets another attempt as long.
                deadline = max(deadline, loop.time() + limit)
            if not attempt.cancelled():
                result = attempt.result()
                if result.ready:
                    self._probe_outcome = result.outcome
                    return
                if last is None or result.outcome != last.outcome:
                    self._record("worker-not-ready", probe=repr(result.outcome))
                last = result
            seen = f"last readiness probe: {last.outcome}" if last else f"readiness probe GET {path}: no answer yet"
            if self._exited.done():
                raise WorkerStartError(f"worker {self.label} exited during startup ({self.describe_exit()}); {seen}",
                                       self.stderr_tail())
            if loop.time() >= deadline:
                raise WorkerStartError(f"worker {self.label} did not answer GET {path} below 500 within "
                                       f"{timeout:g} s (start_timeout, ready_path); {seen}", self.stderr_tail())
            await asyncio.wait([self._exited], timeout=min(pause, max(deadline - loop.time(), 0)))
            pause = min(pause * 2, _PROBE_PAUSE_MAX)

    async def _socket_accepts(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, str(self.socket_path))
            return True
        except OSError:
            return False
        finally:
            sock.close()

    # -- exiting ------------------------------------------------------------------------------

    async def _watch_exit(self) -> None:
        returncode = await self._process.wait()
        self.returncode = returncode
        if not self.stopping:
            # It exited by itself (or was killed as hung): what it started gets the graceful period, as at a stop.
            self._ending = asyncio.get_running_loop().create_task(
                self._end_session(self.app.graceful_timeout, terminate=True))
        await self._pipes_drained()
        self.state = "exited"
        if self.endpoint is not None:
            self.endpoint.retire()
        self._unlink_socket()
        if self.control is not None:
            self.control.close()
        self._record("worker-exited", status=repr(self.describe_exit()), expected=str(self.stopping).lower())
        self._exited.set_result(returncode)

    async def _pipes_drained(self) -> None:
        pending = [task for task in self._capture_tasks if not task.done()]
        if pending:
            _done, stuck = await asyncio.wait(pending, timeout=_PIPE_DRAIN_SECONDS)
            for task in stuck:
                task.cancel()

    async def wait_exited(self) -> int:
        assert self._exited is not None
        return await asyncio.shield(self._exited)

    @property
    def has_exited(self) -> bool:
        return self._exited is not None and self._exited.done()

    def describe_exit(self) -> str:
        code = self._process.returncode if self._process else self.returncode
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def stderr_tail(self, lines: int = 50) -> str:
        return self._captures[1].tail_lines(lines) if len(self._captures) > 1 else ""

    # -- stopping -----------------------------------------------------------------------------

    def signal(self, signum: int, whole_group: bool = True) -> None:
        """Signal the worker's whole process group (a `command` may have started children), or the worker alone."""
        if self._process is None or self.has_exited:
            return
        try:
            if whole_group:
                os.killpg(self.pid, signum)
            else:
                self._process.send_signal(signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            self._process.send_signal(signum)

    async def stop(self, timeout: float) -> None:
        """SIGTERM the worker, then what is left of its process group once it has exited; SIGKILL after `timeout`
        seconds what is left of its session (systemd's KillMode=mixed, which gunicorn's deployment guide asks for).

        The worker's own children get no SIGTERM from us while it runs: a server with workers of its own (gunicorn,
        granian, uvicorn --workers) stops them itself, in order, and granian reports a worker that a SIGTERM of ours
        stopped first as a crash (it exits 1). A shell that started its server without `exec` dies at the SIGTERM
        without passing it on; its server is then what is left, and gets its own."""
        self.stopping = True
        if self.endpoint is not None:
            self.endpoint.retire()
        if self._exited is None:
            return
        if self.has_exited:
            await self._end_session(timeout, terminate=False)  # what a crash left may still be ending
            return
        self.state = "stopping"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.signal(signal.SIGTERM, whole_group=False)
        try:
            await asyncio.wait_for(self.wait_exited(), timeout)
        except asyncio.TimeoutError:
            pass
        # The leader is gone, or its time is up: a child it started (a shell's python) finishes its work until the
        # deadline.
        await self._end_session(max(deadline - loop.time(), 0.0), terminate=True)
        await self.wait_exited()

    async def kill(self) -> None:
        self.stopping = True
        if self._exited is None:
            return
        self.signal(signal.SIGKILL)
        await self.wait_exited()
        await self._end_session(0.0, terminate=False)

    async def _end_session(self, grace: float, terminate: bool) -> None:
        """What is left of its tree: SIGTERM (when `terminate`), SIGKILL after `grace`, adopted orphans reaped."""
        if self.reaper is not None:
            await self.reaper.end_session(self.pid, grace, terminate)
        else:
            await end_session(self.pid, grace, terminate)

    def _record(self, event: str, **fields: object) -> None:
        self.events.record(event, generation=self.generation, slot=self.slot, pid=self.pid, **fields)

    def _unlink_socket(self) -> None:
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
