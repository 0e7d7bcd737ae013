"""A worker's whole process tree dies with it and with the master: orphan adoption, group ends, the watchdog.

Three parts, for three ways a tree could outlive its worker:

- the worker exits (crash, stop, kill, hung): `end_session` SIGTERMs what is left of its process group,
  SIGKILLs it after the grace period, and sweeps its session (members that moved to a group of their own);
- an intermediate process dies while its worker lives: the master is a child subreaper, so the orphan
  becomes the master's child instead of init's; `OrphanReaper.reap` waits for it, or kills it once its
  worker's session is no longer watched;
- the master is SIGKILLed (no code of ours runs): PR_SET_PDEATHSIG reaches only direct children, so a
  watchdog process (`python -m pysupervise.supervisor.reaper`) reads a pipe whose write end only the master
  holds; at EOF it kills every worker session the master told it about, then exits.

Every process the master starts itself starts its own session (`start_new_session=True`), so a child of the
master that is not a session leader can only be an adopted orphan: waiting for it never steals an exit
status that asyncio's child watcher (uvloop's waits pid by pid) is waiting for. An orphan that started a
session of its own is indistinguishable from the master's own children; it is left alone.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from pysupervise.periodic import PeriodicTask, TaskErrors

_PR_SET_CHILD_SUBREAPER = 36
# How often the master looks for adopted orphans (they appear when a process inside a worker's tree dies).
_REAP_INTERVAL = 2.0
_GROUP_POLL = 0.05
# After SIGKILL, how long to wait for the session to be gone before giving up (a process in D state).
_KILL_WAIT = 5.0
_WATCHDOG_EXIT_WAIT = 5.0


class ProcStat(NamedTuple):
    state: str
    ppid: int
    pgid: int
    sid: int


def proc_stat(pid: int) -> ProcStat | None:
    """A process's state, parent, group and session from /proc/<pid>/stat (None: it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces and parentheses.
    fields = data[data.rfind(b")") + 2:].split()
    return ProcStat(fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]))


def processes() -> Iterator[tuple[int, ProcStat]]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat is not None:
                yield int(name), stat


def children_of(pid: int) -> list[int]:
    """The children of `pid`: every thread's list in /proc (an orphan is adopted by any thread of the process),
    or a scan of all of /proc where the kernel has no such lists."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        threads = []
    found: list[int] = []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found += [int(child) for child in handle.read().split()]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended
            return [child for child, stat in processes() if stat.ppid == pid]  # no CONFIG_PROC_CHILDREN
        except OSError:
            continue
    return found


def become_subreaper() -> bool:
    """Orphans of the master's descendants re-parent to the master, not to init (Linux ≥ 3.4)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def kill_session(sid: int, group: bool = True) -> int:
    """SIGKILL the process group `sid` (unless `group` is False: it is known to be empty, and its number could
    be reused) and every process of session `sid` (members that moved to a group of their own)."""
    killed = 0
    if group:
        try:
            os.killpg(sid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    for pid, stat in processes():
        if stat.sid == sid and stat.state != "Z":
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def end_session(sid: int, grace: float, terminate: bool, reap: Callable[[], object] | None = None) -> None:
    """What is left of a worker's tree after its leader exited: SIGTERM (when `terminate`), SIGKILL after
    `grace` seconds, and return once the group is gone (at most `_KILL_WAIT` after the SIGKILL)."""
    loop = asyncio.get_running_loop()
    if terminate:
        try:
            os.killpg(sid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = loop.time() + grace
    while True:
        if reap is not None:
            reap()  # adopted zombies still count as members of the group
        left = group_alive(sid)
        if not left or loop.time() >= deadline:
            break
        await asyncio.sleep(_GROUP_POLL)
    # A scan of all of /proc: in a thread, so the proxy's loop does not wait on it.
    await asyncio.to_thread(kill_session, sid, left)
    deadline = loop.time() + _KILL_WAIT
    while group_alive(sid) and loop.time() < deadline:
        await asyncio.sleep(_GROUP_POLL)
        if reap is not None:
            reap()


class OrphanReaper:
    """The master's side: adopts orphans of worker trees, waits for them, and keeps the watchdog told which
    sessions to kill should the master die without cleaning up."""

    def __init__(self, errors: TaskErrors) -> None:
        self.errors = errors
        self.subreaper = False
        self.reaped = 0
        self._sessions: set[int] = set()
        self._pipe: int | None = None
        self._watchdog: asyncio.subprocess.Process | None = None
        self._task = PeriodicTask("orphan-reaper", _REAP_INTERVAL, self.reap, errors)
        self.errors.register("orphan-watchdog")

    async def start(self) -> None:
        self.subreaper = become_subreaper()
        read_end, self._pipe = os.pipe()  # both non-inheritable: no worker ever holds the write end
        try:
            # Its own session: Ctrl-C on the terminal, or a signal to the master's group, must not end it first.
            # No PDEATHSIG: it exists to outlive the master.
            self._watchdog = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pysupervise.supervisor.reaper", stdin=read_end,
                stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2], start_new_session=True)
        except OSError as exc:
            self.errors.report("orphan-watchdog", exc)
            os.close(self._pipe)
            self._pipe = None
        finally:
            os.close(read_end)
        self._task.start()

    def facts(self) -> dict[str, object]:
        """For `status --json`: whether orphans come to the master, how many it reaped, the watchdog's pid."""
        watchdog = self._watchdog.pid if self._watchdog is not None and self._watchdog.returncode is None else None
        return {"subreaper": self.subreaper, "reaped": self.reaped, "watchdog_pid": watchdog,
                "sessions": len(self._sessions)}

    def watch(self, sid: int) -> None:
        """A worker's session (its pid): killed by the watchdog if the master dies."""
        self._sessions.add(sid)
        self._tell(b"+%d\n" % sid)

    def forget(self, sid: int) -> None:
        """The session is gone; its number may be reused."""
        self._sessions.discard(sid)
        self._tell(b"-%d\n" % sid)

    def reap(self) -> int:
        """Wait for adopted orphans that exited; kill those whose worker's session is no longer watched."""
        master = os.getpid()
        reaped = 0
        for pid in children_of(master):
            stat = proc_stat(pid)
            if stat is None or stat.ppid != master or stat.sid == pid:
                continue  # gone, or a process the master started itself (asyncio waits for those)
            if stat.state == "Z":
                try:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        reaped += 1
                except ChildProcessError:
                    pass
            elif stat.sid not in self._sessions:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.reaped += reaped
        return reaped

    async def end_session(self, sid: int, grace: float, terminate: bool) -> None:
        """`end_session` with adopted orphans reaped, then the session forgotten."""
        try:
            await end_session(sid, grace, terminate, self.reap)
        finally:
            self.forget(sid)

    async def close(self) -> None:
        """After every worker has stopped: the watchdog reads EOF, kills what is still watched, and exits."""
        self._task.stop()
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._watchdog is not None:
            try:
                await asyncio.wait_for(self._watchdog.wait(), _WATCHDOG_EXIT_WAIT)
            except asyncio.TimeoutError:
                self._watchdog.kill()
        self.reap()

    def _tell(self, line: bytes) -> None:
        if self._pipe is None:
            return
        try:
            os.write(self._pipe, line)  # a few bytes, below PIPE_BUF: one atomic write, the watchdog reads at once
        except OSError as exc:  # the watchdog died: the master keeps serving, the error is counted and logged
            self.errors.report("orphan-watchdog", exc)


def watchdog(pipe: int = 0) -> None:
    """The watchdog process: collect sessions from the master's pipe; at EOF (the master is gone) kill them."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    sessions: set[int] = set()
    pending = b""
    while True:
        try:
            chunk = os.read(pipe, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line[:1] == b"+":
                sessions.add(int(line[1:]))
            elif line[:1] == b"-":
                sessions.discard(int(line[1:]))
    for sid in sessions:
        kill_session(sid)


if __name__ == "__main__":
    watchdog()
