"""MasterDebugControl: the admin debugger's DebugControl over the master's apps, their debug workers and sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pysupervise.config import AdminSettings
from pysupervise.debugger.contract import STATE_EVENT, DebugError, DebugTarget, Deliver, VsCodeAccess, WorkerRef
from pysupervise.debugger.debug_worker import DebugUnavailable
from pysupervise.debugger.gate import PageLink, QuietLink
from pysupervise.debugger.session import DebugSession
from pysupervise.debugger.worker_control import ControlUnavailable
from pysupervise.periodic import BackgroundTasks, TaskErrors

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.worker import WorkerProcess

# The session disconnects first, so SIGTERM finds a running worker; a stuck one gets SIGKILL after this.
_STOP_SECONDS = 2.0
_STACK_SECONDS = 5.0
# The worker answers `listen` within its own bound (worker/control_hook.py LISTEN_SECONDS, 20 s) with the port or
# the reason; this only bounds a wedged worker, and must stay above it.
_LISTEN_SECONDS = 30.0
_INFO_SECONDS = 5.0


class MasterDebugControl:
    """One per master. Reads the live `hosts` mapping (apps come and go with config reloads)."""

    def __init__(self, hosts: dict[str, "AppHost"], settings: AdminSettings, errors: TaskErrors | None = None) -> None:
        self._hosts = hosts
        self._settings = settings
        self._errors = errors or TaskErrors()
        self._sessions: dict[str, DebugSession] = {}
        # Breakpoints outlive a session (a page reload starts a new one) until ?kill.
        self._breakpoints: dict[str, dict[str, dict[str, Any]]] = {}
        self._vscode: dict[str, VsCodeAccess] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._background = BackgroundTasks(self._errors, "debugger")
        self._run = self._background.run
        self._ending: dict[str, asyncio.Task] = {}

    @property
    def idle_timeout(self) -> float:
        return self._settings.debug_idle_timeout

    def _host(self, app: str) -> "AppHost":
        host = self._hosts.get(app)
        if host is None or not host.config.debug:
            raise DebugError(f"no app named {app!r} has the debugger enabled")
        return host

    def _lock(self, app: str) -> asyncio.Lock:
        return self._locks.setdefault(app, asyncio.Lock())

    def target(self, app: str) -> DebugTarget | None:
        host = self._hosts.get(app)
        if host is None or not host.config.debug:
            return None
        module = host.config.app.partition(":")[0] if host.config.app and host.config.command is None else None
        return DebugTarget(app, Path(host.config.dir), module)

    def workers(self, app: str) -> list[WorkerRef]:
        host = self._host(app)
        refs = [_ref(worker, False) for generation in (host.live, *host.draining) if generation is not None
                for worker in generation.all_workers() if not worker.has_exited]
        debug = host.debug.worker
        if debug is not None and not debug.has_exited:
            refs.append(_ref(debug, True))
        return refs

    # -- the debug worker -------------------------------------------------------------------------

    async def start_worker(self, app: str, break_at_start: bool) -> WorkerRef:
        host = self._host(app)
        debug = host.debug
        current = debug.worker
        if current is not None and not current.has_exited and (debug.break_at_start or not break_at_start):
            # Never debug.start() here: a ?brk worker holds its lock until the debugger lets it run.
            return _ref(current, True)
        if not break_at_start:
            try:
                worker = await debug.start()
            except DebugUnavailable as exc:
                raise DebugError(str(exc)) from None
            self._watch_unattended(app, worker)
            return _ref(worker, True)
        # ?brk: the worker only becomes ready after a debugger let it run, so wait for its spawn only.
        spawned: asyncio.Future[WorkerProcess] = asyncio.get_running_loop().create_future()

        def heard(worker: "WorkerProcess | None") -> None:
            if worker is not None and not spawned.done():
                spawned.set_result(worker)

        debug.listeners.append(heard)
        starting = self._run(debug.start(break_at_start=True))
        try:
            await asyncio.wait({spawned, starting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            debug.listeners.remove(heard)
        if not spawned.done():
            exc = starting.exception()
            raise DebugError(str(exc) if exc else "the debug worker did not start")
        self._watch_unattended(app, spawned.result())
        return _ref(spawned.result(), True)

    async def kill(self, app: str) -> bool:
        host = self._host(app)
        async with self._lock(app):
            session = self._sessions.pop(app, None)
            if session is not None:
                await session.close("stopped with ?kill")
            self._breakpoints.pop(app, None)
            self._vscode.pop(app, None)
            stopped = await self._stop_worker(host)
        host.events.record("debug-stopped", running=str(stopped).lower())
        return stopped

    async def _stop_worker(self, host: "AppHost") -> bool:
        """Stop the debug worker. Its own process first: a ?brk worker still waiting for a debugger holds the
        DebugWorker's lock, and only its exit releases it."""
        worker = host.debug.worker
        stopped = worker is not None and not worker.has_exited
        if stopped:
            await worker.stop(_STOP_SECONDS)
        return await host.debug.stop() or stopped

    def _watch_unattended(self, app: str, worker: "WorkerProcess") -> None:
        """A debug worker that no page watches (a GET without its websocket) stops like an idle session."""

        async def watch() -> None:
            await asyncio.sleep(self.idle_timeout)
            host = self._hosts.get(app)
            if (host is not None and host.debug.worker is worker and app not in self._sessions
                    and app not in self._vscode):
                host.events.record("debug-stopped", reason="'no debugger page for debug_idle_timeout'")
                async with self._lock(app):
                    await self._stop_worker(host)

        self._run(watch())

    # -- sessions -----------------------------------------------------------------------------

    async def connect(self, app: str, deliver: Deliver) -> PageLink | QuietLink:
        host = self._host(app)
        ending = self._ending.get(app)
        if ending is not None:
            # A reloaded page: the old page's session is still ending (and stopping its worker); join a new one.
            await asyncio.wait({ending})
        async with self._lock(app):
            if app in self._vscode:
                access = self._vscode[app]
                deliver({"seq": 0, "type": "event", "event": STATE_EVENT, "body": {
                    "state": "vscode", "app": app, "pid": access.pid, "port": access.port,
                    "message": f"VS Code may attach on {access.host}:{access.port}; ?kill ends it"}})
                return QuietLink()
            session = self._sessions.get(app)
            if session is None:
                session = DebugSession(host, self._breakpoints.setdefault(app, {}), self.idle_timeout,
                                       self._finish, self._errors)
                self._sessions[app] = session
                session.begin()
            link = PageLink(session, deliver)
            session.add_page(link)
            return link

    def _finish(self, session: DebugSession, reason: str) -> None:
        """The session ends itself (detach, last page gone, idle): disconnect, then stop the debug worker
        (a traced process stays slower; it must not serve on)."""
        app = session.host.name

        async def finish() -> None:
            async with self._lock(app):
                if self._sessions.get(app) is not session:
                    return
                del self._sessions[app]
                await session.close(reason)
                await self._stop_worker(session.host)

        task = self._run(finish())
        self._ending[app] = task
        task.add_done_callback(lambda _done: self._ending.pop(app, None) if self._ending.get(app) is task else None)

    # -- normal workers -----------------------------------------------------------------------

    async def stack_dump(self, app: str, pid: int) -> str:
        host = self._host(app)
        worker = next((w for w in self._all_workers(host) if w.pid == pid and not w.has_exited), None)
        if worker is None:
            raise DebugError(f"{app!r} has no running worker with pid {pid}")
        if worker.control is None or worker.app.command is not None:
            raise DebugError("this worker runs a `command`: it has no control hook to dump its stacks")
        try:
            answer = await worker.control.request({"cmd": "stacks"}, _STACK_SECONDS)
        except ControlUnavailable as exc:
            raise DebugError(str(exc)) from None
        if not answer.get("ok"):
            raise DebugError(str(answer.get("error")))
        return str(answer.get("text", ""))

    @staticmethod
    def _all_workers(host: "AppHost") -> list["WorkerProcess"]:
        workers = [w for g in (host.live, *host.draining) if g is not None for w in g.all_workers()]
        return workers + ([host.debug.worker] if host.debug.worker is not None else [])

    # -- VS Code --------------------------------------------------------------------------------

    async def hand_to_vscode(self, app: str) -> VsCodeAccess:
        host = self._host(app)
        async with self._lock(app):
            existing = self._vscode.get(app)
            worker = host.debug.worker
            if existing is not None and worker is not None and worker.pid == existing.pid and not worker.has_exited:
                return existing
            # Stale (its worker is gone): forget it first, so _relisten leaves the worker started below to us.
            self._vscode.pop(app, None)
            session = self._sessions.pop(app, None)
            if session is not None:
                await session.close("handed over to VS Code")
            worker = await self._untraced_worker(host)
            try:
                access = await self._listen(host, worker, existing.port if existing is not None else 0)
            except DebugError:
                await self._stop_worker(host)  # a half-started debugger must not keep serving the debug cookie
                raise
            self._vscode[app] = access
            if self._relisten not in host.debug.listeners:
                host.debug.listeners.append(self._relisten)
            return access

    async def _untraced_worker(self, host: "AppHost") -> "WorkerProcess":
        """The running debug worker if no debugger was ever started in it (the page's GET started it), else a
        fresh one: a process that had pydevd cannot listen() as well. Reusing it spares a second start, which
        on a loaded machine is most of the wait."""
        worker = host.debug.worker
        if (worker is not None and not worker.has_exited and worker.endpoint is not None
                and not host.debug.break_at_start and worker.control is not None and worker.app.command is None):
            try:
                info = await worker.control.request({"cmd": "info"}, _INFO_SECONDS)
            except ControlUnavailable:
                info = {}
            if info.get("ok") and info.get("traced") is False and host.debug.worker is worker:
                return worker
        await self._stop_worker(host)
        try:
            return await host.debug.start()
        except DebugUnavailable as exc:
            raise DebugError(str(exc)) from None

    async def _listen(self, host: "AppHost", worker: "WorkerProcess", port: int) -> VsCodeAccess:
        """The worker's answer comes only once its port listens (worker/control_hook.py): hand it out at once."""
        if worker.control is None or worker.app.command is not None:
            raise DebugError("this app runs a `command`: VS Code attach needs `app = \"module:attr\"`")
        try:
            answer = await worker.control.request({"cmd": "listen", "port": port}, _LISTEN_SECONDS)
        except ControlUnavailable as exc:
            raise DebugError(str(exc)) from None
        if not answer.get("ok"):
            raise DebugError(str(answer.get("error")))
        access = VsCodeAccess(str(answer["host"]), int(answer["port"]), worker.pid)
        host.events.record("debug-listen", pid=worker.pid, port=access.port, host=access.host)
        return access

    def _relisten(self, worker: "WorkerProcess | None") -> None:
        """A reload restarted the debug worker while VS Code had it: listen again on the same port."""
        if worker is None:
            return
        host = next((h for h in self._hosts.values() if h.debug.worker is worker), None)
        if host is None or host.name not in self._vscode:
            return
        app = host.name

        async def relisten() -> None:
            # Under the app's lock, checked again: a ?kill or a new opt-in may have come first.
            async with self._lock(app):
                access = self._vscode.get(app)
                if access is None or access.pid == worker.pid or host.debug.worker is not worker:
                    return
                try:
                    self._vscode[app] = await self._listen(host, worker, access.port)
                except DebugError as exc:
                    host.events.record("debug-listen-failed", reason=repr(str(exc)))

        self._run(relisten())

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(session.close("the master is stopping") for session in sessions))



def _ref(worker: "WorkerProcess", debug: bool) -> WorkerRef:
    return WorkerRef(worker.pid, worker.label, worker.generation, worker.slot, worker.state, debug)
