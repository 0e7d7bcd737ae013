"""The worker's end of its control channel: a daemon thread that answers liveness pings, dumps stacks and attaches
the debugger on request.

Nothing listens inside a worker (debugger spec). The master writes one JSON request per line on the
socket inherited as $PYSUPERVISE_CONTROL_FD; this thread answers each with one JSON line. It runs
off the event-loop thread, because `debugpy.connect` blocks until the debugger's handshake ends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Callable

from pysupervise.worker.heartbeat import LoopHeartbeat
from pysupervise.worker.tcp_listening import wait_listening

# Spelled here again: the runtime imports nothing from the master's side (DESIGN §2).
CONTROL_FD_ENV = "PYSUPERVISE_CONTROL_FD"
# An idle event loop sits in epoll, where a debugger's `pause` cannot reach it (debugger spec): a no-op
# signal this often makes the main thread run Python code. SIGURG is ignored by default, so nothing else notices.
WAKE_SECONDS = 0.25
WAKE_SIGNAL = signal.SIGURG
# A runaway dump (thousands of threads) must still fit in one control line the master reads.
MAX_DUMP_CHARS = 512 * 1024
# The VS Code opt-in answers within this (importing debugpy on a loaded machine takes seconds), else says why;
# the master waits longer for the answer (debugger/control.py), so the user gets this reason, not a timeout.
LISTEN_SECONDS = 20.0


@dataclass(frozen=True)
class EntryPoint:
    """The app module's first executable line: where `?brk` stops."""

    path: str
    line: int


def find_entry(app_spec: str) -> EntryPoint | None:
    """The first line of the module named in `app = "module:attr"`, without running the module itself
    (its parent packages are imported by find_spec)."""
    module_name = app_spec.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as handle:
            code = compile(handle.read(), spec.origin, "exec")
    except (OSError, SyntaxError, ValueError):
        return None
    lines = [line for _start, _end, line in code.co_lines() if line]
    return EntryPoint(os.path.realpath(spec.origin), min(lines) if lines else 1)


def format_stacks() -> str:
    """Every thread's stack, innermost call last, as `traceback` prints them; nothing is stopped."""
    names = {thread.ident: thread for thread in threading.enumerate()}
    parts = [f"pid {os.getpid()} at {time.strftime('%H:%M:%S')} · threads: {len(sys._current_frames()) - 1} "
             "(not counting pysupervise's control thread)\n"]
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue  # this control thread, busy writing the dump
        thread = names.get(ident)
        label = thread.name if thread is not None else "unknown"
        marks = [mark for mark, on in (("main", thread is threading.main_thread()),
                                       ("daemon", thread is not None and thread.daemon)) if on]
        parts.append(f"\nThread {label} (id {ident}{', ' + ', '.join(marks) if marks else ''}):\n")
        parts.append("".join(traceback.format_stack(frame)))
    text = "".join(parts)
    return text if len(text) <= MAX_DUMP_CHARS else text[:MAX_DUMP_CHARS] + "\n… (cut)\n"


def main_thread_stack() -> str:
    """Where the main thread (the one running the event loop) is now: what a stalled loop is stuck in."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    return "".join(traceback.format_stack(frame)) if frame is not None else ""


def _hide_from_debugger(thread: threading.Thread) -> None:
    # pydevd's own marks: never traced, never suspended with "all threads", not listed to the user.
    # The control thread must keep answering while the app is paused at a breakpoint.
    thread.pydev_do_not_trace = True  # type: ignore[attr-defined]
    thread.is_pydev_daemon_thread = True  # type: ignore[attr-defined]


class ControlHook:
    """One per worker. `debug` (the debug worker only) allows attach and listen; any worker answers pings and
    dumps its stacks."""

    def __init__(self, channel: socket.socket, debug: bool, entry: EntryPoint | None) -> None:
        self.channel = channel
        self.debug = debug
        self.entry = entry
        # Started by the runtime on the app's event loop once it runs (worker/serve.py).
        self.heartbeat = LoopHeartbeat()
        # How the app is served, once loaded: {"interface": ..., "threads": ...} (worker/__main__.py).
        self.served: dict[str, Any] | None = None
        self.attached = threading.Event()
        self._main_ident = threading.main_thread().ident
        self._debugger_started = False
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ping": self._ping, "info": self._info, "stacks": self._stacks,
            "attach": self._attach, "listen": self._listen,
        }

    def start(self) -> None:
        if self.debug:
            # Installed from the main thread (only it may); the handler only has to exist.
            signal.signal(WAKE_SIGNAL, lambda _signum, _frame: None)
        thread = threading.Thread(target=self._serve, name="pysupervise-control", daemon=True)
        _hide_from_debugger(thread)
        thread.start()

    def wait_for_debugger(self) -> None:
        """`?brk`: block the main thread until the master's debugger has attached and set its breakpoints."""
        print("pysupervise worker: waiting for the debugger before importing the app (?brk)", flush=True)
        self.attached.wait()

    # -- the control thread -------------------------------------------------------------------

    def _serve(self) -> None:
        for line in self.channel.makefile("rb"):
            try:
                request = json.loads(line)
                handler = self._handlers.get(request.get("cmd")) if isinstance(request, dict) else None
                answer = handler(request) if handler else {"ok": False, "error": f"unknown request {line[:80]!r}"}
            except Exception as exc:  # one bad request must not end the channel
                request, answer = None, {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
            if isinstance(request, dict) and "seq" in request:
                answer["seq"] = request["seq"]  # lets the master skip answers to requests it gave up on
            try:
                self.channel.sendall(json.dumps(answer).encode() + b"\n")
            except OSError:
                return  # the master is gone; the worker dies with it anyway

    def _info(self, _request: dict[str, Any]) -> dict[str, Any]:
        # traced: pydevd was started here once (attach or listen); such a process cannot take another debugger.
        return {"ok": True, "pid": os.getpid(), "debug": self.debug, "attached": self.attached.is_set(),
                "traced": self._debugger_started,
                "entry": asdict(self.entry) if self.entry and not self.attached.is_set() else None,
                "served": self.served}

    def _ping(self, request: dict[str, Any]) -> dict[str, Any]:
        """The master's liveness probe: answered from this thread, so it never waits for the app's handlers.

        Reports how long the event loop has been overdue for its heartbeat (None before it runs), and where the
        main thread is stuck once that passes the master's `stack_after` seconds.
        """
        stalled = self.heartbeat.stalled_for()
        answer: dict[str, Any] = {"ok": True, "pid": os.getpid(), "loop_stalled_for": stalled}
        stack_after = request.get("stack_after")
        if stalled is not None and isinstance(stack_after, (int, float)) and stalled >= stack_after:
            answer["stack"] = main_thread_stack()[-MAX_DUMP_CHARS // 8:]
        return answer

    def _stacks(self, _request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid(), "text": format_stacks()}

    def _start_debugger(self, request: dict[str, Any]) -> tuple[Any, int] | dict[str, Any]:
        if not self.debug:
            return {"ok": False, "error": "only the debug worker takes a debugger (normal workers stay untraced)"}
        if self._debugger_started:
            return {"ok": False, "error": "this process already had a debugger; start a new debug worker"}
        port = request.get("port")
        if not isinstance(port, int) or not 0 <= port < 65536:
            return {"ok": False, "error": "port must be an integer"}
        # Before debugpy is imported: our frozen stdlib is fine, and the warning would land in the app's log.
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        import debugpy

        self._debugger_started = True
        return debugpy, port

    def _attach(self, request: dict[str, Any]) -> dict[str, Any]:
        """Connect out to the master's adapter on loopback; returns once the debugger has configured us."""
        started = self._start_debugger(request)
        if isinstance(started, dict):
            return started
        debugpy, port = started
        debugpy.connect(("127.0.0.1", port))
        self.attached.set()
        self._start_waking()
        return {"ok": True, "pid": os.getpid()}

    def _listen(self, request: dict[str, Any]) -> dict[str, Any]:
        """The VS Code opt-in: a debugpy listener on a loopback port, only when the page asks for it.

        Answers only once the port is in LISTEN state, so the user's first connect is never refused.
        """
        started = self._start_debugger(request)
        if isinstance(started, dict):
            return started
        debugpy, port = started
        deadline = time.monotonic() + LISTEN_SECONDS
        endpoint = _listen_in_process(debugpy, ("127.0.0.1", port), LISTEN_SECONDS)
        if isinstance(endpoint, str):
            return {"ok": False, "error": endpoint}
        host, bound = endpoint
        # pydevd reports its port once bound, and calls listen() on it a moment later in its own thread.
        if not wait_listening(host, bound, deadline):
            return {"ok": False, "error": f"debugpy bound {host}:{bound} but did not listen on it within "
                                          f"{LISTEN_SECONDS:g} s"}
        self.attached.set()
        self._start_waking()
        return {"ok": True, "pid": os.getpid(), "host": host, "port": bound}

    def _start_waking(self) -> None:
        thread = threading.Thread(target=self._wake_main_thread, name="pysupervise-debug-wake", daemon=True)
        _hide_from_debugger(thread)
        thread.start()

    def _wake_main_thread(self) -> None:
        while True:
            time.sleep(WAKE_SECONDS)
            try:
                signal.pthread_kill(self._main_ident, WAKE_SIGNAL)
            except (OSError, ProcessLookupError):
                return


def _listen_in_process(debugpy: Any, address: tuple[str, int], seconds: float) -> tuple[str, int] | str:
    """debugpy.listen with pydevd itself listening, in a thread bounded by `seconds`; the endpoint, or why not.

    In process, because debugpy's default adapter process daemonizes (setsid, then a double fork) out of this
    worker's session: the master's orphan reaper kills such an adopted orphan within seconds
    (supervisor/reaper.py), which closed the port under VS Code, or before it was even handed out. Here the
    listener lives and dies with the debug worker. In a thread, because pydevd waits without a bound for its
    listening thread to bind: a port taken meanwhile must not wedge the control thread.
    """
    outcome: dict[str, Any] = {}

    def listen() -> None:
        try:
            outcome["endpoint"] = debugpy.listen(address, in_process_debug_adapter=True)
        except Exception as exc:  # reported to the master as the reason
            outcome["error"] = f"debugpy could not listen on {address[0]}:{address[1]}: {exc.__class__.__name__}: {exc}"

    thread = threading.Thread(target=listen, name="pysupervise-debug-listen", daemon=True)
    _hide_from_debugger(thread)
    thread.start()
    thread.join(seconds)
    if "endpoint" in outcome:
        host, port = outcome["endpoint"]
        return str(host), int(port)
    return outcome.get("error", f"debugpy did not listen on {address[0]}:{address[1]} within {seconds:g} s "
                                "(is the port taken?)")


def start_control_hook(app_spec: str) -> ControlHook | None:
    """The hook on $PYSUPERVISE_CONTROL_FD, started; None when the master gave this process no channel."""
    fd = os.environ.get(CONTROL_FD_ENV, "")
    if not fd.isdigit():
        return None
    try:
        channel = socket.socket(fileno=int(fd))
    except OSError:
        return None
    os.set_inheritable(channel.fileno(), False)  # the app's own child processes must not talk to the master
    debug = os.environ.get("PYSUPERVISE_DEBUG") == "1"
    breaking = debug and os.environ.get("PYSUPERVISE_DEBUG_BREAK") == "1"
    hook = ControlHook(channel, debug, find_entry(app_spec) if breaking else None)
    hook.start()
    return hook
