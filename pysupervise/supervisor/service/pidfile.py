"""run_dir/pysupervise.pid, locked for the master's lifetime: one master per run_dir, stale files replaced."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(Exception):
    """Another master holds the pidfile of this run_dir."""


class PidFile:
    """The lock (flock) is the truth: the kernel drops it when the master dies, however it dies, so a
    leftover file never blocks a start; the pid inside is for people and for `kill`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        # Set by acquire() when it replaced a file left behind by a master that died.
        self.replaced_stale_pid: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(f"another pysupervise master (pid {other}) is already running with run_dir "
                                 f"{self.path.parent}; stop it first (pysupervise stop)") from None
        previous = _read_pid(fd)
        if previous and previous != os.getpid():
            self.replaced_stale_pid = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)  # closing drops the lock
        self._fd = None


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def read_pid(path: Path) -> int | None:
    """The pid recorded in a pidfile, if any (it may be stale)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
