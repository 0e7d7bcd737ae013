"""The CLI's side of the control socket: one JSON line out, JSON lines back. No asyncio, imports nothing heavy."""

from __future__ import annotations

import json
import socket
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
