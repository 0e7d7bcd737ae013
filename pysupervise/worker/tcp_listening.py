"""Whether a local TCP address is in LISTEN state, read from /proc/net/tcp: a check that never connects to it.

A connect would be a real client to whatever listens there (for pydevd: a debugger session that opens and
closes), so the VS Code opt-in asks the kernel instead before it hands the port out.
"""

from __future__ import annotations

import socket
import sys
import time

_PROC_NET_TCP = "/proc/net/tcp"
_LISTEN_STATE = "0A"  # TCP_LISTEN in the kernel's hex state column
_POLL_SECONDS = 0.02


def tcp_listening(host: str, port: int) -> bool | None:
    """True when an IPv4 socket bound to host:port listens; None where the kernel does not say (no /proc)."""
    # The kernel prints the address as the 32-bit word in host memory order, the port as a plain number.
    wanted = "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), sys.byteorder), port)
    try:
        with open(_PROC_NET_TCP, encoding="ascii") as table:
            next(table, None)  # the header line
            return any(fields[1] == wanted and fields[3] == _LISTEN_STATE
                       for fields in (line.split() for line in table) if len(fields) > 3)
    except OSError:
        return None


def wait_listening(host: str, port: int, deadline: float) -> bool:
    """Poll until host:port listens (True, also where that cannot be told) or `deadline` (time.monotonic) passes."""
    while True:
        listening = tcp_listening(host, port)
        if listening is None or listening:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
