"""One app's browser debug session: a debugpy adapter child per debug worker, the pages it serves, its breakpoints.

The master writes `attach` itself (the adapter listens on loopback, the worker's control thread
connects out); pages relay only allow-listed requests. A restarted debug worker gets a fresh
adapter and the session's breakpoints again.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from pysupervise.debugger.adapter import AdapterGone, DapAdapter
from pysupervise.debugger.contract import STATE_EVENT, Deliver
from pysupervise.debugger.debug_worker import DebugUnavailable
from pysupervise.debugger.worker_control import ControlUnavailable
from pysupervise.periodic import BackgroundTasks, TaskErrors

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost
    from pysupervise.supervisor.worker import WorkerProcess

# Each step of the handshake answers in well under a second; these only bound a broken one.
_STEP_SECONDS = 15.0
_DISCONNECT_SECONDS = 2.0
# The adapter's own bookkeeping (its internal ports, every imported module): nothing for the page.
_QUIET_EVENTS = frozenset({"debugpySockets", "debugpyWaitingForServer", "module", "process"})
# Written by the master, never by the page. "listen": the worker connects out (debugpy.connect).
_ATTACH_ARGUMENTS = {"listen": {"host": "127.0.0.1", "port": 0}, "justMyCode": True, "redirectOutput": True,
                     "showReturnValue": True, "subProcess": False}


class PageSeat(Protocol):
    """A page watching the session (gate.PageLink)."""

    deliver: Deliver


class DebugSession:
    """States: starting → attaching → attached (⇄ attaching after a restart; waiting while no worker) → ended."""

    def __init__(self, host: "AppHost", breakpoints: dict[str, dict[str, Any]], idle_timeout: float,
                 finish: Callable[["DebugSession", str], None], errors: TaskErrors | None = None) -> None:
        self.host = host
        self._errors = errors or TaskErrors()
        self.breakpoints = breakpoints  # source path → the page's last setBreakpoints arguments for it
        self.idle_timeout = idle_timeout
        self._finish = finish
        self.links: list[PageSeat] = []
        self.state, self.message = "starting", ""
        self.worker: WorkerProcess | None = None
        self.adapter: DapAdapter | None = None
        self.stopped: dict[str, Any] | None = None  # the last "stopped" event's body while paused
        self._attached_pid: int | None = None
        self.verified: dict[str, list[Any]] = {}
        self.last_activity = time.monotonic()
        self._background = BackgroundTasks(self._errors, "debugger")
        self._run = self._background.run
        self._attach_task: asyncio.Task | None = None

    # -- lifetime -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Attach to the running debug worker, or start one; follow its restarts from now on."""
        self.host.debug.listeners.append(self._worker_changed)
        self._run(self._begin())
        self._run(self._watch_idle())

    async def _begin(self) -> None:
        worker = self.host.debug.worker
        if worker is not None and not worker.has_exited:
            self._follow(worker)
            return
        self._announce("starting", "starting the debug worker")
        # Shielded: closing the session must not cancel a start half way (the controller stops the worker).
        starting = asyncio.ensure_future(self.host.debug.start())  # its spawn calls _worker_changed: attach
        starting.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            await asyncio.shield(starting)
        except DebugUnavailable as exc:
            self._announce("failed", str(exc))

    def add_page(self, link: "PageSeat") -> None:
        self.links.append(link)
        link.deliver(self._state_event())

    def page_left(self, link: "PageSeat") -> None:
        if link in self.links:
            self.links.remove(link)
            if not self.links and self.state != "ended":
                self._finish(self, "the last debugger page was closed")

    async def close(self, reason: str) -> None:
        """Disconnect so the worker runs on (it never stays paused), then tell every page the session ended."""
        if self.state == "ended":
            return
        self.state, self.message = "ended", reason
        if self._worker_changed in self.host.debug.listeners:
            self.host.debug.listeners.remove(self._worker_changed)
        self._background.cancel_all()
        await self._drop_adapter(reason, disconnect=True)
        for link in list(self.links):
            link.deliver(self._state_event())
            link.deliver(None)
        self.links.clear()

    async def _watch_idle(self) -> None:
        while self.state != "ended":
            if self.state in ("starting", "attaching"):
                self.touch()  # a slow start (a busy machine) is not idleness: it counts once a debugger works
            left = self.last_activity + self.idle_timeout - time.monotonic()
            if left <= 0:
                self._finish(self, f"no activity for {self.idle_timeout:g} s (debug_idle_timeout)")
                return
            await asyncio.sleep(left)

    # -- following the debug worker -------------------------------------------------------------

    def _worker_changed(self, worker: "WorkerProcess | None") -> None:
        if self.state != "ended" and (worker is None or worker is not self.worker):
            self._follow(worker)

    def _follow(self, worker: "WorkerProcess | None") -> None:
        """One follow step at a time: a newer worker (or its absence) cancels the step for the older one."""
        if self._attach_task is not None:
            self._attach_task.cancel()
        self.worker = worker
        self._attach_task = self._run(self._attach(worker) if worker is not None else self._worker_gone())

    async def _worker_gone(self) -> None:
        await self._drop_adapter("the debug worker stopped")
        self._announce("waiting", "the debug worker stopped; a new one is attached when it starts")

    async def _attach(self, worker: "WorkerProcess") -> None:
        await self._drop_adapter("the debug worker was replaced")
        self._announce("attaching", f"attaching to the debug worker (pid {worker.pid})")
        adapter = DapAdapter(self._adapter_event)
        self.adapter = adapter
        try:
            port = await self._handshake(adapter, worker)
        except (AdapterGone, ControlUnavailable, asyncio.TimeoutError, AttachRefused) as exc:
            await self._drop_adapter("the attach failed")
            reason = str(exc) or exc.__class__.__name__
            if worker.control is None or worker.app.command is not None:
                reason = "the app runs a `command`; the debugger needs `app = \"module:attr\"`"
            self.host.events.record("debug-attach-failed", reason=repr(reason), pid=worker.pid)
            self._announce("failed", f"could not attach to the debug worker: {reason}")
            return
        self._attached_pid = worker.pid
        self.touch()  # idle time counts from a working debugger, not from a slow start
        self.host.events.record("debug-attach", pid=worker.pid, generation=worker.generation, port=port)
        self._announce("attached", f"attached to pid {worker.pid} (generation {worker.generation})")

    async def _handshake(self, adapter: DapAdapter, worker: "WorkerProcess") -> int:
        control = worker.control
        if control is None:
            raise AttachRefused("the debug worker has no control channel")
        await adapter.start()
        await _ok(adapter.request("initialize", {
            "clientID": "pysupervise", "clientName": "pysupervise", "adapterID": "debugpy", "pathFormat": "path",
            "linesStartAt1": True, "columnsStartAt1": True, "supportsVariableType": True}))
        waiting, initialized = adapter.expect_event("debugpyWaitingForServer"), adapter.expect_event("initialized")
        process = adapter.expect_event("process")
        attached = adapter.request("attach", _ATTACH_ARGUMENTS)
        port = int((await asyncio.wait_for(waiting, _STEP_SECONDS))["body"]["port"])
        info = await control.request({"cmd": "info"}, _STEP_SECONDS)
        # Returns only after configurationDone: the worker's control thread sits in debugpy.connect until then.
        connect = asyncio.ensure_future(control.request({"cmd": "attach", "port": port}, 60.0))
        try:
            done, _ = await asyncio.wait({initialized, connect}, timeout=_STEP_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
            if initialized not in done:
                raise AttachRefused(_refusal(connect) if connect in done else "the worker did not connect in time")
            await self._set_breakpoints(adapter, info.get("entry"))
            await _ok(adapter.request("setExceptionBreakpoints", {"filters": ["uncaught"]}))
            await _ok(adapter.request("configurationDone"))
            await _ok(attached)
            answer = await asyncio.wait_for(connect, _STEP_SECONDS)
        finally:
            if not connect.done():
                connect.cancel()
        if not answer.get("ok"):
            raise AttachRefused(answer.get("error", "the worker refused"))
        # The adapter's port took the first process that connected: make sure it was our worker.
        pid = (await asyncio.wait_for(process, _STEP_SECONDS))["body"].get("systemProcessId")
        if pid != worker.pid:
            raise AttachRefused(f"pid {pid} connected instead of the debug worker (pid {worker.pid})")
        return port

    async def _set_breakpoints(self, adapter: DapAdapter, entry: dict[str, Any] | None) -> None:
        """The session's breakpoints, plus (for ?brk) one at the app module's first line that is not kept."""
        wanted = copy.deepcopy(self.breakpoints)
        if entry:
            args = wanted.setdefault(entry["path"], {"source": {"path": entry["path"]}, "breakpoints": []})
            if not any(b.get("line") == entry["line"] for b in args["breakpoints"]):
                args["breakpoints"].append({"line": entry["line"]})
        for path, args in wanted.items():
            answer = await _ok(adapter.request("setBreakpoints", args))
            self.verified[path] = answer.get("body", {}).get("breakpoints", [])

    async def _drop_adapter(self, reason: str, disconnect: bool = False) -> None:
        adapter, self.adapter = self.adapter, None
        self.stopped = None
        if self._attached_pid is not None:
            self.host.events.record("debug-detach", pid=self._attached_pid, reason=repr(reason))
            self._attached_pid = None
        if adapter is None:
            return
        if disconnect:
            try:  # the worker resumes and runs on without a debugger
                await asyncio.wait_for(adapter.request("disconnect", {"terminateDebuggee": False}),
                                       _DISCONNECT_SECONDS)
            except (AdapterGone, asyncio.TimeoutError):
                pass
        await asyncio.shield(adapter.close())  # a cancelled follow step must not leave the child running

    # -- messages -------------------------------------------------------------------------------

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def finish(self, reason: str) -> None:
        self._finish(self, reason)

    async def forward(self, command: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """An allow-listed, checked request from a page, sent to the adapter; the adapter's response message."""
        if command == "setBreakpoints":
            self.breakpoints[arguments["source"]["path"]] = arguments  # kept for restarts and later pages
        adapter = self.adapter
        if self.state != "attached" or adapter is None:
            if command == "setBreakpoints":  # set when the worker attaches
                unverified = [{"verified": False, "line": b["line"]} for b in arguments["breakpoints"]]
                return {"type": "response", "command": command, "success": True, "body": {"breakpoints": unverified}}
            return {"type": "response", "command": command, "success": False,
                    "message": f"the debugger is not attached ({self.state})"}
        try:
            answer = await adapter.request(command, arguments)
        except AdapterGone as exc:
            return {"type": "response", "command": command, "success": False, "message": str(exc)}
        if command == "setBreakpoints" and answer.get("success"):
            self.verified[arguments["source"]["path"]] = answer.get("body", {}).get("breakpoints", [])
        return answer

    def _adapter_event(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "stopped":
            self.stopped = event.get("body")
        elif name == "continued":
            self.stopped = None
        elif name in _QUIET_EVENTS or (name == "output" and (event.get("body") or {}).get("category") == "telemetry"):
            return
        for link in list(self.links):
            link.deliver(event)

    def _state_event(self) -> dict[str, Any]:
        worker = self.worker
        return {"seq": 0, "type": "event", "event": STATE_EVENT, "body": {
            "state": self.state, "message": self.message, "app": self.host.name,
            "pid": worker.pid if worker is not None else None,
            "generation": worker.generation if worker is not None else None,
            "breakpoints": self.breakpoints, "verified": self.verified, "stopped": self.stopped,
            "idle_timeout": self.idle_timeout}}

    def _announce(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        event = self._state_event()
        for link in list(self.links):
            link.deliver(event)



class AttachRefused(Exception):
    """The handshake failed in a way the page should hear about."""


async def _ok(pending: "asyncio.Future[dict[str, Any]]") -> dict[str, Any]:
    answer = await asyncio.wait_for(pending, _STEP_SECONDS)
    if not answer.get("success"):
        raise AttachRefused(f"the adapter refused {answer.get('command')}: {answer.get('message', '')}")
    return answer


def _refusal(connect: "asyncio.Future[dict[str, Any]]") -> str:
    if connect.cancelled():
        return "cancelled"
    exc = connect.exception()
    return str(exc) if exc is not None else str(connect.result().get("error", "the worker refused"))
