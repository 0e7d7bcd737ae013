"""The CLI's side of the control socket: one JSON line out, JSON lines back. No asyncio, imports nothing heavy."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator


class NotRunning(Exception):
    """No master answers on this control socket."""


class ControlClient:
    def __init__(self, socket_path: Path, timeout: float | None = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise NotRunning(f"pysupervise is not running (no master answers on {self.socket_path})") from None
        return sock

    def stream(self, command: str, **args: Any) -> Iterator[dict[str, Any]]:
        """Send one command and yield each reply line until the master closes the connection."""
        sock = self._connect()
        with sock, sock.makefile("rb") as replies:
            sock.sendall(json.dumps({"cmd": command, **args}).encode() + b"\n")
            for line in replies:
                yield json.loads(line)

    def call(self, command: str, **args: Any) -> dict[str, Any]:
        for reply in self.stream(command, **args):
            return reply
        raise NotRunning("the master closed the control connection without answering")


def wait_exited(pid: int, timeout: float) -> bool:
    """Whether process `pid` is gone (or a zombie: exited, not yet reaped by its parent) within `timeout` s.

    A master says "stopped" just before it closes its control socket, releases its pidfile and exits: `stop`
    waits for that, so `pysupervise stop && pysupervise start` never finds the old master still there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                if stat.read().rpartition(b")")[2].split()[0] == b"Z":
                    return True
        except FileNotFoundError:
            return True
        except OSError:  # no /proc: ask the kernel whether the pid still exists
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
        time.sleep(0.02)
    return False
