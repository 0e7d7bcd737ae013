"""The master's other front processes: started, told every routing change, heard from, restarted when they die,
drained with the site."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pysupervise.periodic import PeriodicTask, TaskErrors
from pysupervise.proxy.fronts.channel import FrameChannel
from pysupervise.proxy.fronts.confirmations import Confirmations
from pysupervise.proxy.fronts.publisher import RoutingPublisher
from pysupervise.proxy.fronts.report_merge import FrontLevels, merge_report, stalled_in_two_fronts
from pysupervise.proxy.fronts.slot_balance import balanced_shares, even_share, safe_shares
from pysupervise.proxy.fronts.home_balance import HomeBalance
from pysupervise.proxy.fronts.views import HOLD_LIMIT, FrontHello, FrontReport, RoutingSnapshot

if TYPE_CHECKING:
    from pysupervise.proxy.server import ProxyServer

# A safety net under the change hooks: routing and health are compared this often and sent when they differ.
_CHECK_INTERVAL = 0.1
# A front that died is started again after this long (doubling while it keeps dying, up to the maximum).
_RESTART_DELAY, _RESTART_DELAY_MAX = 0.5, 10.0
# How long a worker's kill waits for the fronts to confirm they closed its tunnels (with close frames).
_CLOSE_CONFIRM_WAIT = 1.0
# A switch of route tables (`switch`): how long the master waits for each front to stop routing, and then to route
# by the new table (views.HOLD_LIMIT: the longest any front holds its new requests).
_SWITCH_WAIT = 1.0
# How often each front is pinged: one that leaves pings unanswered for [proxy] front_hang_timeout is hung (its
# event loop blocked or stopped, its clients waiting forever) and is killed, so that it is started again.
_PING_INTERVAL = 1.0
FLEET = "proxy-fronts"


class FrontHandle:
    """One front process as the master sees it: its socket, process, channel and last reported levels."""

    def __init__(self, index: int, listening: socket.socket) -> None:
        self.index = index
        self.listening = listening
        self.process: asyncio.subprocess.Process | None = None
        self.channel: FrameChannel | None = None
        self.sent: RoutingSnapshot | None = None
        self.health: tuple[int, bytes] | None = None
        self.levels = FrontLevels()
        # Per worker key, what was last sent: this front's share of its slots (an even split until then), and the
        # requests the other fronts have in flight there; the message that carried it, and the last share the
        # front confirmed applying (fronts/slot_balance.py safe_shares).
        self.shares: dict[int, tuple[int, int]] = {}
        self.share_numbers: dict[int, int] = {}
        self.confirmed: dict[int, int] = {}
        self.starts = 0
        self.pinged = False  # a ping is out, not yet answered
        # When the last ping went out, and when the front was last heard from (time.monotonic()).
        self.pinged_at = 0.0
        self.heard_at = 0.0


    def may_use(self, key: int, initial: int) -> int:
        """The most slots of worker `key` this front may be using: its share, or a larger one it has not yet
        confirmed giving up."""
        sent = self.shares.get(key, (initial, 0))[0]
        return max(sent, self.confirmed.get(key, initial))

    def shares_applied(self, number: int) -> None:
        for key, sent_in in self.share_numbers.items():
            if sent_in <= number:
                self.confirmed[key] = self.shares[key][0]


class FrontFleet:
    """Fronts 1..count-1 (the master's own proxy is front 0)."""

    def __init__(self, proxy: "ProxyServer", count: int, errors: TaskErrors, hello: Callable[[int], FrontHello],
                 health: Callable[[], tuple[int, bytes]] | None, watch_session: Callable[[int], None],
                 forget_session: Callable[[int], None]) -> None:
        self.proxy = proxy
        self.count = count
        self.errors = errors
        self.publisher = RoutingPublisher(proxy, count, self.changed, self.close_tunnels)
        self._hello = hello
        self._health = health
        self._watch_session = watch_session
        self._forget_session = forget_session
        self.fronts = [FrontHandle(i, proxy.listening_twin()) for i in range(1, count)]
        self.closed_for_room = 0
        self.spill_failures = 0
        self._snapshot_number = 0
        self._publish_scheduled = False
        self._serving = False
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        # Tunnel closings and route-table switches sent and not yet confirmed by every front.
        self._confirmations = Confirmations()
        # One switch at a time: a second one's hold must not be ended by the first one's release.
        self._switching = asyncio.Lock()
        self._shares_number = 0
        self._homes = HomeBalance(count)
        self._check = PeriodicTask(FLEET, _CHECK_INTERVAL, self._check_now, errors)
        self._pings = PeriodicTask(FLEET, _PING_INTERVAL, self._ping, errors)

    # -- starting -----------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.gather(*(self._start_front(front) for front in self.fronts))
        self._check.start()
        self._pings.start()

    async def _start_front(self, front: FrontHandle) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            front.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pysupervise.proxy.fronts.front_main", str(theirs.fileno()),
                str(front.listening.fileno()), str(os.getpid()), pass_fds=(theirs.fileno(), front.listening.fileno()),
                cwd=Path(__file__).resolve().parents[3], start_new_session=True)
        finally:
            theirs.close()
        front.starts += 1
        self._watch_session(front.process.pid)
        front.channel = await FrameChannel.over(ours)
        front.channel.send("hello", self._hello(front.index))
        front.sent = front.health = None
        front.shares, front.share_numbers, front.confirmed = {}, {}, {}
        self._homes.front_started(front.index)
        front.pinged = False
        self._send_routing(front, self.publisher.snapshot())
        if self._serving:
            front.channel.send("serve")
        self._spawn(self._listen(front, front.channel, front.process))

    def serve(self) -> None:
        self._serving = True
        for front in self.fronts:
            if front.channel is not None:
                front.channel.send("serve")

    # -- routing changes ----------------------------------------------------------------------

    def changed(self) -> None:
        """Something the fronts route by changed: publish at the end of this loop turn (once for many changes)."""
        if not self._publish_scheduled and not self._stopping:
            self._publish_scheduled = True
            asyncio.get_running_loop().call_soon(self.publish)

    def _check_now(self) -> None:
        self.publish()
        self.rebalance()
        self._homes.balance(self.publisher.backends, self.fronts, time.monotonic())

    def publish(self) -> None:
        self._publish_scheduled = False
        snapshot = self.publisher.snapshot()
        health = self._health() if self._health is not None else None
        for front in self.fronts:
            if front.channel is None:
                continue
            if snapshot.farewells or _without_farewells(snapshot) != front.sent:
                self._send_routing(front, snapshot)
            if health is not None and health != front.health:
                front.health = health
                front.channel.send("health", health)

    def _send_routing(self, front: FrontHandle, snapshot: RoutingSnapshot) -> None:
        assert front.channel is not None
        self._snapshot_number += 1
        front.sent = _without_farewells(snapshot)
        front.channel.send("snapshot", (snapshot, self._snapshot_number))
        self.publisher.sent(front.index, snapshot, self._snapshot_number)

    def close_tunnels(self, key: int, code: int, then: Callable[[], None] | None) -> None:
        """Every front closes its tunnels to worker `key` now; `then` runs once all have said so, or after
        _CLOSE_CONFIRM_WAIT (a stuck front must not keep a hung worker alive)."""
        live = self._live()
        number, closed = self._confirmations.ask((front.index for front in live), _CLOSE_CONFIRM_WAIT)
        for front in live:
            front.channel.send("close_tunnels", (key, code, number))
        if then is not None:
            closed.add_done_callback(lambda _closed: then())

    async def switch(self, change: Callable[[], object]) -> list[int]:
        """Run `change`, which gives the master's proxy a new route table (a swap, a reload), so that every front
        switches with it in one step: first each front stops routing new requests (they wait, a round trip's
        time), then `change` runs here, the fronts get the new table and route what waited by it. So once any
        client has an answer from the new table, no request sent after that gets one from the old table, in
        any front. Returns the fronts that did not confirm in time (stuck ones, which switch when they wake)."""
        async with self._switching:
            fronts = self._live()
            asked_at = time.monotonic()
            self.proxy.hold_routing(HOLD_LIMIT)
            number, holding = self._confirmations.ask((front.index for front in fronts), _SWITCH_WAIT)
            for front in fronts:
                front.channel.send("hold", number)
            try:
                late = await holding
                change()
            finally:
                self.publish()
                self.proxy.release_routing()
                fronts = self._live()
                number, switched = self._confirmations.ask((front.index for front in fronts), _SWITCH_WAIT)
                for front in fronts:
                    front.channel.send("release", number)
            late = sorted(index for index in {*late, *await switched} if not self._spoke_since(index, asked_at))
            if late:
                logging.getLogger("pysupervise").warning(
                    "front process(es) %s did not confirm a switch of routes within %.1f s; each switches as soon "
                    "as it runs again", ", ".join(map(str, late)), _SWITCH_WAIT)
            return late

    def _spoke_since(self, index: int, since: float) -> bool:
        """Front `index` said something since `since` (read, or waiting to be read): its loop ran, so a confirmation
        that came too late for a wait was the master's delay (stopped or starved), not the front's."""
        front = self.fronts[index - 1]
        return front.heard_at >= since or (front.channel is not None and front.channel.has_unread())

    def _ping(self) -> None:
        """Each front answers from its event loop; one silent for front_hang_timeout is killed (and restarted)."""
        for front in self._live():
            if front.pinged:
                continue
            front.pinged = True
            front.pinged_at = time.monotonic()
            process = front.process
            number, answered = self._confirmations.ask([front.index], self.proxy.settings.front_hang_timeout)
            front.channel.send("ping", number)
            answered.add_done_callback(lambda done, front=front, process=process: self._pinged(front, process, done))

    def _pinged(self, front: FrontHandle, process: asyncio.subprocess.Process | None,
                answered: "asyncio.Future[list[int]]") -> None:
        if front.process is not process:
            return  # restarted meanwhile: the new process has pings of its own
        front.pinged = False
        # The master stalled, not the front, if the front spoke since the ping: read just before this deadline's
        # timer ran, too late for the ping's wait (a stall in a task's step: the loop reads before its timers run),
        # or still waiting in the socket (a stall that ends with the timers, which run before the loop reads).
        if self._spoke_since(front.index, front.pinged_at):
            return
        if answered.result() and process is not None and process.returncode is None and not self._stopping:
            self.errors.report(FLEET, RuntimeError(
                f"front process {front.index} (pid {process.pid}) answered no ping for "
                f"{self.proxy.settings.front_hang_timeout:g} s (its event loop is blocked or stopped): killed"))
            process.kill()  # its channel closes, and _listen starts it again on the socket the master kept

    def _live(self) -> list[FrontHandle]:
        return [front for front in self.fronts if front.channel is not None]

    # -- hearing from fronts ------------------------------------------------------------------

    async def _listen(self, front: FrontHandle, channel: FrameChannel, process: asyncio.subprocess.Process) -> None:
        while True:
            message = await channel.receive()
            if message is None:
                break
            front.heard_at = time.monotonic()
            kind, payload = message
            if kind == "report" and isinstance(payload, FrontReport):
                self._merge(front, payload)
            elif kind == "confirmed":
                self._confirmations.confirmed(payload, front.index)
            elif kind == "ask_diagnostics":
                number, key = payload
                channel.send("diagnostics", (number, self.publisher.stderr_of(key)))
            elif kind == "released":
                key, dropped_in = payload
                front.levels.in_flight.pop(key, None)
                self.publisher.released(front.index, key, dropped_in)
                self._recount_in_flight(key)
        channel.close()
        returncode = await process.wait()
        self._forget_session(process.pid)
        front.channel = None
        front.levels = FrontLevels()
        self.publisher.front_gone(front.index)
        self._confirmations.front_gone(front.index)
        if not self._stopping:
            self.errors.report(FLEET, RuntimeError(f"front process {front.index} (pid {process.pid}) exited with "
                                                   f"{returncode}; starting it again"))
            await asyncio.sleep(min(_RESTART_DELAY * 2 ** min(front.starts - 1, 5), _RESTART_DELAY_MAX))
            if not self._stopping:
                await self._start_front(front)

    def _merge(self, front: FrontHandle, report: FrontReport) -> None:
        front.shares_applied(report.shares_applied)
        merge_report(report, front.levels, self.publisher, [f.levels for f in self.fronts])
        self.closed_for_room += report.closed_for_room
        self.spill_failures += report.spill_failures
        for task, count in report.task_errors.items():
            self.errors.counts[task] = self.errors.counts.get(task, 0) + count
        self.rebalance()

    def rebalance(self) -> None:
        """Move free worker slots to the fronts where requests wait (proxy/fronts/slot_balance.py)."""
        publisher = self.publisher
        changed: dict[int, dict[int, int]] = {}
        for key, app in publisher.apps_of.items():
            endpoint = publisher.endpoint(key)
            backend = publisher.backends.get(app)
            if endpoint is None or backend is None or not endpoint.alive:
                continue
            if stalled_in_two_fronts(endpoint, key, [f.levels for f in self.fronts]):
                endpoint.unresponsive = True
            in_flight = [endpoint.in_flight, *(f.levels.in_flight.get(key, 0) for f in self.fronts)]
            queued = [len(backend.dispatcher.queue), *(f.levels.queue_lengths.get(app, 0) for f in self.fronts)]
            slots = endpoint.worker_slots
            targets = balanced_shares(slots, in_flight, queued)
            caps = [endpoint.capacity, *(f.may_use(key, even_share(slots, f.index, self.count)) for f in self.fronts)]
            shares = safe_shares(slots, targets, caps, in_flight, [True, *(False for _ in self.fronts)])
            if shares[0] != endpoint.capacity:
                endpoint.capacity = shares[0]
                backend.dispatcher.serve_queue()
            total = sum(in_flight)
            for front, share, own in zip(self.fronts, shares[1:], in_flight[1:]):
                level = (share, total - own)
                if front.shares.get(key) != level and front.channel is not None:
                    front.shares[key] = level
                    changed.setdefault(front.index, {})[key] = level
        for front in self.fronts:
            if front.index in changed and front.channel is not None:
                self._shares_number += 1
                for key in changed[front.index]:
                    front.share_numbers[key] = self._shares_number
                front.channel.send("shares", (self._shares_number, changed[front.index]))

    def _recount_in_flight(self, key: int) -> None:
        endpoint = self.publisher.endpoint(key)
        if endpoint is not None:
            endpoint.in_flight_elsewhere = sum(f.levels.in_flight.get(key, 0) for f in self.fronts)

    def facts(self) -> dict[str, Any]:
        """Summed over the other fronts, for `status` (the master adds its own proxy's)."""
        live = [f for f in self.fronts if f.channel is not None]
        return {"connections": sum(f.levels.connections for f in live),
                "idle_connections": sum(f.levels.idle_connections for f in live),
                "parked_connections": sum(f.levels.parked_connections for f in live),
                "buffered_in_memory": sum(f.levels.buffered_in_memory for f in live),
                "read_ahead_requests": sum(f.levels.read_ahead_requests for f in live),
                "closed_for_room": self.closed_for_room, "spill_failures": self.spill_failures,
                "fronts": [{"index": f.index, "pid": f.process.pid if f.process is not None else None,
                            "alive": f.channel is not None, "starts": f.starts} for f in self.fronts],
                "home_balance": self._homes.last}

    # -- stopping -----------------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Every front finishes what it has in flight (up to `timeout`) and exits; killed if it does not."""
        self._stopping = True
        self._check.stop()
        self._pings.stop()
        for front in self.fronts:
            if front.channel is not None:
                front.channel.send("drain", timeout)
        await asyncio.gather(*(self._wait_exit(front, timeout + 5) for front in self.fronts))
        for task in list(self._tasks):
            await asyncio.wait([task], timeout=1)
        for front in self.fronts:
            front.listening.close()

    async def _wait_exit(self, front: FrontHandle, timeout: float) -> None:
        process = front.process
        if process is None or process.returncode is not None:
            return
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except asyncio.TimeoutError:
            logging.getLogger("pysupervise").error("front process %d did not drain in time: killed", front.index)
            process.kill()
            await process.wait()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self.errors.report(FLEET, finished.exception())

        task.add_done_callback(done)


def _without_farewells(snapshot: RoutingSnapshot) -> RoutingSnapshot:
    if not snapshot.farewells:
        return snapshot
    return RoutingSnapshot(snapshot.settings, snapshot.backends, snapshot.routes, snapshot.admin_prefixes)
