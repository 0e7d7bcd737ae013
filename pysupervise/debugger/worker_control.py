"""The master's end of a worker's control channel: a socketpair whose other end the worker inherits.

Nothing listens inside a worker (debugger spec): the worker's control thread reads requests from the
inherited end ($PYSUPERVISE_CONTROL_FD) and answers them, e.g. "attach the debugger to this port" or
"dump your stacks". One JSON object per line each way.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

CONTROL_FD_ENV = "PYSUPERVISE_CONTROL_FD"


class ControlUnavailable(Exception):
    """The worker has no control hook (a `command` app, or it exited) or did not answer in time."""


class WorkerControl:
    """Sends one request at a time and reads its answer; a `seq` number pairs them, so an answer that
    arrives after its request was given up (timeout, cancellation) is skipped, never taken for the next."""

    def __init__(self) -> None:
        self._ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ours.setblocking(False)
        self._lock = asyncio.Lock()
        self._buffer = b""
        self._seq = 0

    def child_started(self) -> None:
        """The worker has its copy now; ours of its end must go, so EOF means the worker is gone."""
        self.theirs.close()

    @property
    def busy(self) -> bool:
        """A request is in progress (one at a time): a liveness probe asks again later instead of queueing."""
        return self._lock.locked()

    def answer_waiting(self) -> bool:
        """The worker sent something not read yet: a request given up on (its timeout ran first, as the timers of a
        master that was stopped or starved run before it reads) was answered all the same."""
        if b"\n" in self._buffer:
            return True
        try:
            return bool(self._ours.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    async def request(self, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._seq += 1
            seq = self._seq
            try:
                message = json.dumps({**payload, "seq": seq}).encode() + b"\n"
                await asyncio.wait_for(loop.sock_sendall(self._ours, message), timeout)
                return await asyncio.wait_for(self._answer_to(seq, loop), timeout)
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                raise ControlUnavailable(f"the worker's control hook did not answer: {exc!r}") from None

    async def _answer_to(self, seq: int, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        while True:
            answer = json.loads(await self._read_line(loop))
            if answer.get("seq", seq) == seq:
                answer.pop("seq", None)
                return answer

    async def _read_line(self, loop: asyncio.AbstractEventLoop) -> bytes:
        while b"\n" not in self._buffer:
            chunk = await loop.sock_recv(self._ours, 65536)
            if not chunk:
                raise ControlUnavailable("the worker closed its control channel (no hook, or it exited)")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def close(self) -> None:
        self._ours.close()
        if self.theirs.fileno() >= 0:
            self.theirs.close()
