"""`python -m debugpy.adapter` as a child of the master, speaking DAP (Content-Length frames) over its stdio."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from typing import Any, Callable

from pysupervise.worker.parent_death import child_setup


class AdapterGone(Exception):
    """The adapter process exited or closed its stdout."""


class DapAdapter:
    """`python -m debugpy.adapter` as a child of the master, speaking DAP (Content-Length frames) over stdio."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.on_event = on_event
        self._process: asyncio.subprocess.Process | None = None
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._expected: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "debugpy.adapter", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=child_setup(os.getpid()))
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> asyncio.Future[dict[str, Any]]:
        """Send a request; the future resolves to the whole response message (check its "success")."""
        future = asyncio.get_running_loop().create_future()
        if self._process is None or self._process.stdin is None or self._reader is None or self._reader.done():
            future.set_exception(AdapterGone("the debug adapter is not running"))
            return future
        seq = next(self._seq)
        self._pending[seq] = future
        data = json.dumps({"seq": seq, "type": "request", "command": command, "arguments": arguments or {}}).encode()
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return future

    def expect_event(self, name: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next event called `name` (ask before the step that causes it)."""
        future = asyncio.get_running_loop().create_future()
        self._expected.setdefault(name, []).append(future)
        return future

    async def _read(self) -> None:
        stdout = self._process.stdout
        try:
            while True:
                head = await stdout.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, StopIteration, ValueError, OSError):
            pass
        finally:
            gone = AdapterGone("the debug adapter exited")
            for future in [*self._pending.values(), *(f for fs in self._expected.values() for f in fs)]:
                if not future.done():
                    future.set_exception(gone)
                    future.exception()  # nobody may be waiting any more; do not warn about it
            self._pending.clear()
            self._expected.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "response":
            waiting = [self._pending.pop(message.get("request_seq", -1), None)]
        else:
            waiting = self._expected.pop(message.get("event", ""), [])
            self.on_event(message)
        for future in waiting:
            if future is not None and not future.done():
                future.set_result(message)

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.stdin.close()  # the adapter ends with its client
        try:
            await asyncio.wait_for(process.wait(), 2.0)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
