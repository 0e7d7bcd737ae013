"""The static files' blocking work (open, stat, read, sendfile, close): on the event loop for a local disk, as
nginx does it, and in threads of their own for a folder on a network filesystem.

A network mount that hangs (a frozen NFS server) then holds only the requests for its files, and the threads doing
them: the loop goes on serving every app. A thread costs each small file a hand-off (about 0.7× the small files
per second of the loop, benchmarks/static_files.py), which a local disk is not worth. Daemon threads, not a
ThreadPoolExecutor: the interpreter joins those at exit, and a call stuck in a hung filesystem would then hold up
the master's stop."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable

# Enough for a few slow disks at once; a folder that hangs takes these, and later file requests wait their turn.
THREADS = 4


class FileWork:
    """Owned by a ProxyServer: runs a call in a thread, and its result comes back as a future of the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threads: int = THREADS) -> None:
        self.loop = loop
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple, asyncio.Future]] = queue.SimpleQueue()
        self._threads = threads
        self._started = 0

    def run(self, threaded: bool, call: Callable[..., Any], *args: Any) -> asyncio.Future:
        """`call(*args)`, in a thread if `threaded` (else now); its future's callbacks run on the loop."""
        if not threaded:
            future = self.loop.create_future()
            try:
                future.set_result(call(*args))
            except Exception as exc:  # noqa: BLE001 - handed to the callback, as from a thread
                future.set_exception(exc)
            return future
        if self._started < self._threads:
            self._started += 1
            threading.Thread(target=self._work, name=f"static-files-{self._started}", daemon=True).start()
        future = self.loop.create_future()
        self._calls.put((call, args, future))
        return future

    def _work(self) -> None:
        while True:
            call, args, future = self._calls.get()
            try:
                outcome: tuple[bool, Any] = (True, call(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the loop, which decides
                outcome = (False, exc)
            try:
                self.loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:
                return  # the loop is closed: the master is stopping


def _settle(future: asyncio.Future, outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    succeeded, value = outcome
    if succeeded:
        future.set_result(value)
    else:
        future.set_exception(value)
