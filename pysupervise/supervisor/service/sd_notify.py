"""systemd's notify protocol: READY, STOPPING, STATUS and WATCHDOG datagrams to $NOTIFY_SOCKET, when it is set."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Mapping


class SystemdNotifier:
    """Does nothing outside systemd (no NOTIFY_SOCKET), so the master can call it unconditionally."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is Linux's abstract namespace, spelled with a leading NUL on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        watchdog_usec = environ.get("WATCHDOG_USEC", "")
        watchdog_pid = environ.get("WATCHDOG_PID", "")
        applies_to_us = not watchdog_pid or watchdog_pid == str(os.getpid())
        # Ping at half the interval systemd waits, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval = (int(watchdog_usec) / 2_000_000
                                  if watchdog_usec.isdigit() and applies_to_us else None)
        self._watchdog: asyncio.Task | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *fields: str) -> None:
        if not self._address:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError:
            pass  # systemd went away or the socket is gone: nothing useful to do about it here

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
        if self.watchdog_interval:
            self._watchdog = asyncio.get_running_loop().create_task(self._ping())

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.send("STOPPING=1", "STATUS=stopping: finishing requests in flight")

    async def _ping(self) -> None:
        # Sent from the event loop, so a blocked loop stops the pings and systemd restarts us.
        while True:
            await asyncio.sleep(self.watchdog_interval)
            self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
