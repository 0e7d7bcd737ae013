"""A front process: `python -m pysupervise.proxy.fronts.front_main CHANNEL_FD LISTEN_FD MASTER_PID`, started by
the master's FrontFleet. It accepts on its own SO_REUSEPORT socket (created and bound by the master) and routes
by what the master publishes on the channel; it exits when told to drain, or at once when the master is gone."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
from typing import Any

from pysupervise.periodic import PeriodicTask, TaskErrors
from pysupervise.proxy.fronts.channel import FrameChannel
from pysupervise.proxy.fronts.mirror import RouteMirror
from pysupervise.proxy.fronts.views import HOLD_LIMIT, FrontHello, RoutingSnapshot
from pysupervise.proxy.server import ProxyServer

# How often counts and access-log lines go to the master (only when there is news).
REPORT_INTERVAL = 0.1
_PR_SET_PDEATHSIG = 1


class FrontProcess:
    """Owns this process's proxy, its mirror of the master's routing and its channel to the master."""

    def __init__(self, channel: FrameChannel, listening: socket.socket, errors: TaskErrors) -> None:
        self.channel = channel
        self.listening = listening
        self.errors = errors
        self.proxy: ProxyServer | None = None
        self.mirror: RouteMirror | None = None
        self._reports = PeriodicTask("front-report", REPORT_INTERVAL, self._send_report, errors)

    async def run(self) -> int:
        hello = await self._expect("hello")
        kind, payload = await self._expect("snapshot")
        snapshot, number = payload
        if not isinstance(hello, FrontHello) or not isinstance(snapshot, RoutingSnapshot):
            raise RuntimeError("the master's first messages are not a hello and a snapshot")
        self.proxy = ProxyServer(snapshot.settings, hello.spill_dir, self.errors)
        self.proxy.worker_header = hello.worker_header
        self.proxy.adopt_listening(self.listening, hello.default_host, hello.port)
        self.mirror = RouteMirror(self.proxy, hello, lambda key, dropped: self.channel.send("released", (key, dropped)),
                                  lambda number, key: self.channel.send("ask_diagnostics", (number, key)))
        self.mirror.apply(snapshot, number)
        self._reports.start()
        while True:
            message = await self.channel.receive()
            if message is None:  # the master is gone: so are its workers; nothing here can be finished
                self.proxy.stop_accepting()
                return 1
            if await self._handle(*message):
                return 0

    async def _expect(self, kind: str) -> Any:
        message = await self.channel.receive()
        if message is None or message[0] != kind:
            raise RuntimeError(f"expected {kind!r} from the master, got {message!r:.100}")
        return message if kind == "snapshot" else message[1]

    async def _handle(self, kind: str, payload: Any) -> bool:
        """One message from the master; True once this front has drained and should exit."""
        assert self.proxy is not None and self.mirror is not None
        if kind == "snapshot":
            self.mirror.apply(*payload)
        elif kind == "shares":
            self.mirror.set_shares(*payload)
        elif kind == "away":
            self.mirror.set_away(payload)
        elif kind == "health":
            self.mirror.set_health(*payload)
        elif kind == "close_tunnels":
            key, code, number = payload
            self.mirror.close_tunnels(key, code)
            self.channel.send("confirmed", number)
        elif kind == "hold":  # the fronts switch route tables together (fleet.py switch): stop routing until then
            self.proxy.hold_routing(HOLD_LIMIT)
            self.channel.send("confirmed", payload)
        elif kind == "release":  # the new table came just before this: what waited is routed by it
            self.proxy.release_routing()
            self.channel.send("confirmed", payload)
        elif kind == "ping":  # answered from this loop: the master kills a front whose loop is stuck
            self.channel.send("confirmed", payload)
        elif kind == "diagnostics":
            self.mirror.diagnostics_came(*payload)
        elif kind == "serve":
            self.proxy.serve()
        elif kind == "drain":
            await self.proxy.drain(payload)
            self._reports.stop()
            self._send_report()
            await self.channel.flush()
            return True
        return False

    def _send_report(self) -> None:
        if self.mirror is not None:
            report = self.mirror.report()
            if report is not None:
                self.channel.send("report", report)


def _die_with(master_pid: int) -> None:
    """SIGKILLed with the master, even if the master itself is SIGKILLed (the watchdog also knows this session)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != master_pid:
        os._exit(1)


async def _main(channel_fd: int, listen_fd: int) -> int:
    errors = TaskErrors(None)
    channel = await FrameChannel.over(socket.socket(fileno=channel_fd))
    listening = socket.socket(fileno=listen_fd)
    listening.setblocking(False)
    return await FrontProcess(channel, listening, errors).run()


def main(argv: list[str]) -> int:
    channel_fd, listen_fd, master_pid = (int(arg) for arg in argv[1:4])
    _die_with(master_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when fronts stop
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_main(channel_fd, listen_fd))
    return uvloop.run(_main(channel_fd, listen_fd))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
