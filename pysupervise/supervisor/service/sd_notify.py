"""systemd's notify protocol: READY, STOPPING, STATUS and WATCHDOG datagrams to $NOTIFY_SOCKET, when it is set."""

from __future__ import annotations

import os
import socket
from typing import Mapping

from pysupervise.periodic import PeriodicTask, TaskErrors


class SystemdNotifier:
    """Does nothing outside systemd (no NOTIFY_SOCKET), so the master can call it unconditionally."""

    def __init__(self, environ: Mapping[str, str] | None = None, errors: TaskErrors | None = None) -> None:
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
        # Pinged from the event loop, so a blocked loop stops the pings and systemd restarts us.
        self._watchdog = (PeriodicTask("systemd-watchdog", self.watchdog_interval, lambda: self._send("WATCHDOG=1"),
                                       errors or TaskErrors()) if self.watchdog_interval else None)

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *fields: str) -> None:
        try:
            self._send(*fields)
        except OSError:
            pass  # systemd went away or the socket is gone: nothing useful to do about it here

    def _send(self, *fields: str) -> None:
        """Raises OSError; the watchdog's pings let it reach their task's error count and log."""
        if not self._address:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.sendto("\n".join(fields).encode(), self._address)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
        if self._watchdog is not None:
            self._watchdog.start()

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
        self.send("STOPPING=1", "STATUS=stopping: finishing requests in flight")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
